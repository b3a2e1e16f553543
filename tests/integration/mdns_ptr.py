#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Announce DNS-SD PTR records from port 5353, as a device on the link does:

    mdns_ptr.py INTERFACE TYPE NAME ENCODING [COUNT]

Sends "TYPE.local PTR NAME.TYPE.local" (TTL 4500 s) in one mDNS response on INTERFACE, to
224.0.0.251 and to ff02::fb, with NAME encoded in ENCODING (for instance latin-1, as some
older devices do). With COUNT (at most 20,000), announces COUNT names instead, NAME-00001 and
on, 20 to a response, one response per family every 2 ms (a host announcing names it makes
up), for at most 30 s. Binds port 5353 beside the host's responder (SO_REUSEADDR).
"""
import socket
import struct
import sys
import time

PER_MESSAGE, MAX_COUNT, MAX_SECONDS = 20, 20_000, 30

PORT = 5353


def encode_name(labels):
    out = b""
    for label in labels:
        if not 0 < len(label) < 64:
            sys.exit(f"label of {len(label)} bytes")
        out += bytes([len(label)]) + label
    return out + b"\0"


def open_sender(family, interface):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                     struct.pack("@4s4si", bytes(4), bytes(4), interface))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        s.bind(("0.0.0.0", PORT))
        return s, ("224.0.0.251", PORT)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, interface)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    s.bind(("::", PORT))
    return s, ("ff02::fb", PORT, 0, interface)


def response(owner, targets):
    # Answers: PTR, class IN, TTL 4500, each target name.
    out = struct.pack("!6H", 0, 0x8400, 0, len(targets), 0, 0)
    for target in targets:
        out += owner + struct.pack("!HHIH", 12, 1, 4500, len(target)) + target
    return out


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    interface = socket.if_nametoindex(sys.argv[1])
    type_labels = [label.encode() for label in sys.argv[2].split(".")] + [b"local"]
    instance = sys.argv[3].encode(sys.argv[4])
    owner = encode_name(type_labels)
    if len(sys.argv) == 5:
        names = [instance]
    else:
        count = int(sys.argv[5])
        if not 0 < count <= MAX_COUNT:
            sys.exit(f"COUNT must be 1-{MAX_COUNT}")
        names = [instance + f"-{i:05d}".encode() for i in range(1, count + 1)]
    targets = [encode_name([name] + type_labels) for name in names]
    senders = [open_sender(f, interface) for f in (socket.AF_INET, socket.AF_INET6)]
    deadline = time.monotonic() + MAX_SECONDS
    sent = 0
    for first in range(0, len(targets), PER_MESSAGE):
        if time.monotonic() > deadline:
            break
        message = response(owner, targets[first:first + PER_MESSAGE])
        for s, to in senders:
            s.sendto(message, to)
        sent += len(targets[first:first + PER_MESSAGE])
        if len(targets) > 1:
            time.sleep(0.002)
    for s, _ in senders:
        s.close()
    if len(targets) > 1:
        print(f"announced {sent} names")


if __name__ == "__main__":
    main()
