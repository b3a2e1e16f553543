#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The z2z demo on an embedded default topology (as root, on Debian 12):
#
#   LAN A (198.18.1.0/24)                                         LAN B (198.18.2.0/24)
#   hosta --- gateway A (z2z --export) === WAN, DHT === gateway B (z2z --import) --- hostb
#
# Each host is a network namespace with its own dbus-daemon and avahi-daemon. hosta publishes
# "Toms Music" (_daap._tcp, port 3689, TXT) with avahi-publish; the demo shows it resolved on
# hostb with avahi-browse, pings its address from hostb, withdraws it and shows it gone.
# Everything it starts is stopped and every namespace removed when it ends.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash contrib/setup-debian.sh || exit 1
echo "== building z2z"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
  cmake --build "$root/build" -j "$(nproc)" --target z2z >/dev/null || exit 1
z2z="$root/build/bridge/z2z"

source "$root/tests/integration/testbed.sh"
echo "== two LAN islands in network namespaces"
tb_up demo || exit 1

say() { printf '\n== %s\n' "$*"; }
say "gateway A: z2z --export _daap._tcp --key columbia   (DHT node on $(tb_addr ga wan))"
tb_spawn ga gwa.log "$z2z" --export _daap._tcp --key columbia --interface lan0 --log-level info >/dev/null
say "gateway B: z2z --import --key columbia --bootstrap $(tb_addr ga wan)"
tb_spawn gb gwb.log "$z2z" --import --key columbia --interface lan0 --bootstrap "$(tb_addr ga wan)" \
  --log-level info >/dev/null
sleep 1

say "hosta: avahi-publish -s 'Toms Music' _daap._tcp 3689 Version=196613 'Machine Name=Tom'\''s'"
pub=$(tb_publish ha "Toms Music" _daap._tcp 3689 Version=196613 "Machine Name=Tom's")
start=$(date +%s.%N)
if line=$(tb_wait_service hb _daap._tcp "Toms Music" 10); then
  printf 'resolved on hostb after %.2f s:\n' "$(echo "$(date +%s.%N) - $start" | awk '{print $1 - $3}')"
  say "hostb: avahi-browse -rt _daap._tcp"
  tb_exec hb avahi-browse -rt _daap._tcp
  addr=$(echo "$line" | cut -d';' -f8)
  say "hostb: ping $addr (hosta, through both gateways)"
  tb_exec hb ping -c 2 -W 2 "$addr"
  say "hosta stops publishing"
  tb_kill "$pub" >/dev/null
  start=$(date +%s.%N)
  if tb_wait_gone hb _daap._tcp "Toms Music" 5; then
    printf 'gone from hostb after %.2f s\n' "$(echo "$(date +%s.%N) - $start" | awk '{print $1 - $3}')"
    result=0
  else
    echo "still on hostb after 5 s"
    result=1
  fi
else
  echo "the service did not reach hostb; gateway logs:"
  result=1
fi
say "gateway logs"
tail -n 8 "$TB_DIR/log/gwa.log" "$TB_DIR/log/gwb.log"
tb_down
exit "$result"
