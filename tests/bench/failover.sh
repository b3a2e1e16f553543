#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Leader failover on the real testbed: two gateways on island A (ga, priority 10, and one on
# the reflector host's LAN A side, priority 0), one on B. Each round kills the leader on A and
# times how long until the standby leads; then a new gateway starts on ga and takes the lead
# back. Two kinds of death: the gateway process (SIGKILL; its avahi-daemon withdraws its
# records at once) and the whole router (SIGKILL of the gateway and of ga's avahi-daemon: only
# the 3 s record TTL tells). Prints p50/p90 per kind and whether island B ever lost the service.
#   usage: failover.sh Z2Z_BINARY [ROUNDS=10]
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../integration/lib.sh"
rounds=${2:-10}
echo "# $0 $*"
echo "# started: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
z2z_init "$1"

tb_avahi_conf rf reflector.enable-reflector=no server.allow-interfaces=lana
tb_avahi_start rf
z2z_start gb gwb.log --export _daap._tcp --import --key bench --interface lan0 >/dev/null
start_a1() {
  z2z_start ga "gwa1-$1.log" --export _daap._tcp --import --key bench --interface lan0 \
    --priority 10 --bootstrap "$(tb_addr gb wan)"
}
a1=$(start_a1 0)
z2z_start rf gwa2.log --export _daap._tcp --import --key bench --interface lana \
  --bootstrap "$(tb_addr gb lan)" >/dev/null
sleep 3
tb_publish ha "Failover Song" _daap._tcp 3689 >/dev/null
tb_wait_service hb _daap._tcp "Failover Song" 10 >/dev/null || { echo "service never crossed"; z2z_finish; exit 1; }
tb_exec hb avahi-browse -pk _daap._tcp >"$TB_DIR/watch-b.txt" 2>/dev/null &
watch=$!

# Prints the ms from now until FILE has more than COUNT lines matching PATTERN (10 s at most).
wait_lead() {
  local file=$1 count=$2 start=$3 i
  for ((i = 0; i < 200; i++)); do
    if [ "$(grep -c "this gateway leads the link" "$file" 2>/dev/null)" -gt "$count" ]; then
      echo $((($(date +%s%N) - start) / 1000000))
      return 0
    fi
    sleep 0.05
  done
  echo "miss"
}

process_ms=()
router_ms=()
for ((r = 1; r <= rounds * 2; r++)); do
  kind=process
  ((r % 2 == 0)) && kind=router
  before=$(grep -c "this gateway leads the link" "$TB_DIR/log/gwa2.log")
  start=$(date +%s%N)
  # A dead router says nothing: its avahi-daemon dies first, so no goodbye leaves it.
  [ "$kind" = router ] && kill -KILL "$(tb_avahi_pid ga)"
  tb_kill "$a1" KILL >/dev/null
  ms=$(wait_lead "$TB_DIR/log/gwa2.log" "$before" "$start")
  echo "round $r ($kind): standby leads after $ms ms"
  if [ "$kind" = process ]; then process_ms+=("$ms"); else router_ms+=("$ms"); fi
  [ "$kind" = router ] && { rm -f "$TB_DIR/ga/avahi.pid"; tb_avahi_start ga; }
  a1=$(start_a1 "$r")
  # The priority-10 gateway takes the lead back; the other stands down 3 s later.
  for ((i = 0; i < 100; i++)); do
    grep -q "standing by" <(tail -n 5 "$TB_DIR/log/gwa2.log") && break
    sleep 0.1
  done
  sleep 1
done
kill "$watch" 2>/dev/null

stats() {  # NAME VALUES...
  local name=$1
  shift
  printf '%s\n' "$@" | grep -v miss | sort -n | awk -v name="$name" -v total=$# '
    { v[NR] = $1 }
    END {
      if (NR == 0) { printf "%s: no takeover in %d rounds\n", name, total; exit }
      p50 = v[int((NR + 1) / 2)]; p90 = v[int(NR * 0.9 + 0.999)]
      printf "%-8s rounds %2d  takeovers %2d  p50 %5d ms  p90 %5d ms  min %5d  max %5d\n", name, total, NR, p50, p90, v[1], v[NR]
      printf "failover_%s_p50_ms=%d\nfailover_%s_p90_ms=%d\n", name, p50, name, p90
    }'
}
echo
stats process "${process_ms[@]}"
stats router "${router_ms[@]}"
gaps=$(grep -c "^-;.*;Failover\\\\032Song;" "$TB_DIR/watch-b.txt")
echo "island B lost the service $gaps times over $((rounds * 2)) failovers"
echo "failover_remote_gaps=$gaps"
z2z_finish >/dev/null
