#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# xmlrpc_rps.sh Z2Z_BINARY [SECONDS=5] -- requests per second the served OpenDHT gateway API
# sustains on loopback, for get and for put, from one client process (Python's xmlrpc.client,
# one keep-alive connection, one call at a time).
#
# Runs in a private network namespace (unshare -n: its own loopback, no port clashes): a bare
# DHT node (dht_tool serve, next to z2z or BENCH_DHT_TOOL) and one z2z with --xmlrpc-listen 5851
# --xmlrpc-rate 0 bootstrapped from it. Phases, each bounded to SECONDS: put (distinct 100-byte
# values, TTL 600, under one key), then get of another key that holds 10 values of 100 bytes
# (maxvals 10: one page, as a z2z --gateway poll of a small site). Needs root.
# (A get of the put phase's key, with thousands of values, takes seconds in OpenDHT itself.)
set -u
bin=$(readlink -f "${1:-}" 2>/dev/null)
secs=${2:-5}
if [[ -z ${1:-} || ! -x $bin ]] || [[ ! $secs =~ ^[0-9]+$ ]] || ((secs < 1 || secs > 120)); then
    echo "usage: $0 PATH-TO-z2z [SECONDS (1-120, default 5)]" >&2
    exit 2
fi
((EUID == 0)) || { echo "$0: must run as root (unshare -n)" >&2; exit 2; }
tool=${BENCH_DHT_TOOL:-$(dirname "$bin")/../tests/dht_tool}
[[ -x $tool ]] || { echo "$0: no dht_tool at $tool (set BENCH_DHT_TOOL)" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/../.." && pwd)
echo "# z2z benchmark: xmlrpc_rps.sh, $secs s per phase, commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null)"
echo "# $(nproc) CPUs, $(uname -r), xmlrpc-c $(xmlrpc-c-config --version 2>/dev/null)"

exec unshare -n bash -s "$bin" "$tool" "$secs" <<'INNER'
set -u
bin=$1 tool=$2 secs=$3
ip link set lo up
work=$(mktemp -d)
"$tool" serve --port 4300 >"$work/node.log" 2>&1 &
node=$!
"$bin" --import --key bench --dht-bind 127.0.0.1 --bootstrap 127.0.0.1:4300 \
    --xmlrpc-listen 5851 --xmlrpc-rate 0 --log-level warning >"$work/z2z.log" 2>&1 &
gw=$!
trap 'kill $gw $node 2>/dev/null; wait $gw $node 2>/dev/null; rm -rf "$work"' EXIT
sleep 2
python3 - "$secs" <<'PY'
import hashlib, os, sys, time, xmlrpc.client
from xmlrpc.client import Binary
secs = float(sys.argv[1])
p = xmlrpc.client.ServerProxy("http://127.0.0.1:5851/")
key = Binary(hashlib.sha1(b"rps").digest())
p.put(key, Binary(b"warm-up"), 600, "rps")  # first search of the key, not counted

def phase(name, call):
    n, lat, end = 0, [], time.monotonic() + secs
    while time.monotonic() < end:
        t = time.monotonic(); r = call(n); lat.append(time.monotonic() - t); n += 1
    lat.sort()
    print("%-18s %6d calls %8.0f req/s   p50 %6.2f ms   p99 %6.2f ms" % (
        name, n, n / secs, lat[len(lat) // 2] * 1e3, lat[int(len(lat) * 0.99)] * 1e3))
    return n

bad = [0]
def put(i):
    if p.put(key, Binary(os.urandom(92) + b"%08d" % i), 600, "rps") != 0: bad[0] += 1
phase("put", put)
print("# puts not answered 0: %d" % bad[0])
key2 = Binary(hashlib.sha1(b"rps get").digest())
for i in range(10):
    p.put(key2, Binary(os.urandom(100)), 600, "rps")
got = [0]
def get(i):
    got[0] = len(p.get(key2, 10, Binary(b""), "rps")[0])
phase("get (10 values)", get)
print("# values per get: %d" % got[0])
PY
INNER
