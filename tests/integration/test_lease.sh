#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Gateway A dies without a word (SIGKILL): B keeps A's services for the lease, then withdraws them.
# Gateway A silent past its lease and then back (stopped, as behind a broken uplink): B withdraws
# its services and publishes them again when A is heard again.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"
ttl=6

gwa=$(z2z_start ga gwa.log --export _daap._tcp --key columbia --interface lan0 --ttl "$ttl")
z2z_start gb gwb.log --import --key columbia --interface lan0 --bootstrap "$(tb_addr ga wan)" >/dev/null
sleep 1

tb_publish ha "Short Lease" _daap._tcp 3689 >/dev/null
check "service appears on B" tb_wait_service hb _daap._tcp "Short Lease" 10
sleep "$ttl"  # longer than a heartbeat period: the service must still be there
check "service still on B after one lease with A alive" tb_wait_service hb _daap._tcp "Short Lease" 1

kill -STOP "$gwa"
check "withdrawn on B while A is silent past its lease" \
  tb_wait_gone hb _daap._tcp "Short Lease" $((ttl + 4))
kill -CONT "$gwa"
check "back on B once A is heard again" tb_wait_service hb _daap._tcp "Short Lease" $((ttl + 4))
sleep 1

tb_kill "$gwa" KILL >/dev/null
killed=$(date +%s)
check "still on B shortly after A died (no early withdrawal)" tb_wait_service hb _daap._tcp "Short Lease" 1
check "withdrawn on B once A's lease ran out" tb_wait_gone hb _daap._tcp "Short Lease" $((ttl + 4))
took=$(($(date +%s) - killed))
echo "withdrawn ${took}s after SIGKILL (lease ${ttl}s)"
check "not withdrawn before the lease" test "$took" -ge $((ttl / 2))
check "B's log names the silent gateway" grep -q "silent past its lease" "$TB_DIR/log/gwb.log"

z2z_finish
