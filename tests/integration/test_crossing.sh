#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# A service published on island A resolves on island B with its port, TXT and A's addresses,
# the address is reachable from B, the service is gone on B within 3 s of leaving A, a TXT
# changed in place on A reaches B, and B's link going down and up hears the import announced.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"

z2z_start ga gwa.log --export _daap._tcp --key columbia --interface lan0 >/dev/null
z2z_start gb gwb.log --import --key columbia --interface lan0 --bootstrap "$(tb_addr ga wan)" >/dev/null
# An IPv4 link-local address on host A too: avahi announces it, z2z must not carry it.
tb_exec ha ip addr add 169.254.7.7/16 dev br0
sleep 1

pub=$(tb_publish ha "Toms Music" _daap._tcp 3689 Version=196613 "Machine Name=Tom's" "path=/a=b c")
line=$(tb_wait_service hb _daap._tcp "Toms Music" 10)
check "service appears on B" test -n "$line"

v4=$(tb_resolve hb _daap._tcp "Toms Music" 4)
check "port 3689 on B" test "$(field 9 "$v4")" = 3689
# The same TXT strings in the same order as on A's link: a browser on A (here on gateway A's
# host) and one on B print the same field. avahi-daemon 0.8 reports TXT strings in reverse
# wire order (avahi issue #436), so both print them in the reverse of avahi-publish's order.
onA=$(tb_resolve ga _daap._tcp "Toms Music" 4)
check "TXT with spaces and '=' intact on B" \
  test "$(field 10 "$v4")" = '"path=/a=b c" "Machine Name=Tom'"'"'s" "Version=196613"'
check "TXT on B as on A's link, string for string" test "$(field 10 "$v4")" = "$(field 10 "$onA")"
check "IPv4 address of host A" test "$(field 8 "$v4")" = "$(tb_addr ha lan 4)"
v6=$(tb_resolve hb _daap._tcp "Toms Music" 6)
check "IPv6 (unique-local) address of host A" test "$(field 8 "$v6")" = "$(tb_addr ha lan 6)"
check "host name marks the import" bash -c "[[ '$(field 7 "$v4")' == hosta-z2z-*.local ]]"
check "the address is reachable from B" tb_exec hb ping -c 1 -W 2 "$(field 8 "$v4")"
# Service type enumeration (RFC 6763 section 9): "avahi-browse -a" finds types only through it.
all=$(tb_exec hb timeout 10 avahi-browse -apkt 2>/dev/null || true)
check "the type is enumerated on B (avahi-browse -a)" grep -q ';Toms\\032Music;_daap._tcp;' <<<"$all"
check_not "link-local addresses are not exported" grep -qE "fe80|169\.254" <(tb_browse hb _daap._tcp)
check "the log says why a link-local address was left out" \
  grep -q "link-local addresses cannot be reached" "$TB_DIR/log/gwa.log"

tb_kill "$pub" >/dev/null
check "withdrawn on B within 3 s" tb_wait_gone hb _daap._tcp "Toms Music" 3

# A TXT record changed in place, as a printer's state changes: B follows. The change comes
# 11 s after the service appeared, once gateway A follows it with a resolver of its own.
# wait_txt NAME TXT SECONDS: whether NAME resolves on B with TXT within SECONDS.
wait_txt() {
  local i deadline=$(($(date +%s%N) / 1000000 + $3 * 1000))
  for ((i = 0; i < $3 * 5; i++)); do
    [ "$(field 10 "$(tb_resolve hb _daap._tcp "$1" 4)")" = "$2" ] && return 0
    (($(date +%s%N) / 1000000 >= deadline)) && return 1
    sleep 0.2
  done
  return 1
}
status=$(tb_spawn ha status.log /usr/bin/python3 "$(dirname "$0")/txt_update.py" Status _daap._tcp 631 \
  state=idle state=busy 11)
check "a service with TXT state=idle appears on B" wait_txt Status '"state=idle"' 10
check "(its TXT is changed on A)" wait_log status.log updated 20
check "B has the new TXT within 3 s" wait_txt Status '"state=busy"' 3

# Gateway B's link goes down and comes back (a router's LAN bridge being set up again): the
# imports are announced there again, as avahi-daemon announces its own records, so browsers
# already running on the link learn of them without asking. A listener on host B that asks
# nothing must hear "Status" within 6 s of the link coming back.
# flap_heard SECONDS LOG: lan0 down for SECONDS; whether the listener (LOG) hears "Status".
flap_heard() {
  sleep 4  # the announcements of what came before end first (three within 3 s)
  tb_spawn hb "$2" /usr/bin/python3 "$(dirname "$0")/mdns_listen.py" br0 Status 12 >/dev/null
  wait_log "$2" ready 5
  tb_exec gb ip link set lan0 down
  sleep "$1"
  tb_exec gb ip link set lan0 up
  tb_exec gb ip addr add "$(tb_addr gb lan 6)/64" dev lan0 nodad 2>/dev/null
  wait_log "$2" heard 6
}
check "B's link back: the import is announced there again within 5 s" flap_heard 2 listen.log
check "B resolves it again" wait_txt Status '"state=busy"' 5
# Down for a moment only (an access point restarting), between two of the gateway's periodic
# listings of the interfaces: the kernel's report of the change must be enough.
check "B's link down for 0.2 s: the import is announced there again within 5 s" \
  flap_heard 0.2 listen2.log
tb_kill "$status" >/dev/null

z2z_finish
