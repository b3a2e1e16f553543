#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# groups_join.sh Z2Z_BINARY [N=20] -- how long a gateway takes to join existing groups and see
# their services, and how that grows with the number of groups it is in (1, 4, 16).
#
# Gateway A (ga) creates groups G1..G16 and exports the service "Bench-Svc" (published on ha)
# into each. Then, N times for each size S in 1 4 16, gateway B (gb) starts with
# "--import --group G1 ... --group GS" and we time, from starting it:
#   joined = until its log says it joined all S groups (group overlays up, bootstrapped);
#   seen   = until a long-lived "avahi-browse -prk" on hb resolves Bench-Svc (imported from any
#            of the groups; the other groups' copies are renamed "Bench-Svc #2" ...).
# B then stops (SIGTERM: it leaves its groups), and the next join starts 1 s later. Each wait
# is bounded (BENCH_TIMEOUT_S, 20 s); a timeout counts as a miss.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/bench/bench_lib.sh
source "$here/bench_lib.sh"

N=${2:-20}
bench_count "$0" "$N" 100 "N (1-100, default 20)"
bench_init "$0" "${1:-}" "$N"
TIMEOUT_S=${BENCH_TIMEOUT_S:-20}
tb_up "zg$$" || exit 1

groups=()
for i in $(seq 1 16); do groups+=(--group "G$i"); done
tb_spawn ga gwa.log "$Z2Z_BIN" --log-level info --export "$BENCH_TYPE" --interface lan0 \
    --dht-bind "$(tb_addr ga wan)" --state-dir "$TB_DIR/state-a" "${groups[@]}" >/dev/null
for ((i = 0; i < 300; i++)); do
    [ "$(grep -c "': created" "$TB_DIR/log/gwa.log")" -ge 16 ] && break
    sleep 0.1
done
tb_publish ha Bench-Svc "$BENCH_TYPE" 9000 >/dev/null || exit 1
sleep 2
browse=$TB_DIR/log/hb.browse
bench_browser_start hb "$BENCH_TYPE" "$browse" >/dev/null

# First "=" line of Bench-Svc at or after T0.
seen_ts() {
    LC_ALL=C awk -v t0="$1" '
        { ts = $1; rest = substr($0, length($1) + 2); n = split(rest, f, ";") }
        ts + 0 >= t0 + 0 && f[1] == "=" && n >= 10 && f[4] == "Bench-Svc" { print ts; found = 1; exit }
        END { exit !found }' "$browse"
}

echo "# groups  joins  joined: N MIN P50 P90 MAX (ms)   seen: N MIN P50 P90 MAX (ms)"
for size in 1 4 16; do
    joined_ms=() seen_ms=()
    for ((trial = 0; trial < N; trial++)); do
        log=gwb-$size-$trial.log
        t0=$(bench_now)
        pid=$(tb_spawn gb "$log" "$Z2Z_BIN" --log-level info --import --interface lan0 \
            --dht-port 0 --dht-bind "$(tb_addr gb wan)" --state-dir "$TB_DIR/state-b" \
            --bootstrap "$(tb_addr ga wan)" "${groups[@]:0:$((2 * size))}")
        tj="" ts=""
        deadline=$(awk -v a="$t0" -v b="$TIMEOUT_S" 'BEGIN { printf "%.6f", a + b }')
        for ((i = 0; i < TIMEOUT_S * 50; i++)); do
            if [[ -z $tj ]] && [ "$(grep -c "': joined" "$TB_DIR/log/$log")" -ge "$size" ]; then
                tj=$(bench_now)
            fi
            [[ -z $ts ]] && ts=$(seen_ts "$t0")
            [[ -n $tj && -n $ts ]] && break
            awk -v a="$(bench_now)" -v b="$deadline" 'BEGIN { exit !(a > b) }' && break
            sleep 0.02
        done
        [[ -n $tj ]] && joined_ms+=("$(awk -v a="$tj" -v b="$t0" 'BEGIN { print (a - b) * 1000 }')")
        [[ -n $ts ]] && seen_ms+=("$(awk -v a="$ts" -v b="$t0" 'BEGIN { print (a - b) * 1000 }')")
        tb_kill "$pid" >/dev/null
        sleep 1
    done
    printf '%-7s %-6s %-42s %s\n' "$size" "$N" \
        "$(printf '%s\n' "${joined_ms[@]}" | grep . | bench_stats)" \
        "$(printf '%s\n' "${seen_ms[@]}" | grep . | bench_stats)"
done
tb_down
