#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Both gateways export and import the same key: each island sees the other's service exactly
# once, and nothing echoes back (no "#2" copies, no import exported again).
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"

z2z_start ga gwa.log --export _daap._tcp --import --key columbia --interface lan0 >/dev/null
z2z_start gb gwb.log --export _daap._tcp --import --key columbia --interface lan0 \
  --bootstrap "$(tb_addr ga wan)" >/dev/null
sleep 1

tb_publish ha "Alpha" _daap._tcp 1001 side=a >/dev/null
tb_publish hb "Beta" _daap._tcp 1002 side=b >/dev/null
check "A's service appears on B" tb_wait_service hb _daap._tcp "Alpha" 10
check "B's service appears on A" tb_wait_service ha _daap._tcp "Beta" 10
sleep 4  # room for an echo to show up if there were one

names() { tb_browse "$1" _daap._tcp | awk -F';' '$1 == "=" { print $4 }' | sort -u; }
expect=$'Alpha\nBeta'
check "island A lists exactly Alpha and Beta" test "$(names ha)" = "$expect"
check "island B lists exactly Alpha and Beta" test "$(names hb)" = "$expect"
check_not "gateway A never exported an import" grep -q "exported 'Beta'" "$TB_DIR/log/gwa.log"
check_not "gateway B never exported an import" grep -q "exported 'Alpha'" "$TB_DIR/log/gwb.log"
check_not "no gateway imported its own export" \
  grep -qE "importing 'Alpha'" "$TB_DIR/log/gwa.log"
check "A's own service keeps its port on A" \
  test "$(field 9 "$(tb_resolve ha _daap._tcp Alpha 4)")" = 1001

z2z_finish
