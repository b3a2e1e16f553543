#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# test_testbed.sh -- proves that testbed.sh builds two separate Zeroconf
# islands, that a reflector joins them, and that everything is cleaned up.
# Needs root, avahi-daemon, avahi-utils, dbus, iproute2, iputils-ping.
#
# Usage: test_testbed.sh            (prefix "z2z<PID>", or $TB_PREFIX)
# The last line of output is "N passed, N failed"; exit status 1 on failure.

set -u -o pipefail

# shellcheck source=testbed.sh
. "$(dirname "$0")/testbed.sh"

PASS=0
FAIL=0
T0=$(_tb_now_ms)

ok() { PASS=$((PASS + 1)); printf 'ok   %s\n' "$*"; }
bad() { FAIL=$((FAIL + 1)); printf 'FAIL %s\n' "$*"; }
# check DESCRIPTION CMD... : pass if CMD succeeds
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
# quiet CMD... : run CMD with its output discarded
quiet() { "$@" >/dev/null 2>&1; }
# not CMD... : succeed if CMD fails
not() { ! "$@"; }
note() { printf '     %s (%d ms)\n' "$*" "$(($(_tb_now_ms) - T0))"; }
finish() {
    printf 'smoke runtime %d ms\n' "$(($(_tb_now_ms) - T0))"
    printf '%d passed, %d failed\n' "$PASS" "$FAIL"
    ((FAIL == 0))
}

# field_is LINE N VALUE : field N (1-based, ";" separated) of LINE is VALUE
field_is() {
    local line=$1 n=$2 want=$3 f
    IFS=';' read -r -a f <<<"$line"
    [[ ${f[n - 1]:-} == "$want" ]]
}

NAME="Toms Music"
TYPE=_daap._tcp
PREFIX=${TB_PREFIX:-z2z$$}

if ! tb_up "$PREFIX"; then
    bad "tb_up"
    finish
    exit 1
fi
ok "tb_up (prefix $PREFIX, dir $TB_DIR)"
note "testbed up"

# Every avahi of tb_up runs, the reflector's does not.
for h in ha ga gb hb; do
    check "avahi on $h is running" quiet tb_avahi_pid "$h"
done
check "reflector avahi is not started by tb_up" not quiet tb_avahi_pid rf

check "tb_addr ga wan = 198.19.0.1" test "$(tb_addr ga wan)" = 198.19.0.1
check "tb_addr hb lan 6 = fd00:2::2" test "$(tb_addr hb lan 6)" = fd00:2::2
check "tb_unescape" test "$(tb_unescape 'Tom\039s\032Music\.x\\y')" = "Tom's Music.x\\y"

# Routing across the gateways, both families and both directions.
check "ping ha -> hb (IPv4)" quiet tb_exec ha ping -q -c 1 -W 2 "$(tb_addr hb)"
check "ping hb -> ha (IPv4)" quiet tb_exec hb ping -q -c 1 -W 2 "$(tb_addr ha)"
check "ping ha -> hb (IPv6)" quiet tb_exec ha ping -6 -q -c 1 -W 2 "$(tb_addr hb lan 6)"
check "ping hb -> ha (IPv6)" quiet tb_exec hb ping -6 -q -c 1 -W 2 "$(tb_addr ha lan 6)"
# The reflector host sits on both LANs but must not route between them.
check "rf does not forward" test "$(tb_exec rf cat /proc/sys/net/ipv4/ip_forward)" = 0

# Publish on host A.
if PUB=$(tb_publish ha "$NAME" "$TYPE" 3689 "Version=196613" "Machine Name=Tom's"); then
    ok "tb_publish on ha (pid $PUB)"
else
    bad "tb_publish on ha"
    PUB=""
fi
note "published"

# Same link: gateway A sees it, resolved.
if line=$(tb_wait_service ga "$TYPE" "$NAME" 5); then
    ok "resolves on ga: $line"
    check "ga: escaped name in field 4" field_is "$line" 4 'Toms\032Music'
    check "ga: port 3689" field_is "$line" 9 3689
    check "ga: TXT Version" grep -qF '"Version=196613"' <<<"$line"
    check "ga: TXT Machine Name" grep -qF "\"Machine Name=Tom's\"" <<<"$line"
else
    bad "resolves on ga within 5 s"
fi
if line=$(tb_resolve ga "$TYPE" "$NAME" 4); then
    check "ga: IPv4 resolution: host hosta.local" field_is "$line" 7 hosta.local
    check "ga: IPv4 address 198.18.1.2" field_is "$line" 8 198.18.1.2
    check "ga: IPv4 port 3689" field_is "$line" 9 3689
else
    bad "tb_resolve on ga"
fi
if line=$(tb_resolve ga "$TYPE" "$NAME" 6); then
    check "ga: IPv6 resolution: address fd00:1::2" field_is "$line" 8 fd00:1::2
else
    bad "tb_resolve -6 on ga"
fi
browse_has() { tb_browse "$1" "$TYPE" | grep -qF "$2"; }
check "tb_browse ga lists it resolved" browse_has ga '=;lan0;IPv4;Toms\032Music;_daap._tcp;local;hosta.local;'
note "checked LAN A"

# Separate islands: nothing crosses without a reflector.
check "not seen on gb or hb within 3 s" tb_expect_absent "gb hb" "$TYPE" "$NAME" 3
note "checked isolation"

# With the reflector it reaches LAN B.
check "tb_reflector_start" tb_reflector_start
if line=$(tb_wait_service hb "$TYPE" "$NAME" 5); then
    ok "resolves on hb via reflector: $line"
else
    bad "resolves on hb via reflector within 5 s"
fi
if line=$(tb_resolve hb "$TYPE" "$NAME" 4); then
    check "hb: IPv4 resolution: address 198.18.1.2" field_is "$line" 8 198.18.1.2
else
    bad "tb_resolve on hb"
fi
note "checked reflector"

# Withdrawal.
if [[ -n $PUB ]]; then
    check "tb_kill publisher" tb_kill "$PUB"
    check "publisher is dead" not tb_alive "$PUB"
    check "gone on hb within 5 s" tb_wait_gone hb "$TYPE" "$NAME" 5
fi
note "checked withdrawal"

check "tb_reflector_stop" tb_reflector_stop

OLD=$(tb_avahi_pid hb)
check "tb_avahi_restart hb" tb_avahi_restart hb
NEW=$(tb_avahi_pid hb)
check "hb avahi has a new PID ($OLD -> $NEW)" test -n "$NEW" -a "$NEW" != "$OLD"
check "old hb avahi is dead" not tb_alive "$OLD"
check "hb avahi answers after restart" quiet tb_exec hb avahi-browse -pck _http._tcp
note "checked restart"

# Teardown leaves nothing behind.
tb_down
check "tb_down is idempotent" tb_down
ns_left() { ip netns list | grep -q "^$PREFIX"; }
check "no namespace with prefix $PREFIX left" not ns_left
alive=""
while read -r pid start; do
    [[ -n $pid ]] && _tb_alive_start "$pid" "$start" && alive+=" $pid"
done <<<"$TB_LAST_PIDS"
check "no tracked PID alive (${alive:-none})" test -z "$alive"
check "tracked some PIDs" test -n "$TB_LAST_PIDS"
note "torn down"

finish
