#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Announce one DNS-SD service from port 5353 as a device with its own responder does:

    mdns_device.py INTERFACE TYPE NAME PORT HOST ADDRESS [--ptr-first SECONDS] [--question]
                   [--goodbye] [--ipv6] [TXT...]

Sends, in one mDNS response on INTERFACE over IPv4 (224.0.0.251), the answers
"TYPE.local PTR NAME.TYPE.local" (TTL 4500 s), its SRV record (HOST.local, PORT; 120 s), its
TXT record (4500 s) and "HOST.local A ADDRESS" (120 s), the last three with the cache-flush bit.
--ptr-first SECONDS: the PTR record in a response of its own, SECONDS (at most 5) before the
others, as a responder whose datagram ends with a PTR record sends the rest in the next one.
--question: the response also carries a question ("TYPE.local PTR"), which avahi-daemon 0.8
drops whole (avahi-core/server.c). --goodbye: the same records with TTL 0 (RFC 6762 section
10.1). --ipv6: over IPv6 only (ff02::fb), with "HOST.local AAAA ADDRESS" instead, as a host
without IPv4 does. Binds port 5353 beside the host's responder (SO_REUSEADDR).
"""
import socket
import struct
import sys
import time

from mdns_ptr import encode_name, open_sender

CACHE_FLUSH = 0x8000


def record(owner, rtype, ttl, rdata, flush):
    return owner + struct.pack("!HHIH", rtype, 1 | (CACHE_FLUSH if flush else 0), ttl,
                               len(rdata)) + rdata


def response(records, question=None):
    out = struct.pack("!6H", 0, 0x8400, 1 if question else 0, len(records), 0, 0)
    if question:
        out += question + struct.pack("!HH", 12, 1)
    return out + b"".join(records)


def main():
    args = sys.argv[1:]
    ptr_first, question, goodbye, ipv6 = None, False, False, False
    if "--question" in args:
        args.remove("--question")
        question = True
    if "--goodbye" in args:
        args.remove("--goodbye")
        goodbye = True
    if "--ipv6" in args:
        args.remove("--ipv6")
        ipv6 = True
    if "--ptr-first" in args:
        i = args.index("--ptr-first")
        ptr_first = float(args[i + 1])
        if not 0 < ptr_first <= 5:
            sys.exit("--ptr-first: 0 to 5 seconds")
        del args[i:i + 2]
    if len(args) < 6:
        sys.exit(__doc__)
    interface = socket.if_nametoindex(args[0])
    type_labels = [label.encode() for label in args[1].split(".")] + [b"local"]
    instance = encode_name([args[2].encode()] + type_labels)
    port = int(args[3])
    host = encode_name([args[4].encode(), b"local"])
    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    address = socket.inet_pton(family, args[5])
    txt = b"".join(bytes([len(s.encode())]) + s.encode() for s in args[6:]) or b"\0"
    owner = encode_name(type_labels)

    def ttl(t):
        return 0 if goodbye else t

    ptr = record(owner, 12, ttl(4500), instance, False)
    rest = [record(instance, 33, ttl(120), struct.pack("!HHH", 0, 0, port) + host, True),
            record(instance, 16, ttl(4500), txt, True),
            record(host, 28 if ipv6 else 1, ttl(120), address, True)]
    sender, to = open_sender(family, interface)
    if ptr_first is not None:
        sender.sendto(response([ptr], owner if question else None), to)
        time.sleep(ptr_first)
        sender.sendto(response(rest, owner if question else None), to)
    else:
        sender.sendto(response([ptr] + rest, owner if question else None), to)
    sender.close()
    print("sent")


if __name__ == "__main__":
    main()
