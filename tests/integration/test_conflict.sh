#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# On island B: an import whose name a local service already has takes an alternative name and
# the local service keeps its own; malformed and oversized DHT values are rejected with a message
# and the gateway keeps importing. Gateway B joins the overlay over IPv6.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"

z2z_start ga gwa.log --export _daap._tcp --key columbia --interface lan0 >/dev/null
# import_clashes NAME PORT LOCAL_PORT WHAT: NAME, published on A with PORT, is imported on B as
# "NAME #2", and the local NAME (WHAT) keeps LOCAL_PORT on host B.
import_clashes() {
  tb_publish ha "$1" _daap._tcp "$2" >/dev/null
  check "an import of the name of $4 takes an alternative name" \
    tb_wait_service hb _daap._tcp "$1 #2" 10
  local line
  line=$(tb_resolve hb _daap._tcp "$1" 4)
  check "$4 keeps its name, port and host" \
    test "$(field 9 "$line");$(field 7 "$line")" = "$3;hostb.local"
}

gwb_pid=$(z2z_start gb gwb.log --import --key columbia --interface lan0 \
  --bootstrap "[$(tb_addr ga wan 6)]:4222")
sleep 1

tb_publish hb "Clash" _daap._tcp 5000 where=b >/dev/null
tb_publish ha "Clash" _daap._tcp 6000 where=a >/dev/null
check "the import appears on B under an alternative name" \
  tb_wait_service hb _daap._tcp "Clash #2" 10
local_line=$(tb_resolve hb _daap._tcp "Clash" 4)
import_line=$(tb_resolve hb _daap._tcp "Clash #2" 4)
check "the local service keeps its name, port and host" \
  test "$(field 9 "$local_line");$(field 7 "$local_line")" = "5000;hostb.local"
check "the renamed import carries A's port and TXT" \
  test "$(field 9 "$import_line");$(field 10 "$import_line")" = '6000;"where=a"'
# mDNS names compare without regard to case: a local "Case Clash" takes "case clash" too.
tb_publish hb "Case Clash" _daap._tcp 5004 >/dev/null
tb_publish ha "case clash" _daap._tcp 6004 >/dev/null
check "an import whose name differs from a local one only in case takes an alternative name" \
  tb_wait_service hb _daap._tcp "case clash #2" 10
case_line=$(tb_resolve hb _daap._tcp "Case Clash" 4)
check "and the local one keeps its name and port" test "$(field 9 "$case_line")" = 5004
check "the overlay works over IPv6 (B bootstrapped from A's IPv6 address)" \
  grep -q "bootstrapping from fd00:ff::1" "$TB_DIR/log/gwb.log"

# Garbage under the key, written by an outsider node on island B's side.
tool=${Z2Z_DHT_TOOL:-$(dirname "$Z2Z_BIN")/../tests/dht_tool}
printf '<z2z version="9" kind="service"/>' > "$TB_DIR/bad.xml"
head -c 20000 /dev/zero | tr '\0' 'x' > "$TB_DIR/big.xml"
check "an outsider can write a malformed value" \
  tb_exec hb "$tool" put columbia "$TB_DIR/bad.xml" --bootstrap "$(tb_addr ga wan)"
check "and an oversized one" \
  tb_exec hb "$tool" put columbia "$TB_DIR/big.xml" --bootstrap "$(tb_addr ga wan)"
sleep 1
check "gateway B rejects the malformed value, naming the problem" \
  grep -q "rejected DHT value .* unsupported record version '9'" "$TB_DIR/log/gwb.log"
check "and the oversized one" grep -q "rejected DHT value .* exceeds the limit" "$TB_DIR/log/gwb.log"
tb_publish ha "After Garbage" _daap._tcp 7000 >/dev/null
check "gateway B keeps importing" tb_wait_service hb _daap._tcp "After Garbage" 10
check "gateway B is still running" pgrep -f "z2z --log-level info --import" >/dev/null

# Gateway B no longer browses a type it only imports once the browser has found what was there:
# it follows link B by listening. A local service that comes later keeps its name against a
# later import, and one that says goodbye frees its name. When the kernel drops what gateway B
# should have heard, it lists the type again.
check "gateway B follows _daap._tcp on link B by listening" \
  grep -q "following _daap._tcp on the link by listening" "$TB_DIR/log/gwb.log"

# A device on link B that announces a service whose name is Latin-1, not UTF-8, as some older
# printers do: gateway B, which reads such records now, ignores it and keeps running.
check "a device announces a service named in Latin-1" \
  tb_exec hb /usr/bin/python3 "$(dirname "$0")/mdns_ptr.py" "$(tb_if hb)" _daap._tcp "Büro" latin-1
sleep 1
check "gateway B is still running after it" tb_alive "$gwb_pid"

tb_publish hb "Late Clash" _daap._tcp 5001 where=b-late >/dev/null
gone_pid=$(tb_publish hb "Gone Local" _daap._tcp 5002)
sleep 1
tb_kill "$gone_pid"
sleep 2
tb_publish ha "Gone Local" _daap._tcp 6002 where=a-gone >/dev/null
import_clashes "Late Clash" 6001 5001 "a local service that came after the first import"
gone_line=$(tb_resolve hb _daap._tcp "Gone Local" 6)
check "a name whose local service said goodbye goes to the import" \
  test "$(field 9 "$gone_line");$(field 10 "$gone_line")" = '6002;"where=a-gone"'

# A local service announced while gateway B could not read (stopped, its receive buffer filled
# by a burst): the kernel drops the announcements, gateway B notices the loss, lists the type
# again, and a later import of that name still takes another.
lines=$(wc -l <"$TB_DIR/log/gwb.log")
after_stop() {  # PATTERN SECONDS: whether gateway B logs PATTERN after it was stopped
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    tail -n +"$((lines + 1))" "$TB_DIR/log/gwb.log" | grep -q -- "$1" && return 0
    sleep 0.1
  done
  return 1
}
kill -STOP "$gwb_pid"
sent=$(tb_exec hb /usr/bin/python3 "$(dirname "$0")/mdns_flood.py" "$(tb_if hb)" 20000)
tb_publish hb "Unheard Clash" _daap._tcp 5003 where=b-unheard >/dev/null
sleep 4 # its announcements are over
kill -CONT "$gwb_pid"
check "a burst ($sent datagrams per family) overflowed gateway B's receive buffer, and it says so" \
  after_stop "the kernel dropped .* mDNS datagrams" 10
check "gateway B lists the type again after the loss" \
  after_stop "listing _daap._tcp on the link again" 20
import_clashes "Unheard Clash" 6003 5003 "a local service announced while B could not read"

# A host on link B announces names it makes up, more than gateway B keeps track of for one type
# (4,096, avahi-daemon's own cache-entries-max), and never answers for them: gateway B says so,
# ignores the rest, keeps its memory and goes on importing. It resolves such names a few at a
# time, less often after each failure, and says so in a few lines, not one per name.
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$gwb_pid/status"; }
rss_before=$(rss_kib)
flood_at=$(date +%s)
flood=$(tb_exec hb /usr/bin/python3 "$(dirname "$0")/mdns_ptr.py" "$(tb_if hb)" _daap._tcp \
  "Made Up" utf-8 5000)
check "a host announces 5,000 names ($flood)" test "$flood" = "announced 5000 names"
check "gateway B says it ignores names past 4096 of _daap._tcp" wait_log gwb.log \
  "heard on the link: 4096 services of _daap._tcp are known already" 10
check "gateway B is still running after them" tb_alive "$gwb_pid"
rss_after=$(rss_kib)
check "gateway B's memory grew by less than 16 MiB ($rss_before KiB, then $rss_after KiB)" \
  test "$((rss_after - rss_before))" -lt 16384
tb_publish ha "After Flood" _daap._tcp 6004 where=a-flood >/dev/null
# Resolved by name, not browsed: a browser on host B would resolve all 5,000 made-up names too
# (and run into avahi-daemon's objects-per-client-max) before it got to this one.
resolves_after_flood() {
  local i
  for ((i = 0; i < 15; i++)); do
    [ "$(field 9 "$(tb_resolve hb _daap._tcp "After Flood" 4)")" = 6004 ] && return 0
    sleep 1
  done
  return 1
}
check "gateway B still imports" resolves_after_flood
sleep "$((flood_at + 14 - $(date +%s)))" 2>/dev/null  # two rounds of resolvers have timed out
unresolved=$(grep -c "cannot resolve 'Made Up-" "$TB_DIR/log/gwb.log")
check "gateway B logged $unresolved failures to resolve them (1-8 a minute)" \
  test "$unresolved" -ge 1 -a "$unresolved" -le 8
check "... each with when it tries again" grep -q "cannot resolve 'Made Up-.*trying again in 5 s" \
  "$TB_DIR/log/gwb.log"

z2z_finish
