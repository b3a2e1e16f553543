#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# latency.sh Z2Z_BINARY [N=20] -- how long a single service takes to cross from LAN A to LAN B,
# through an avahi reflector and through a z2z gateway pair, on one testbed in one run.
#
# For each of N services (published one at a time on ha with avahi-publish, distinct names,
# type _bench._tcp):
#   appear   = from starting avahi-publish on ha to the first resolved "=" line for the name in a
#              long-lived "avahi-browse -prk" on hb (lines time-stamped on arrival);
#   withdraw = from killing (SIGTERM) that avahi-publish to the "-" line on hb after which the
#              name is present on no interface/protocol any more.
# Each wait is bounded (BENCH_TIMEOUT_S, 10 s); a timeout counts as a miss. Phase 1 runs with
# the reflector and no gateways, phase 2 (reflector stopped, every avahi restarted to empty the
# caches) with z2z on ga (--export) and gb (--import). One warm-up service per phase (not
# counted) makes sure the path works, so the z2z figures exclude DHT bootstrap.
#
# Environment: BENCH_TIMEOUT_S (10), BENCH_HOLD_S (0.2: pause between appear and withdraw),
# BENCH_GAP_S (0.2: pause between services), BENCH_PHASE_MAX_S (85: a phase stops measuring
# after this), TB_KEEP=1 keeps $TB_DIR with all logs and browser files, TB_AVAHI_CONF (testbed).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/bench/bench_lib.sh
source "$here/bench_lib.sh"

N=${2:-20}
bench_count "$0" "$N" 200 "N (1-200, default 20)"
TIMEOUT_S=${BENCH_TIMEOUT_S:-10}
HOLD_S=${BENCH_HOLD_S:-0.2}
GAP_S=${BENCH_GAP_S:-0.2}
PHASE_MAX_S=${BENCH_PHASE_MAX_S:-85}

bench_init "$0" "${1:-}" "${@:2}"
echo "# N=$N services per phase, type $BENCH_TYPE, timeout ${TIMEOUT_S}s per wait," \
    "hold ${HOLD_S}s, gap ${GAP_S}s"

MISS_A_z2z=0 MISS_W_z2z=0
tb_up "bl$$" || { echo "testbed did not come up" >&2; exit 1; }

# wait_ts KIND FILE NAME SINCE DEADLINE: poll (20 ms, bounded) until bench_appear_ts (KIND
# appear) or bench_gone_ts (KIND gone) finds its line; print the time stamp.
wait_ts() {
    local kind=$1 file=$2 name=$3 since=$4 deadline=$5 i ts
    for ((i = 0; i < 5000; i++)); do
        if [[ $kind == appear ]]; then
            ts=$(bench_appear_ts "$file" "$name") && { echo "$ts"; return 0; }
        else
            ts=$(bench_gone_ts "$file" "$name" "$since") && { echo "$ts"; return 0; }
        fi
        awk -v n="$(bench_now)" -v d="$deadline" 'BEGIN { exit !(n >= d) }' && return 1
        sleep 0.02
    done
    return 1
}

ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }'; }
plus_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f\n", a + b }'; }

# measure_one PHASE NAME PORT BROWSEFILE: publish, wait, withdraw, wait. Appends to
# $TB_DIR/PHASE.appear and PHASE.withdraw; sets M_APPEAR_MISS / M_WITHDRAW_MISS (0/1).
measure_one() {
    local phase=$1 name=$2 port=$3 file=$4 t0 t1 ta tg pid
    M_APPEAR_MISS=0 M_WITHDRAW_MISS=0
    t0=$(bench_now)
    pid=$(tb_spawn ha "pub-$name.log" avahi-publish -s "$name" "$BENCH_TYPE" "$port" "bench=$phase") ||
        { M_APPEAR_MISS=1; return 1; }
    if ta=$(wait_ts appear "$file" "$name" "$t0" "$(plus_s "$t0" "$TIMEOUT_S")"); then
        ms_between "$t0" "$ta" >>"$TB_DIR/$phase.appear"
        sleep "$HOLD_S"
    else
        M_APPEAR_MISS=1
    fi
    t1=$(bench_now)
    echo "$name $t0 $t1" >>"$TB_DIR/$phase.marks"
    tb_kill "$pid" >/dev/null
    ((M_APPEAR_MISS)) && return 0   # nothing to withdraw on B
    if tg=$(wait_ts gone "$file" "$name" "$t1" "$(plus_s "$t1" "$TIMEOUT_S")"); then
        ms_between "$t1" "$tg" >>"$TB_DIR/$phase.withdraw"
    else
        M_WITHDRAW_MISS=1
    fi
    return 0
}

# run_phase PHASE: warm-up, then N services; leaves the counts in MISS_A_PHASE, MISS_W_PHASE.
run_phase() {
    local phase=$1 file="$TB_DIR/browse-$1.txt" bpid i name t0 ta tg pid start
    local miss_a=0 miss_w=0 consecutive=0 done_n=0
    : >"$TB_DIR/$phase.appear"
    : >"$TB_DIR/$phase.withdraw"
    : >"$TB_DIR/$phase.marks"
    bpid=$(bench_browser_start hb "$BENCH_TYPE" "$file") || return 1
    sleep 1
    # Warm-up: generous timeouts (DHT bootstrap), not counted.
    name="bench-$phase-warm"
    t0=$(bench_now)
    if pid=$(tb_spawn ha "pub-$name.log" avahi-publish -s "$name" "$BENCH_TYPE" 9) &&
        ta=$(wait_ts appear "$file" "$name" "$t0" "$(plus_s "$t0" 30)"); then
        sleep "$HOLD_S"
        local t1
        t1=$(bench_now)
        tb_kill "$pid" >/dev/null
        if tg=$(wait_ts gone "$file" "$name" "$t1" "$(plus_s "$t1" "$TIMEOUT_S")"); then
            echo "# $phase: warm-up service appeared after $(ms_between "$t0" "$ta") ms," \
                "withdrawn after $(ms_between "$t1" "$tg") ms (not counted)"
        else
            echo "# $phase: warm-up service appeared but was not withdrawn within ${TIMEOUT_S}s"
        fi
    else
        [[ -n ${pid:-} ]] && tb_kill "$pid" >/dev/null
        echo "# $phase: WARM-UP SERVICE DID NOT APPEAR ON hb WITHIN 30 s; measuring anyway"
    fi
    sleep "$GAP_S"
    start=$(bench_now)
    for ((i = 1; i <= N; i++)); do
        if awk -v n="$(bench_now)" -v s="$start" -v m="$PHASE_MAX_S" 'BEGIN { exit !(n - s >= m) }'; then
            echo "# $phase: phase time limit (${PHASE_MAX_S}s) reached after $done_n services"
            break
        fi
        name=$(printf 'bench-%s-%02d' "$phase" "$i")
        measure_one "$phase" "$name" $((20000 + i)) "$file"
        done_n=$i
        miss_a=$((miss_a + M_APPEAR_MISS))
        miss_w=$((miss_w + M_WITHDRAW_MISS))
        if ((M_APPEAR_MISS)); then
            consecutive=$((consecutive + 1))
            if ((consecutive >= 3)); then
                echo "# $phase: 3 services in a row did not appear on hb; stopping this phase"
                break
            fi
        else
            consecutive=0
        fi
        sleep "$GAP_S"
    done
    tb_kill "$bpid" >/dev/null
    printf -v "MISS_A_$phase" '%s' "$miss_a"
    printf -v "MISS_W_$phase" '%s' "$miss_w"
    printf -v "DONE_$phase" '%s' "$done_n"
    local fails
    fails=$(grep -c 'Failed' "$file")
    ((fails)) && echo "# $phase: avahi-browse on hb reported $fails failures, e.g.: $(grep -m1 Failed "$file")"
    return 0
}

# ---- Phase 1: reflector ----------------------------------------------------------------
echo "# phase 1: reflector (rf) between LAN A and LAN B, no gateways"
tb_reflector_start || { echo "reflector did not start" >&2; exit 1; }
run_phase refl
tb_reflector_stop
# Whatever the reflector carried stays cached on LAN B (no goodbyes when it stops): start the
# z2z phase from empty caches.
tb_flush || { echo "avahi restart (tb_flush) failed" >&2; exit 1; }

# ---- Phase 2: z2z ------------------------------------------------------------------------
echo "# phase 2: z2z gateways (ga --export $BENCH_TYPE, gb --import), reflector stopped"
if ! bench_gateways_start; then
    echo "# z2z gateways did not start"
    bench_gateway_logs 30
    exit 1
fi
run_phase z2z
for pid in "$GWA_PID" "$GWB_PID"; do
    tb_alive "$pid" || echo "# WARNING: gateway PID $pid is no longer running"
done
gw_dead=0
tb_alive "$GWA_PID" && tb_alive "$GWB_PID" || gw_dead=1
((MISS_A_z2z + MISS_W_z2z + gw_dead > 0)) && bench_gateway_logs 30
# Stop the gateways first (a clean withdrawal), the rest goes with the testbed.
tb_kill "$GWB_PID" >/dev/null
tb_kill "$GWA_PID" >/dev/null

# stage_line T0-OR-T1 LOG REGEX: median and max in ms, over the measured services, of the time
# from each service's publish (field 2 of z2z.marks) or kill (field 3) to its line in a z2z log.
stage_line() {
    local field=$1 log=$2 re=$3 ref
    ref=$(awk 'NR == 1 { print $2 }' "$TB_DIR/z2z.marks")
    bench_log_times "$TB_DIR/log/$log" "$re" "$ref" |
        awk -v ref="$ref" -v f="$field" '
            FILENAME == ARGV[1] { mark[$1] = $f; next }
            ($1 in mark) && !($1 in seen) { seen[$1] = 1; print (ref + $2 - mark[$1]) * 1000 }' \
            "$TB_DIR/z2z.marks" - | bench_stats | awk '{ printf "%s (n=%s, max %s)", $3, $1, $5 }'
}

if [[ -s $TB_DIR/z2z.marks ]]; then
    echo "# z2z stages, median ms (from the gateways' info logs):"
    echo "#   appear:   ga exported $(stage_line 2 gwa.log "\\[bridge\\] exported '")," \
        "gb published $(stage_line 2 gwb.log "\\[mdns\\] published '") after avahi-publish started"
    echo "#   withdraw: ga withdrew $(stage_line 3 gwa.log "\\[bridge\\] withdrew '")," \
        "gb withdrew $(stage_line 3 gwb.log "\\[mdns\\] withdrew '") after avahi-publish was killed"
fi

# ---- Results -----------------------------------------------------------------------------
echo
printf '%-22s %4s %6s %8s %8s %8s %8s\n' series n misses min_ms p50_ms p90_ms max_ms
declare -A P50 P90 MIN MAX CNT
for kind in appear withdraw; do
    for phase in refl z2z; do
        read -r n mn p50 p90 mx < <(bench_stats <"$TB_DIR/$phase.$kind")
        if [[ $kind == appear ]]; then miss_var=MISS_A_$phase; else miss_var=MISS_W_$phase; fi
        label=$phase; [[ $phase == refl ]] && label=reflector
        printf '%-22s %4s %6s %8s %8s %8s %8s\n' "$kind/$label" "$n" "${!miss_var}" "$mn" "$p50" "$p90" "$mx"
        P50[$kind.$label]=$p50 P90[$kind.$label]=$p90 MIN[$kind.$label]=$mn MAX[$kind.$label]=$mx
        CNT[$kind.$label]=$n
        printf -v "MISS_$kind$label" '%s' "${!miss_var}"
    done
done
delta() { [[ $1 == - || $2 == - ]] && { echo -; return; }; echo $(($1 - $2)); }
echo
for kind in appear withdraw; do
    printf 'delta z2z - reflector  %-8s p50 %+6s ms   p90 %+6s ms\n' "$kind" \
        "$(delta "${P50[$kind.z2z]}" "${P50[$kind.reflector]}")" \
        "$(delta "${P90[$kind.z2z]}" "${P90[$kind.reflector]}")"
done
echo "(appear: avahi-publish started on ha -> first resolved '=' on hb; withdraw: avahi-publish"
echo " killed -> last '-' on hb; percentiles nearest-rank over the services that arrived)"
bench_footer
echo
for kind in appear withdraw; do
    for label in reflector z2z; do
        v=MISS_$kind$label
        echo "${kind}_n_${label}=${CNT[$kind.$label]}"
        echo "${kind}_misses_${label}=${!v}"
        echo "${kind}_min_${label}_ms=${MIN[$kind.$label]}"
        echo "${kind}_p50_${label}_ms=${P50[$kind.$label]}"
        echo "${kind}_p90_${label}_ms=${P90[$kind.$label]}"
        echo "${kind}_max_${label}_ms=${MAX[$kind.$label]}"
    done
    echo "${kind}_p50_delta_ms=$(delta "${P50[$kind.z2z]}" "${P50[$kind.reflector]}")"
    echo "${kind}_p90_delta_ms=$(delta "${P90[$kind.z2z]}" "${P90[$kind.reflector]}")"
done
tb_down
