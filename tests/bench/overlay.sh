#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Overlay figures with many embedded opendht nodes on loopback, standing for island leaders:
#   lookup success and latency against overlay size (one process, up to 300 nodes: opendht's
#   select() descriptor ceiling), and the time two halves formed apart need to merge through
#   z2z's growth protocol (two processes of N/2 nodes, one bootstrap contact between them).
#   usage: overlay.sh BUILD_DIR [SIZES=50,100,200,300] [MERGE_TOTALS=100,200,500]
set -u
build=$1
sizes=${2:-50,100,200,300}
totals=${3:-100,200,500}
bench="$build/tests/overlay_bench"
echo "# $0 $*"
echo "# started: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "## lookups: 200 random keys put from random nodes, each read from another random node"
timeout 900 "$bench" lookup "$sizes" 200
echo "## merge: two halves formed apart, one contact, growth rounds every 5 s"
IFS=, read -ra list <<<"$totals"
for total in "${list[@]}"; do
  dir=$(mktemp -d)
  half=$((total / 2))
  timeout 400 "$bench" merge "$half" a "$dir" >"$dir/a.log" 2>&1 &
  pa=$!
  timeout 400 "$bench" merge "$half" b "$dir" >"$dir/b.log" 2>&1 &
  pb=$!
  wait "$pa" "$pb"
  grep -h "merge_seconds" "$dir/a.log" "$dir/b.log"
  rm -rf "$dir"
done
