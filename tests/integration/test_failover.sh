#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Two gateways on island A (ga, priority 10, and a second one on the reflector host's LAN A side,
# its avahi not reflecting), one on B. One leader on A; when it is SIGKILLed the other takes
# over within 5 s, and island B's service set does not change: no duplicate, no gap; services
# published after the failover cross both ways.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"

tb_avahi_conf rf reflector.enable-reflector=no server.allow-interfaces=lana
tb_avahi_start rf
z2z_start gb gwb.log --export _daap._tcp --import --key columbia --interface lan0 >/dev/null
ga1=$(z2z_start ga gwa1.log --export _daap._tcp --import --key columbia --interface lan0 \
  --priority 10 --bootstrap "$(tb_addr gb wan)" --control-socket "$TB_DIR/a1.sock")
ga2=$(z2z_start rf gwa2.log --export _daap._tcp --import --key columbia --interface lana \
  --bootstrap "$(tb_addr gb lan)" --control-socket "$TB_DIR/a2.sock")
sleep 2.5  # the election settles after 1.5 s

role() { "$Z2Z_BIN" --status --json --control-socket "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["link"]["role"])'; }
check "the priority-10 gateway leads island A" test "$(role "$TB_DIR/a1.sock")" = leader
check "the other one stands by" test "$(role "$TB_DIR/a2.sock")" = standby
check "the standby exports nothing" \
  test "$("$Z2Z_BIN" --status --json --control-socket "$TB_DIR/a2.sock" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["exports"]))')" = 0

song=$(tb_publish ha "Song" _daap._tcp 3689 v=1)
tb_publish hb "Other Side" _daap._tcp 4000 >/dev/null
check "A's service is on B" tb_wait_service hb _daap._tcp "Song" 10
check "B's service is on A" tb_wait_service ha _daap._tcp "Other Side" 10

# Watch island B's view through the failover.
tb_exec hb avahi-browse -pk _daap._tcp >"$TB_DIR/watch-b.txt" 2>/dev/null &
watch_b=$!
tb_exec ha avahi-browse -pk _daap._tcp >"$TB_DIR/watch-a.txt" 2>/dev/null &
watch_a=$!
sleep 1
killed=$(date +%s%N)
tb_kill "$ga1" KILL >/dev/null
took=
for _ in $(seq 100); do
  if grep -q "this gateway leads the link" "$TB_DIR/log/gwa2.log"; then
    took=$((($(date +%s%N) - killed) / 1000000))
    break
  fi
  sleep 0.1
done
echo "failover took ${took:-more than 10000} ms"
check "the standby takes over within 5 s" test -n "$took" -a "${took:-99999}" -lt 5000
sleep 4  # the new leader exports and imports; importers settle
check "A's service is still on B" tb_wait_service hb _daap._tcp "Song" 1
check "B's service is still on A" tb_wait_service ha _daap._tcp "Other Side" 1
kill "$watch_b" "$watch_a" 2>/dev/null
check_not "B never lost A's service during the failover" grep -q "^-;.*;Song;" "$TB_DIR/watch-b.txt"
# On island A itself the dead leader's imports go with it (its avahi-daemon withdraws a dead
# client's records) until the new leader publishes them again: a gap of about the failover time,
# checked above by "still on A".
names() {
  tb_browse "$1" _daap._tcp | awk -F';' '$1 == "=" { print $4 }' | sort -u |
    while read -r n; do printf '%s ' "$(tb_unescape "$n")"; done
}
check "no duplicates on B" test "$(names hb)" = "Other Side Song "
check "no duplicates on A" test "$(names ha)" = "Other Side Song "

tb_publish ha "After Failover" _daap._tcp 3700 >/dev/null
check "the new leader exports" tb_wait_service hb _daap._tcp "After Failover" 10
tb_publish hb "Later Other Side" _daap._tcp 4001 >/dev/null
check "the new leader imports" tb_wait_service ha _daap._tcp "Later Other Side" 10
check "the new leader reports its role" test "$(role "$TB_DIR/a2.sock")" = leader

tb_kill "$song" >/dev/null
check "a service that leaves A after the failover is gone on B within 6 s" \
  tb_wait_gone hb _daap._tcp "Song" 6
check "and stays gone from B and A (nothing comes back from the dead leader's record)" \
  tb_expect_absent "hb ha" _daap._tcp "Song" 4

z2z_finish
