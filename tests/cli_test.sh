#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The z2z command line as a user meets it.
set -u
z2z=$1
# shellcheck source=tests/check.sh
source "$(dirname "$0")/check.sh"

out=$("$z2z" --help); rc=$?
check "--help exits 0" test "$rc" -eq 0
for flag in --export --exportopendht --import --importopendht --key --bootstrap --dht-port \
            --dht-bind --ttl --interface --log-level --syslog --gateway --poll --xmlrpc-listen \
            --xmlrpc-rate --help --version --status --json --control-socket --priority \
            --group --group-secret-file --group-description --alias --list-groups --state-dir \
            --dht-network --rendezvous --rendezvous-network; do
  check "--help lists $flag" grep -q -- "$flag" <<<"$out"
done
check "--help says what --interface defaults to" grep -q "default: every interface" <<<"$out"

out=$("$z2z" --version); rc=$?
check "--version prints the version" test "$rc" -eq 0 -a -n "$(grep -E '^z2z [0-9]+\.[0-9]+\.[0-9]+$' <<<"$out")"

err=$("$z2z" --frobnicate 2>&1); rc=$?
check "an unknown flag exits 2" test "$rc" -eq 2
check "and names the flag" grep -q -- "--frobnicate" <<<"$err"
check "and points to --help" grep -q -- "--help" <<<"$err"

err=$("$z2z" --export daap --key k 2>&1); rc=$?
check "a bad service type exits 2 naming it" test "$rc" -eq 2 -a -n "$(grep daap <<<"$err")"
err=$("$z2z" --import 2>&1); rc=$?
check "a missing --key exits 2" test "$rc" -eq 2

err=$("$z2z" --import --key k --gateway ftp://x 2>&1); rc=$?
check "a --gateway that is no http(s) URL exits 2" test "$rc" -eq 2 -a -n "$(grep -- --gateway <<<"$err")"
err=$("$z2z" --import --key k --gateway http://x/ --xmlrpc-listen 5851 2>&1); rc=$?
check "--xmlrpc-listen with --gateway exits 2" test "$rc" -eq 2
err=$("$z2z" --import --key k --poll 0 2>&1); rc=$?
check "--poll 0 exits 2" test "$rc" -eq 2
err=$("$z2z" --import --group 'a b' 2>&1); rc=$?
check "a bad group name exits 2 naming it" test "$rc" -eq 2 -a -n "$(grep "'a b'" <<<"$err")"
err=$("$z2z" --import --alias x --group A 2>&1); rc=$?
check "--alias before --group exits 2" test "$rc" -eq 2
err=$("$z2z" --import --key k --dht-network 4294967296 2>&1); rc=$?
check "a --dht-network out of range exits 2 naming it" test "$rc" -eq 2 -a -n "$(grep -- --dht-network <<<"$err")"
err=$("$z2z" --import --key k --rendezvous 198.19.0.9 2>&1); rc=$?
check "--rendezvous on the main overlay's network id exits 2" test "$rc" -eq 2
check "and names both flags" bash -c 'grep -q -- "--rendezvous-network 0" <<<"$1" && grep -q -- "--dht-network 0" <<<"$1"' _ "$err"

check_summary
