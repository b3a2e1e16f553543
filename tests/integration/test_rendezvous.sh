#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The rendezvous: two islands whose gateways share no bootstrap peer (each alone, its own
# overlay) carry nothing across; once both meet under a rendezvous key in another overlay (a
# plain DHT node standing for the public OpenDHT network, with a network id of its own), their
# services cross both ways. Malformed values under the key are skipped; a gateway configured
# with the rendezvous from the start finds the other overlay too. The main overlay has a network
# id of its own (dht-network): z2zd refuses a rendezvous on the main overlay's network id.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"
z2zd="$(dirname "$Z2Z_BIN")/z2zd"
tool=${Z2Z_DHT_TOOL:-$(dirname "$Z2Z_BIN")/../tests/dht_tool}

# The "public network": one node on A's WAN address, its own port and network id.
public="$(tb_addr ga wan):4700"
network=77
main=4242  # the main overlay's network id (dht-network)
name="rendezvous-test-$$"
tb_spawn ga public.log "$tool" serve --bind "$(tb_addr ga wan)" --port 4700 --network "$network" >/dev/null

conf() {  # NAME STATE-SUFFIX yes|no [DHT-PORT]
  local rdv=""
  if [ "$3" = yes ]; then
    rdv="rendezvous = $public
rendezvous-name = $name
rendezvous-network = $network"
  fi
  {
    cat <<CONF
[server]
dht-port = ${4:-4222}
dht-network = $main
state-directory = $TB_DIR/state-$1$2
control-socket = $TB_DIR/$1.sock
log-level = info
$rdv
CONF
    z2zd_site_sections
  } >"$TB_DIR/$1.conf"
}

json() {  # SOCKET PYTHON-EXPRESSION-ON-j
  "$Z2Z_BIN" --status --json --control-socket "$1" |
    python3 -c "import json,sys; j=json.load(sys.stdin); print($2)"
}

# Waits (bounded) until the resolved service on HOST has PORT and TXT.
crossed() {  # HOST NAME PORT TXT TIMEOUT
  local line
  line=$(tb_wait_service "$1" _daap._tcp "$2" "$5") || return 1
  [ "$(field 9 "$line")" = "$3" ] && [ "$(field 10 "$line")" = "\"$4\"" ]
}

# 1. The rendezvous off: two overlays, nothing crosses.
conf a "" no
conf b "" no
gwa=$(tb_spawn ga gwa.log "$z2zd" -f "$TB_DIR/a.conf")
gwb=$(tb_spawn gb gwb.log "$z2zd" -f "$TB_DIR/b.conf")
sleep 2.5
tb_publish ha "From A" _daap._tcp 1001 side=a >/dev/null
tb_publish hb "From B" _daap._tcp 1002 side=b >/dev/null
check "without the rendezvous, A's service does not reach B" tb_expect_absent hb _daap._tcp "From A" 6
check "nor B's A" tb_expect_absent ha _daap._tcp "From B" 1
check "status: the rendezvous is off" test "$(json "$TB_DIR/a.sock" 'j["rendezvous"]["enabled"]')" = False
check "status text names it" bash -c "'$Z2Z_BIN' --status --control-socket '$TB_DIR/a.sock' | grep -q '^rendezvous: off'"
check "status: the main overlay's network id" test "$(json "$TB_DIR/a.sock" 'j["overlay"]["network"]')" = "$main"
printf '[server]\ndht-network = %s\nrendezvous = %s\nrendezvous-network = %s\n' "$main" "$public" "$main" >"$TB_DIR/same.conf"
out=$("$z2zd" --check -f "$TB_DIR/same.conf" 2>&1); rc=$?
check "z2zd --check refuses a rendezvous on the main overlay's network id (78)" test "$rc" -eq 78
check "naming the line and both keys" \
  grep -q "same.conf:4: \[server\] rendezvous-network $main is also the main overlay's network id (dht-network $main)" <<<"$out"

# 2. Both meet at the rendezvous (a reload turns it on): services cross both ways.
conf a "" yes
conf b "" yes
start=$(date +%s%N)
kill -HUP "$gwa" "$gwb"
check "A's service reaches B through the rendezvous (port and TXT)" crossed hb "From A" 1001 side=a 40
check "B's service reaches A through the rendezvous (port and TXT)" crossed ha "From B" 1002 side=b 20
echo "crossed $((($(date +%s%N) - start) / 1000000)) ms after the reload"
check "status: A's rendezvous runs and has read B" \
  test "$(json "$TB_DIR/a.sock" 'j["rendezvous"]["running"] and j["rendezvous"]["leaders"] >= 1')" = True
check "status text shows the rendezvous node" \
  bash -c "'$Z2Z_BIN' --status --control-socket '$TB_DIR/b.sock' | grep -q '^rendezvous: name .*node on UDP port'"
values=$(tb_exec gb "$tool" get "raw:z2z:v1:rendezvous:$main:$name" --bootstrap "$public" --network "$network" 2>/dev/null)
check "B published its main node's WAN endpoint under the key" \
  grep -qE " z2z-rendezvous 1 [0-9a-f]{40} $(tb_addr gb wan) 4222( |$)" <<<"$values"

# 3. Junk under the key is logged and skipped; the gateways go on.
head -c 300 /dev/zero | tr '\0' x >"$TB_DIR/big"
printf 'z2z-rendezvous 1 %040d gw.example.org 4222' 0 >"$TB_DIR/name"
printf 'z2z-rendezvous 1 %040d 127.0.0.1 4222' 0 >"$TB_DIR/loopback"
printf '\377\000binary' >"$TB_DIR/binary"
for f in big name loopback binary; do
  tb_exec gb "$tool" put "raw:z2z:v1:rendezvous:$main:$name" "$TB_DIR/$f" --bootstrap "$public" \
    --network "$network" >/dev/null 2>&1
done
check "malformed values are logged and skipped" \
  bash -c "for i in \$(seq 50); do grep -q 'skipping value .* not a usable IPv4 or IPv6 address' '$TB_DIR/log/gwa.log' && exit 0; sleep 0.2; done; exit 1"
check "A still runs" tb_alive "$gwa"
check "B still runs" tb_alive "$gwb"
check "A counts the rejected values" \
  test "$(json "$TB_DIR/a.sock" 'j["rendezvous"]["rejected"] >= 3')" = True

# 4. Configured from the start: B restarts as a new overlay (new node, no node cache, and a
# new port, so that A's routing table entry of the old B does not reach it) and meets A again
# through the rendezvous alone.
tb_kill "$gwb" TERM >/dev/null
check "B's service leaves A" tb_wait_gone ha _daap._tcp "From B" 10
conf b "-2" yes 4224
start=$(date +%s%N)
gwb=$(tb_spawn gb gwb2.log "$z2zd" -f "$TB_DIR/b.conf")
check "restarted B's service reaches A" crossed ha "From B" 1002 side=b 40
tb_publish ha "After Restart" _daap._tcp 1003 side=a2 >/dev/null
check "a new service from A reaches the restarted B" crossed hb "After Restart" 1003 side=a2 20
echo "crossed $((($(date +%s%N) - start) / 1000000)) ms after B started"
check "the restarted B read A under the key" \
  test "$(json "$TB_DIR/b.sock" 'j["rendezvous"]["leaders"] >= 1')" = True
check "one of them joined the other through the rendezvous" \
  bash -c "grep -q 'joining it at $(tb_addr ga wan) port 4222' '$TB_DIR/log/gwb2.log' ||
    grep -q 'joining it at $(tb_addr gb wan) port 4224' '$TB_DIR/log/gwa.log'"

z2z_finish
