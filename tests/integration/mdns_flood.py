#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fill the mDNS receive buffers of a link with empty responses, as a burst would:

    mdns_flood.py INTERFACE COUNT

Sends COUNT (at most 100,000) datagrams of 1,000 bytes on INTERFACE to 224.0.0.251 and to
ff02::fb, port 5353, each: an mDNS response header with no records, padded. Every mDNS socket
of the link receives them; a process that does not read (stopped) has its buffers filled, and
the kernel drops what comes after and counts it (SO_RXQ_OVFL). Responders ignore an empty
response. Prints how many were sent per family.
"""
import socket
import struct
import sys
import time

PORT = 5353
SIZE, MAX_COUNT, MAX_SECONDS = 1000, 100_000, 20


def flood(family, interface, message, count, deadline):
    s = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET:
        # The interface's IPv4 address picks the interface (ip_mreqn: no group, no address).
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                     struct.pack("@4s4si", bytes(4), bytes(4), interface))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        target = ("224.0.0.251", PORT)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, interface)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        target = ("ff02::fb", PORT, 0, interface)
    sent = 0
    while sent < count and time.monotonic() < deadline:
        try:
            s.sendto(message, target)
            sent += 1
        except OSError:  # the device queue is full for a moment: let it drain
            time.sleep(0.001)
    s.close()
    return sent


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    interface = socket.if_nametoindex(sys.argv[1])
    count = min(int(sys.argv[2]), MAX_COUNT)
    # id 0, flags QR|AA (a response), no question, no records; then padding.
    message = struct.pack("!6H", 0, 0x8400, 0, 0, 0, 0).ljust(SIZE, b"\0")
    deadline = time.monotonic() + MAX_SECONDS
    print(flood(socket.AF_INET, interface, message, count, deadline),
          flood(socket.AF_INET6, interface, message, count, deadline))


if __name__ == "__main__":
    main()
