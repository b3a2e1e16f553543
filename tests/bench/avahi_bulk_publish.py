#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Publish many DNS-SD services from ONE Avahi client (D-Bus), for tests/bench/scale.sh.

Needs python3-dbus (Debian package "python3-dbus"; run with /usr/bin/python3). Talks to the
avahi-daemon on the system bus given by DBUS_SYSTEM_BUS_ADDRESS. Services are named
PREFIX-00001 ... and added PER_GROUP to an entry group (Server.EntryGroupNew,
EntryGroup.AddService, EntryGroup.Commit): avahi allows 32 entries per group and 1024 objects
per client by default, and one service costs about 4 entries.

Prints (time stamps are time.time(), the clock of bash's EPOCHREALTIME):
  start TS                   just before the first D-Bus call that publishes
  added TS N GROUPS          every service added to its (not yet committed) group
  committed TS N GROUPS      every group committed (then probing starts)
  established TS             every group reached ESTABLISHED (probing done), or
  not-established TS group K/GROUPS STATE
                             a group collided or failed, or --wait-established ran out
then keeps the services (and the client connection) until killed (SIGTERM) or --hold seconds
have passed; avahi withdraws (goodbye packets) everything of a client that disconnects.
"""
import argparse
import sys
import time

import dbus

AVAHI = "org.freedesktop.Avahi"
STATES = {0: "uncommitted", 1: "registering", 2: "established", 3: "collision", 4: "failure"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--prefix", default="bench")
    ap.add_argument("--type", default="_bench._tcp")
    ap.add_argument("--port", type=int, default=30000, help="first port; service i uses PORT+i")
    ap.add_argument("--per-group", type=int, default=8)
    ap.add_argument("--wait-established", type=float, default=120.0)
    ap.add_argument("--hold", type=float, default=600.0, help="exit after this many seconds")
    a = ap.parse_args()
    if not (1 <= a.count <= 100000 and 1 <= a.per_group <= 32):
        ap.error("bad --count or --per-group")

    bus = dbus.SystemBus()
    server = dbus.Interface(bus.get_object(AVAHI, "/", introspect=False), AVAHI + ".Server")
    print(f"start {time.time():.6f}", flush=True)
    groups = []
    for first in range(0, a.count, a.per_group):
        path = server.EntryGroupNew()
        group = dbus.Interface(bus.get_object(AVAHI, path, introspect=False), AVAHI + ".EntryGroup")
        for i in range(first, min(first + a.per_group, a.count)):
            txt = dbus.Array([dbus.ByteArray(f"i={i + 1}".encode())], signature="ay")
            group.AddService(dbus.Int32(-1), dbus.Int32(-1), dbus.UInt32(0),
                             f"{a.prefix}-{i + 1:05d}", a.type, "", "",
                             dbus.UInt16(a.port + i + 1), txt)
        groups.append(group)
    print(f"added {time.time():.6f} {a.count} {len(groups)}", flush=True)
    # Commit only now: a committed group starts probing, and a daemon busy probing answers
    # every further D-Bus call late (one call per main-loop iteration), so interleaving
    # AddService and Commit makes the publishing itself take seconds, at random.
    for group in groups:
        group.Commit()
    print(f"committed {time.time():.6f} {a.count} {len(groups)}", flush=True)

    # Groups probe in the order they were committed: ask one group at a time (the first one not
    # yet established), so that the poll costs the busy daemon one call per 50 ms, not one per
    # group. A group seen established stays so unless it collides, which is then reported.
    deadline = time.time() + a.wait_established
    k = 0
    while k < len(groups):
        state = int(groups[k].GetState())
        if state == 2:
            k += 1
            continue
        if state in (3, 4) or time.time() >= deadline:
            print(f"not-established {time.time():.6f} group {k + 1}/{len(groups)} "
                  f"{STATES.get(state, state)}", flush=True)
            break
        time.sleep(0.05)
    else:
        print(f"established {time.time():.6f}", flush=True)

    # SIGTERM (default action) ends the process; the daemon then withdraws everything.
    end = time.time() + a.hold
    while time.time() < end:
        time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
