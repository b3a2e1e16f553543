#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Gateway B runs no DHT node: it uses gateway A's served OpenDHT gateway API (--gateway).
# Services cross both ways and are withdrawn both ways; A's gateway dies (SIGKILL) for 30 s:
# B keeps A's services meanwhile, queues its own, and everything catches up when A is back.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"
: "${Z2Z_DHT_TOOL:?set Z2Z_DHT_TOOL to the dht_tool binary}"

wan_a=$(tb_addr ga wan)
url="http://$wan_a:5851/"
# A's node needs a peer to store values: a bare node next to it (it also outlives A's restart).
tb_spawn ga dhtnode.log "$Z2Z_DHT_TOOL" serve --port 4300 >/dev/null
start_a() {
  z2z_start ga gwa.log --export _daap._tcp --import --key columbia --interface lan0 \
    --bootstrap 127.0.0.1:4300 --xmlrpc-listen "$wan_a:5851"
}
gwa=$(start_a)
z2z_start gb gwb.log --export _daap._tcp --import --key columbia --interface lan0 \
  --gateway "$url" --poll 1 >/dev/null
sleep 1

alpha=$(tb_publish ha "Alpha" _daap._tcp 1001 side=a)
beta=$(tb_publish hb "Beta" _daap._tcp 1002 side=b)
check "A's service appears on B (through the API)" tb_wait_service hb _daap._tcp "Alpha" 10
check "B's service appears on A (through the API)" tb_wait_service ha _daap._tcp "Beta" 10
check "B's TXT crossed intact" \
  test "$(field 10 "$(tb_resolve ha _daap._tcp Beta 4)")" = '"side=b"'
check "B runs no DHT node" grep -q "instead of a DHT node" "$TB_DIR/log/gwb.log"
check "A serves the API" grep -q "serving the OpenDHT gateway API" "$TB_DIR/log/gwa.log"

tb_kill "$beta" >/dev/null
check "B's service withdrawn on A within 5 s" tb_wait_gone ha _daap._tcp "Beta" 5
tb_kill "$alpha" >/dev/null
check "A's service withdrawn on B within 5 s" tb_wait_gone hb _daap._tcp "Alpha" 5

# The outage.
tb_publish ha "Gamma" _daap._tcp 1003 >/dev/null
check "Gamma appears on B before the outage" tb_wait_service hb _daap._tcp "Gamma" 10
tb_kill "$gwa" KILL >/dev/null
down=$(date +%s)
tb_publish hb "Delta" _daap._tcp 1004 >/dev/null
sleep $((30 - ($(date +%s) - down)))
check "Gamma still on B after 30 s without A's gateway" tb_wait_service hb _daap._tcp "Gamma" 1
check "B's log tells of the unreachable gateway" grep -q "retrying" "$TB_DIR/log/gwb.log"
gwa=$(start_a)
check "Delta, exported during the outage, appears on A after it" \
  tb_wait_service ha _daap._tcp "Delta" 25
check "B's log tells the gateway is back" grep -q "reachable: " "$TB_DIR/log/gwb.log"
check "Gamma still on B" tb_wait_service hb _daap._tcp "Gamma" 5
tb_publish hb "Epsilon" _daap._tcp 1005 >/dev/null
check "a new service of B appears on A" tb_wait_service ha _daap._tcp "Epsilon" 10

z2z_finish
