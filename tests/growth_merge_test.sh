#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Growth at a size where one bootstrap contact is not enough (../shared/OPENDHT.md: two
# 100-node overlays often never merge from one call): two overlays of 100 opendht nodes each,
# every node running bridge::Growth, formed apart on loopback, then one contact (Growth::join,
# as a reloaded bootstrap peer makes). Each half stores 20 keys; the test passes when each half
# reads every key of the other (overlay_bench gives up after 150 s). The figures belong to
# BENCHMARKS.md (tests/bench/overlay.sh); this only checks the outcome.
set -u
bench=$1
# shellcheck source=tests/check.sh
source "$(dirname "$0")/check.sh"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bench" merge 100 a "$dir" >"$dir/a.out" 2>&1 &
apid=$!
"$bench" merge 100 b "$dir" >"$dir/b.out" 2>&1
brc=$?
wait "$apid"
arc=$?
sed 's/^/  /' "$dir/a.out" "$dir/b.out" | grep -E "formed|merge_seconds" || true
check "the first overlay reads every key of the second after one contact" test "$arc" -eq 0
check "the second overlay reads every key of the first" test "$brc" -eq 0
check_summary
