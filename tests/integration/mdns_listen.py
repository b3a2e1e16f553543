#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Listen on a link for mDNS responses that name a service, without asking anything:

    mdns_listen.py INTERFACE NAME SECONDS

Joins 224.0.0.251 on INTERFACE beside the host's responder (SO_REUSEADDR), prints "ready",
and exits 0 at the first response (QR set: an announcement or an answer, never a query's known
answers) whose bytes contain NAME, or 1 after SECONDS without one.
"""
import socket
import struct
import sys
import time

PORT = 5353


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    interface, name, seconds = sys.argv[1], sys.argv[2].encode(), float(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
    s.bind(("0.0.0.0", PORT))
    mreq = struct.pack("@4s4si", socket.inet_aton("224.0.0.251"), bytes(4),
                       socket.if_nametoindex(interface))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    for _ in range(100000):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, sender = s.recvfrom(9000)
        except socket.timeout:
            break
        if len(data) >= 12 and data[2] & 0x80 and name in data:
            print("heard %s from %s" % (name.decode(), sender[0]), flush=True)
            return 0
    print("nothing about %s in %.0f s" % (name.decode(), seconds), flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
