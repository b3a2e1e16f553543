#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Announce one DNS-SD PTR record from port 5353, as a device on the link does:

    mdns_ptr.py INTERFACE TYPE NAME ENCODING

Sends "TYPE.local PTR NAME.TYPE.local" (TTL 4500 s) in one mDNS response on INTERFACE, to
224.0.0.251 and to ff02::fb, with NAME encoded in ENCODING (for instance latin-1, as some
older devices do). Binds port 5353 beside the host's responder (SO_REUSEADDR).
"""
import socket
import struct
import sys

PORT = 5353


def encode_name(labels):
    out = b""
    for label in labels:
        if not 0 < len(label) < 64:
            sys.exit(f"label of {len(label)} bytes")
        out += bytes([len(label)]) + label
    return out + b"\0"


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    interface = socket.if_nametoindex(sys.argv[1])
    type_labels = [label.encode() for label in sys.argv[2].split(".")] + [b"local"]
    instance = sys.argv[3].encode(sys.argv[4])
    owner = encode_name(type_labels)
    target = encode_name([instance] + type_labels)
    # One answer: PTR, class IN, TTL 4500, the target name.
    message = (struct.pack("!6H", 0, 0x8400, 0, 1, 0, 0) + owner +
               struct.pack("!HHIH", 12, 1, 4500, len(target)) + target)
    for family, group in ((socket.AF_INET, "224.0.0.251"), (socket.AF_INET6, "ff02::fb")):
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                         struct.pack("@4s4si", bytes(4), bytes(4), interface))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
            s.bind(("0.0.0.0", PORT))
            s.sendto(message, (group, PORT))
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, interface)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            s.bind(("::", PORT))
            s.sendto(message, (group, PORT, 0, interface))
        s.close()


if __name__ == "__main__":
    main()
