#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Publish one DNS-SD service and change its TXT record in place, as a printer does when its
state changes (Avahi's EntryGroup.UpdateServiceTxt, an update RFC 6762 section 8.4 announces):

    txt_update.py NAME TYPE PORT TXT1 TXT2 SECONDS

Publishes NAME with TXT1 (one string), prints "established", replaces the TXT with TXT2 after
SECONDS, prints "updated", then keeps the service until killed (at most 600 s). Needs
python3-dbus; talks to the avahi-daemon on the bus in DBUS_SYSTEM_BUS_ADDRESS.
"""
import sys
import time

import dbus

AVAHI = "org.freedesktop.Avahi"
IF_UNSPEC, PROTO_UNSPEC = -1, -1


def txt(s):
    return [dbus.ByteArray(s.encode())]


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    name, type_, port, txt1, txt2, seconds = sys.argv[1:]
    bus = dbus.SystemBus()
    server = dbus.Interface(bus.get_object(AVAHI, "/"), AVAHI + ".Server")
    group = dbus.Interface(bus.get_object(AVAHI, server.EntryGroupNew()), AVAHI + ".EntryGroup")
    group.AddService(IF_UNSPEC, PROTO_UNSPEC, dbus.UInt32(0), name, type_, "", "",
                     dbus.UInt16(int(port)), txt(txt1))
    group.Commit()
    for _ in range(100):
        if group.GetState() == 2:
            break
        time.sleep(0.1)
    else:
        sys.exit("the service was not established within 10 s")
    print("established", flush=True)
    time.sleep(float(seconds))
    group.UpdateServiceTxt(IF_UNSPEC, PROTO_UNSPEC, dbus.UInt32(0), name, type_, "", txt(txt2))
    print("updated", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()
