#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Two gateways on island B (gb, and a second one on the reflector host's LAN B side, its avahi
# not reflecting) plus one on A, all exporting and importing the same key: every island sees
# each service exactly once, nothing loops, and withdrawals reach everyone.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"

tb_avahi_conf rf reflector.enable-reflector=no server.allow-interfaces=lanb
tb_avahi_start rf
z2z_start ga gwa.log --export _daap._tcp --import --key columbia --interface lan0 >/dev/null
z2z_start gb gwb.log --export _daap._tcp --import --key columbia --interface lan0 \
  --bootstrap "$(tb_addr ga wan)" >/dev/null
z2z_start rf gwb2.log --export _daap._tcp --import --key columbia --interface lanb \
  --bootstrap "$(tb_addr ga lan)" >/dev/null
sleep 1

alpha=$(tb_publish ha "Alpha" _daap._tcp 1001 side=a)
beta=$(tb_publish hb "Beta" _daap._tcp 1002 side=b)
check "A's service appears on B" tb_wait_service hb _daap._tcp "Alpha" 10
check "B's service appears on A" tb_wait_service ha _daap._tcp "Beta" 10
sleep 4  # room for echoes and duplicates to show up if there were any

names() { tb_browse "$1" _daap._tcp | awk -F';' '$1 == "=" { print $4 }' | sort -u; }
expect=$'Alpha\nBeta'
check "island A lists exactly Alpha and Beta" test "$(names ha)" = "$expect"
names hb; check "island B lists exactly Alpha and Beta" test "$(names hb)" = "$expect"
check_not "neither gateway on B exported the import of Alpha" \
  grep -q "exported 'Alpha'" "$TB_DIR/log/gwb.log" "$TB_DIR/log/gwb2.log"
check "Alpha on B resolves to host A" \
  test "$(field 8 "$(tb_resolve hb _daap._tcp Alpha 4)")" = "$(tb_addr ha lan 4)"

tb_kill "$alpha" >/dev/null
tb_kill "$beta" >/dev/null
check "Alpha withdrawn from B within 3 s" tb_wait_gone hb _daap._tcp "Alpha" 3
check "Beta withdrawn from A within 3 s" tb_wait_gone ha _daap._tcp "Beta" 3

z2z_finish
