#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# scale.sh Z2Z_BINARY [COUNT=1000] -- how long COUNT services published at once on LAN A take
# until all of them are resolved on LAN B, through an avahi reflector and through a z2z gateway
# pair (same testbed, same run), and what the gateways cost in memory and idle CPU.
#
# ha publishes COUNT services (_bench._tcp, bench-00001...) from ONE Avahi client
# (avahi_bulk_publish.py, python3-dbus, 8 services per entry group). A long-lived
# "avahi-browse -prk" on hb, lines time-stamped on arrival, counts distinct names with a
# resolved "=" line. Time = from the publisher's first D-Bus call to the line that completes
# the count. Phase 1: reflector, no gateways. Phase 2: services withdrawn (while the reflector
# still ran), reflector stopped, every avahi restarted (empty caches), z2z on ga (--export) and
# gb (--import), the same services published again. One warm-up service per phase (not
# counted) makes sure the path works first, so the z2z figures exclude DHT bootstrap. Then, with
# everything across: the gateways' peak RSS (VmHWM), their CPU over BENCH_IDLE_S (10) s of idle
# and over the BENCH_IDLE_S after that, and the CPU they used while carrying the services;
# finally the time until B has withdrawn all.
#
# Comment lines add, per phase: every avahi-daemon's CPU time and the packets on each LAN while
# carrying, UDP datagrams dropped for full receive buffers (per host, mdns/dht socket), and for
# z2z when gateway A exported and gateway B imported each service (from their info logs).
#
# With BENCH_AA=1, phase 2 runs the reflector again instead of the gateways (an A/A run: how far
# two measurements of the same path differ within one run), and the figures end there.
#
# With BENCH_PAIRED=1, one run carries the burst over both paths at once instead of one after
# the other: four islands (tb_up_islands 4); the reflector between LAN A and LAN B as in phase 1,
# and gateway A exporting to gateway C importing on LAN C, with a browser on hb and one on hc
# started at the same time. Both paths share the publisher's burst, host A's avahi-daemon and
# the machine's load at that moment; phases run one after the other share none of these.
# Prints scale_paired_* figures and the gateways' costs (gateway C in the gwb_* keys, its
# BENCH_LOOP_WAITS trace in log/gwb.polls).
#
# With BENCH_LOOP_WAITS=1 (needs perf), `perf trace` follows each gateway's poll() calls from its
# start to the end of the withdrawal, and the figures add how often and how long its event loop
# waited in a blocking D-Bus call (libdbus waits for a reply by polling the one socket with a
# 25 s timeout; the loop's own polls watch several descriptors).
#
# Environment: BENCH_PER_GROUP (8: services per entry group on ha), BENCH_PHASE_TIMEOUT_S (120),
# BENCH_IDLE_S (10), BENCH_WITHDRAW_TIMEOUT_S (30),
# TB_AVAHI_CONF / TB_AVAHI_CONF_<host> (testbed: avahi-daemon.conf overrides, so for both
# phases; hb defaults to server.objects-per-client-max=8192, see below), TB_KEEP=1 keeps
# $TB_DIR with all logs and browser files.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/bench/bench_lib.sh
source "$here/bench_lib.sh"

COUNT=${2:-1000}
bench_count "$0" "$COUNT" 5000 "COUNT (1-5000, default 1000)"
PHASE_TIMEOUT_S=${BENCH_PHASE_TIMEOUT_S:-120}
IDLE_S=${BENCH_IDLE_S:-10}
WITHDRAW_TIMEOUT_S=${BENCH_WITHDRAW_TIMEOUT_S:-30}
PER_GROUP=${BENCH_PER_GROUP:-8}
PUBLISHER=$here/avahi_bulk_publish.py

if ! "$BENCH_PYTHON" -c 'import dbus' 2>/dev/null; then
    echo "$0: $BENCH_PYTHON cannot import dbus: install the Debian package python3-dbus" >&2
    exit 2
fi
# hb's browser resolves every name on IPv4 and IPv6: with 1000 services it can hold more than
# avahi's default 1024 objects per client at once ("Too many objects", and that name never
# resolves on that protocol). The browser is the measuring instrument, used the same way in
# both phases: give it room.
TB_AVAHI_CONF_hb=${TB_AVAHI_CONF_hb-server.objects-per-client-max=8192}
PAIRED=${BENCH_PAIRED:-0}
[[ $PAIRED == 1 ]] && TB_AVAHI_CONF_hc=${TB_AVAHI_CONF_hc-server.objects-per-client-max=8192}
# Hosts whose avahi-daemon CPU and UDP drops are reported, and LANs whose packets are counted.
SNAP_HOSTS="ha ga gb hb rf" LAN_HOSTS="ha hb"
bench_init "$0" "${1:-}" "${@:2}"
echo "# COUNT=$COUNT services ($BENCH_TYPE) from one client, $PER_GROUP per entry group;" \
    "phase timeout ${PHASE_TIMEOUT_S}s, idle window ${IDLE_S}s"
HZ=$(getconf CLK_TCK)

if [[ $PAIRED == 1 ]]; then
    SNAP_HOSTS+=" gc hc" LAN_HOSTS+=" hc"
    tb_up_islands 4 "bs$$" || { echo "testbed did not come up" >&2; exit 1; }
else
    tb_up "bs$$" || { echo "testbed did not come up" >&2; exit 1; }
fi

# progress FILE COUNT: "RESOLVED PRESENT T50 T90 T100 FAILS TZERO" from a browser file:
# distinct names (prefix bench-) with a resolved line, names present now, the time stamps at
# which the resolved count reached 50 %, 90 % and 100 % of COUNT ("-" if not), and the number of
# "Failed" lines (resolver errors) in it, and when the number of names present last fell to 0.
progress() {
    LC_ALL=C awk -v count="$2" '
        BEGIN { t50 = t90 = t100 = "-"; h = int((count + 1) / 2); n90 = int(count * 0.9); if (n90 < 1) n90 = 1 }
        / Failed/ { fails++ }
        { ts = $1; rest = substr($0, length($1) + 2); n = split(rest, f, ";") }
        n < 6 || f[4] !~ /^bench-[0-9]+$/ { next }
        f[1] == "=" && n >= 10 && !(f[4] in res) {
            res[f[4]] = 1; nres++
            if (nres == h) t50 = ts; if (nres == n90) t90 = ts; if (nres == count) t100 = ts
        }
        { key = f[4] ";" f[2] ";" f[3] }
        f[1] == "+" || f[1] == "=" {
            if (!(key in pk)) { pk[key] = 1; if (pn[f[4]]++ == 0) np++ }
        }
        f[1] == "-" && (key in pk) {
            delete pk[key]
            if (--pn[f[4]] == 0) { delete pn[f[4]]; if (--np == 0) tzero = ts }
        }
        END { printf "%d %d %s %s %s %d %s\n", nres, np, t50, t90, t100, fails, (tzero == "" ? "-" : tzero) }' "$1"
}

since() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "-") print "-"; else printf "%.2f\n", b - a }'; }
elapsed_ge() { awk -v a="$1" -v n="$(bench_now)" -v m="$2" 'BEGIN { exit !(n - a >= m) }'; }

# warm_up PHASE FILE...: one avahi-publish service must cross (30 s bound) into every browser
# file and go away again.
warm_up() {
    local phase=$1 name="warm-$1" pid t0 i f ok="" last=""
    shift
    t0=$(bench_now)
    pid=$(tb_spawn ha "pub-$name.log" avahi-publish -s "$name" "$BENCH_TYPE" 9) || return 1
    for ((i = 0; i < 300; i++)); do
        ok=1
        for f in "$@"; do bench_appear_ts "$f" "$name" >/dev/null || { ok=""; break; }; done
        [[ -n $ok ]] && break
        elapsed_ge "$t0" 30 && break
        sleep 0.1
    done
    tb_kill "$pid" >/dev/null
    if [[ -n $ok ]]; then
        for f in "$@"; do last+=" $(since "$t0" "$(bench_appear_ts "$f" "$name")")"; done
        echo "# $phase: warm-up service crossed after$last s (one figure per browser)"
    else
        echo "# $phase: WARM-UP SERVICE DID NOT CROSS WITHIN 30 s; measuring anyway"
    fi
    # Let its withdrawal pass before the measurement (bounded).
    t0=$(bench_now)
    for ((i = 0; i < 100; i++)); do
        ok=1
        for f in "$@"; do bench_gone_ts "$f" "$name" 0 >/dev/null || { ok=""; break; }; done
        [[ -n $ok ]] && break
        elapsed_ge "$t0" 5 && break
        sleep 0.1
    done
}

# run_phase PHASE [HOST...]: a browser on each HOST (default hb), warm-up, bulk publish, wait
# until every browser has resolved all. Sets R_* from the first HOST's browser and R_T100_OF[HOST],
# R_RES_OF[HOST] for each. Leaves the publisher running (PUB_PID) and the browsers (BROWSE_PIDS,
# BROWSE_FILES, BROWSE_HOSTS).
declare -A R_T100_OF R_RES_OF W_TIME_OF W_LEFT_OF
run_phase() {
    local phase=$1 log="$TB_DIR/log/bulk-$1.log" t0="" i p h file pid done_all r t50 t90 t100 fails
    local last_report=0 now_s
    shift
    BROWSE_HOSTS=("${@:-hb}") BROWSE_FILES=() BROWSE_PIDS=()
    for h in "${BROWSE_HOSTS[@]}"; do
        file=$TB_DIR/browse-$phase-$h.txt
        BROWSE_FILES+=("$file")
        pid=$(bench_browser_start "$h" "$BENCH_TYPE" "$file") || return 1
        BROWSE_PIDS+=("$pid")
    done
    sleep 1
    warm_up "$phase" "${BROWSE_FILES[@]}"
    CPU0_A="" CPU0_B=""
    if [[ -n ${GWA_PID:-} ]]; then
        CPU0_A=$(bench_cpu_ticks "$GWA_PID") CPU0_B=$(bench_cpu_ticks "$GWB_PID")
    fi
    local snap0
    snap0=$(snapshot)
    UDP0=$(udp_drops)
    PUB_PID=$(tb_spawn ha "$log" "$BENCH_PYTHON" -u "$PUBLISHER" --count "$COUNT" \
        --type "$BENCH_TYPE" --per-group "$PER_GROUP" --hold 600) || return 1
    for ((i = 0; i < 200; i++)); do
        t0=$(awk '$1 == "start" { print $2; exit }' "$log")
        [[ -n $t0 ]] && break
        tb_alive "$PUB_PID" || break
        sleep 0.05
    done
    if [[ -z $t0 ]]; then
        echo "# $phase: the publisher did not start:"; sed 's/^/#   /' "$log" | tail -n 20
        return 1
    fi
    R_DONE=0
    for ((i = 0; i < PHASE_TIMEOUT_S * 5 + 50; i++)); do
        done_all=1 r=""
        for file in "${BROWSE_FILES[@]}"; do
            read -r p _ <<<"$(progress "$file" "$COUNT")"
            ((p >= COUNT)) || done_all=0
            r+=" $p/$COUNT"
        done
        ((done_all)) && { R_DONE=1; break; }
        elapsed_ge "$t0" "$PHASE_TIMEOUT_S" && break
        now_s=$(since "$t0" "$(bench_now)"); now_s=${now_s%.*}
        if ((now_s >= last_report + 10)); then
            last_report=$now_s
            echo "#   $phase: t=${now_s}s resolved on ${BROWSE_HOSTS[*]}:$r"
        fi
        sleep 0.2
    done
    echo "# $phase: while carrying: $(snapshot_delta "$snap0" "$(snapshot)")"
    echo "# $phase: UDP datagrams dropped by the kernel (receive buffer full) while carrying:" \
        "$(udp_drops_delta "$UDP0" "$(udp_drops)")"
    R_T0=$t0
    local c e
    c=$(awk '$1 == "committed" { print $2; exit }' "$log")
    e=$(awk '$1 == "established" { print $2; exit }' "$log")
    R_COMMIT=$(since "$t0" "${c:--}") R_ESTAB=$(since "$t0" "${e:--}")
    grep -q '^not-established' "$log" && echo "# $phase: publisher: $(grep '^not-established' "$log")"
    echo "# $phase: on ha all committed after ${R_COMMIT}s, $([[ $R_ESTAB == - ]] &&
        echo "not yet all established" || echo "all established after ${R_ESTAB}s")"
    for ((i = ${#BROWSE_HOSTS[@]} - 1; i >= 0; i--)); do
        h=${BROWSE_HOSTS[i]} file=${BROWSE_FILES[i]}
        read -r r _ t50 t90 t100 fails _ <<<"$(progress "$file" "$COUNT")"
        t50=$(since "$t0" "$t50") t90=$(since "$t0" "$t90") t100=$(since "$t0" "$t100")
        echo "# $phase: resolved on $h: $r/$COUNT (50% after ${t50}s, 90% after ${t90}s," \
            "all after ${t100}s)"
        ((fails)) && echo "# $phase: avahi-browse on $h reported $fails failures, e.g.: $(grep -m1 ' Failed' "$file")"
        ((r >= COUNT)) || echo "# $phase: INCOMPLETE after ${PHASE_TIMEOUT_S}s: $r of $COUNT resolved on $h"
        R_T100_OF[$h]=$t100 R_RES_OF[$h]=$r
        R_RES=$r R_T50=$t50 R_T90=$t90 R_T100=$t100
    done
    return 0
}

# withdraw_all PHASE: kill the publisher, wait (bounded) until no browser knows any of the names.
# Sets W_TIME/W_LEFT from the first browser and W_TIME_OF[HOST]/W_LEFT_OF[HOST] for each.
withdraw_all() {
    local phase=$1 t1 i j present tzero u0 log="$TB_DIR/log/bulk-$1.log" h all_gone
    # Withdraw from a steady state: wait (bounded) until ha's avahi has every group established.
    for ((i = 0; i < 150; i++)); do
        grep -q '^established\|^not-established' "$log" && break
        tb_alive "$PUB_PID" || break
        sleep 0.1
    done
    grep -q '^established' "$log" || echo "# $phase: withdrawing before ha reported every group established"
    u0=$(udp_drops)
    t1=$(bench_now)
    W_T1=$t1
    tb_kill "$PUB_PID" >/dev/null
    for h in "${BROWSE_HOSTS[@]}"; do W_TIME_OF[$h]=- W_LEFT_OF[$h]=-1; done
    for ((i = 0; i < WITHDRAW_TIMEOUT_S * 5 + 50; i++)); do
        all_gone=1
        for ((j = 0; j < ${#BROWSE_HOSTS[@]}; j++)); do
            h=${BROWSE_HOSTS[j]}
            [[ ${W_TIME_OF[$h]} == - ]] || continue
            read -r _ present _ _ _ _ tzero <<<"$(progress "${BROWSE_FILES[j]}" "$COUNT")"
            W_LEFT_OF[$h]=$present
            if ((present == 0)); then W_TIME_OF[$h]=$(since "$t1" "$tzero"); else all_gone=0; fi
        done
        ((all_gone)) && break
        elapsed_ge "$t1" "$WITHDRAW_TIMEOUT_S" && break
        sleep 0.2
    done
    echo "# $phase: UDP datagrams dropped by the kernel (receive buffer full) while withdrawing:" \
        "$(udp_drops_delta "$u0" "$(udp_drops)")"
    for h in "${BROWSE_HOSTS[@]}"; do
        if [[ ${W_TIME_OF[$h]} == - ]]; then
            echo "# $phase: after ${WITHDRAW_TIMEOUT_S}s $h still knows ${W_LEFT_OF[$h]} of the $COUNT names"
        else
            echo "# $phase: all withdrawn on $h ${W_TIME_OF[$h]}s after the publisher exited"
        fi
    done
    W_TIME=${W_TIME_OF[${BROWSE_HOSTS[0]}]} W_LEFT=${W_LEFT_OF[${BROWSE_HOSTS[0]}]}
    for i in "${BROWSE_PIDS[@]}"; do tb_kill "$i" >/dev/null; done
}

# snapshot: "HOST=TICKS" of every running avahi-daemon, then "laneA=PKTS laneB=PKTS" (packets
# received + sent by ha's and hb's br0, and hc's when paired: the mDNS traffic on each LAN).
snapshot() {
    local h pid t ns rx tx
    for h in $SNAP_HOSTS; do
        pid=$(tb_avahi_pid "$h" 2>/dev/null) || continue
        t=$(bench_cpu_ticks "$pid") && printf '%s=%s ' "$h" "$t"
    done
    for h in $LAN_HOSTS; do
        ns=$(tb_ns "$h")
        read -r rx tx < <(ip netns exec "$ns" cat /sys/class/net/br0/statistics/rx_packets \
            /sys/class/net/br0/statistics/tx_packets 2>/dev/null | tr '\n' ' ')
        printf 'lan%s=%s ' "${h#h}" "$((${rx:-0} + ${tx:-0}))"
    done
    echo
}

# udp_drops: "HOST:WHAT=N ..." -- datagrams dropped on arrival (receive buffer full) by each
# host's UDP sockets, summed per kind of socket: mdns (port 5353: avahi-daemon), dht (port
# 4222: z2z's DHT node), other. From the "drops" column of /proc/net/udp and /proc/net/udp6
# in the host's namespace; a socket's counter starts at 0 when it is opened.
udp_drops() {
    local h
    for h in $SNAP_HOSTS; do
        ip netns exec "$(tb_ns "$h")" cat /proc/net/udp /proc/net/udp6 2>/dev/null |
            awk -v h="$h" '$1 ~ /^[0-9]+:$/ {
                    port = $2; sub(/.*:/, "", port)
                    what = port == "14E9" ? "mdns" : port == "107E" ? "dht" : "other"
                    n[what] += $NF
                }
                END { for (w in n) printf "%s:%s=%d ", h, w, n[w] }'
    done
    echo
}

# udp_drops_delta "BEFORE" "AFTER": "ha:mdns N, ga:dht N" for the sockets that dropped any.
udp_drops_delta() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, " "); for (i = 1; i <= n; i++) { split(x[i], kv, "="); va[kv[1]] = kv[2] }
        n = split(b, y, " ")
        for (i = 1; i <= n; i++) {
            split(y[i], kv, "="); d = kv[2] - va[kv[1]]
            if (d > 0) out = out (out == "" ? "" : ", ") kv[1] " " d
        }
        print (out == "" ? "none" : out)
    }'
}

# snapshot_delta "BEFORE" "AFTER": avahi CPU seconds per host and packets per LAN in between.
snapshot_delta() {
    awk -v a="$1" -v b="$2" -v hz="$HZ" 'BEGIN {
        n = split(a, x, " "); for (i = 1; i <= n; i++) { split(x[i], kv, "="); va[kv[1]] = kv[2] }
        n = split(b, y, " ")
        for (i = 1; i <= n; i++) {
            split(y[i], kv, "=")
            if (!(kv[1] in va)) continue
            if (kv[1] ~ /^lan/) lan = lan sprintf(" LAN %s %d", toupper(substr(kv[1], 4)), kv[2] - va[kv[1]])
            else cpu = cpu sprintf(" %s %.2f", kv[1], (kv[2] - va[kv[1]]) / hz)
        }
        printf "avahi-daemon CPU s:%s; packets (br0 rx+tx of the host on each LAN):%s\n", cpu, lan
    }'
}

# stage_stats: "NAME SECONDS" lines (first per bench-N name counts) -> "N p50/p90/max" in s.
stage_stats() {
    awk '$1 ~ /^bench-[0-9]+$/ && !($1 in seen) { seen[$1] = 1; print $2 }' | sort -g |
        awk '{ v[++n] = $1 }
            function rank(q,   r) { r = int(q * n); if (r < q * n) r++; if (r < 1) r = 1; return v[r] }
            END { if (n == 0) print "0 -"; else printf "%d %.2f/%.2f/%.2f\n", n, rank(0.5), rank(0.9), v[n] }'
}

# stages LABEL T0 FILE-OR-"" PATTERN... : one line "LABEL: where n p50/p90/max" per z2z log pattern
# ("gwa.log:REGEX" or "gwb.log:REGEX"), then hb's browser file if given.
stages() {
    local label=$1 t0=$2 out="" spec n st
    shift 2
    for spec in "$@"; do
        read -r n st <<<"$(bench_log_times "$TB_DIR/log/${spec%%:*}" "${spec#*:}" "$t0" | stage_stats)"
        out+="  ${spec%%.log:*}:$(sed 's/\\//g; s/^.*\] //; s/ .*$//' <<<"${spec#*:}") n=$n $st;"
    done
    echo "# $label (s, p50/p90/max):$out"
}

mib() { awk -v k="$1" 'BEGIN { if (k == "") print "-"; else printf "%.1f\n", k / 1024 }'; }
pct() { awk -v d="$1" -v hz="$HZ" -v s="$2" 'BEGIN { if (d == "" || s <= 0) print "-"; else printf "%.2f\n", 100 * d / hz / s }'; }

# gateway_costs: called once every service is across (or the count timed out). Sets the
# gateways' CPU seconds since CPU0_A/CPU0_B (carrying), their CPU in % of a core over two idle
# windows of IDLE_S each, and their peak and current RSS.
gateway_costs() {
    # CPU used while carrying: from the start of publishing to the last resolved line (or now).
    t_end=$(bench_now)
    CPU1_A=$(bench_cpu_ticks "$GWA_PID") CPU1_B=$(bench_cpu_ticks "$GWB_PID")
    carry_s=$(awk -v a="$R_T0" -v b="$t_end" 'BEGIN { printf "%.2f\n", b - a }')
    # Idle window.
    I0_A=$(bench_cpu_ticks "$GWA_PID") I0_B=$(bench_cpu_ticks "$GWB_PID")
    i0=$(bench_now)
    sleep "$IDLE_S"
    I1_A=$(bench_cpu_ticks "$GWA_PID") I1_B=$(bench_cpu_ticks "$GWB_PID")
    i1=$(bench_now)
    idle_s=$(awk -v a="$i0" -v b="$i1" 'BEGIN { printf "%.3f\n", b - a }')
    # A second window right after: the gateways' work that the burst left for later (repeated
    # announcements, gateway A's resolvers that follow each service) is over or thinner by then.
    sleep "$IDLE_S"
    I2_A=$(bench_cpu_ticks "$GWA_PID") I2_B=$(bench_cpu_ticks "$GWB_PID")
    i2=$(bench_now)
    idle2_s=$(awk -v a="$i1" -v b="$i2" 'BEGIN { printf "%.3f\n", b - a }')
    HWM_A=$(bench_status_kb "$GWA_PID" VmHWM) HWM_B=$(bench_status_kb "$GWB_PID" VmHWM)
    RSS_A=$(bench_status_kb "$GWA_PID" VmRSS) RSS_B=$(bench_status_kb "$GWB_PID" VmRSS)
    idle_a=$(pct "$((I1_A - I0_A))" "$idle_s") idle_b=$(pct "$((I1_B - I0_B))" "$idle_s")
    idle2_a=$(pct "$((I2_A - I1_A))" "$idle2_s") idle2_b=$(pct "$((I2_B - I1_B))" "$idle2_s")
    carry_a=$(awk -v d="$((CPU1_A - CPU0_A))" -v hz="$HZ" 'BEGIN { printf "%.2f\n", d / hz }')
    carry_b=$(awk -v d="$((CPU1_B - CPU0_B))" -v hz="$HZ" 'BEGIN { printf "%.2f\n", d / hz }')
}

# print_gateway_costs LABEL_A LABEL_B: the table of gateway_costs' figures.
print_gateway_costs() {
    printf '%-12s %12s %12s %14s %15s %16s\n' gateway peak_rss_mib rss_mib idle_cpu_pct idle2_cpu_pct \
        carry_cpu_s
    printf '%-12s %12s %12s %14s %15s %16s\n' "$1" "$(mib "$HWM_A")" "$(mib "$RSS_A")" \
        "$idle_a" "$idle2_a" "$carry_a"
    printf '%-12s %12s %12s %14s %15s %16s\n' "$2" "$(mib "$HWM_B")" "$(mib "$RSS_B")" \
        "$idle_b" "$idle2_b" "$carry_b"
    echo "(peak_rss = VmHWM, rss = VmRSS after the idle window; idle_cpu_pct = utime+stime over"
    echo " ${idle_s}s of idle right after the count completed, idle2_cpu_pct over the ${idle2_s}s after"
    echo " that, in % of one core; carry_cpu_s = CPU seconds from the start of publishing"
    echo " to ${carry_s}s later, when the count was complete or timed out)"
}

# loop_traces_start: with BENCH_LOOP_WAITS=1, `perf trace` follows the poll() calls of both
# gateways (GWA_PID, GWB_PID) until loop_traces_stop.
TRACE_PIDS=() LOOP_A=("-" "-" "-") LOOP_B=("-" "-" "-")
loop_traces_start() {
    local g pid_var
    [[ ${BENCH_LOOP_WAITS:-0} == 1 ]] || return 0
    if ! command -v perf >/dev/null; then
        echo "# BENCH_LOOP_WAITS=1: perf is not installed; loop waits not measured"
        return 0
    fi
    for g in a b; do
        pid_var=GW${g^^}_PID
        perf trace -e poll -p "${!pid_var}" -o "$TB_DIR/log/gw$g.polls" 2>/dev/null &
        TRACE_PIDS+=("$!")
    done
}

# loop_waits FILE: "CALLS TOTAL_MS LONGEST_MS" of the blocking D-Bus calls in a perf trace.
loop_waits() {
    [[ -s $1 ]] || { echo "- - -"; return; }
    awk '/ poll\(ufds: [^,]*, nfds: 1, timeout_msecs: [0-9]+\)/ {
        if (!match($0, /timeout_msecs: [0-9]+/)) next
        if (substr($0, RSTART + 15, RLENGTH - 15) + 0 < 20000) next
        if (!match($0, /\( *[0-9.]+ ms\)/)) next
        d = substr($0, RSTART + 1, RLENGTH - 5) + 0
        n++; total += d; if (d > longest) longest = d
    }
    END { printf "%d %.0f %.0f\n", n, total, longest }' "$1"
}

# loop_traces_stop: ends the traces and sets LOOP_A and LOOP_B from them.
loop_traces_stop() {
    local i
    ((${#TRACE_PIDS[@]})) || return 0
    kill -INT "${TRACE_PIDS[@]}" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "${TRACE_PIDS[@]}" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "${TRACE_PIDS[@]}" 2>/dev/null
    wait "${TRACE_PIDS[@]}" 2>/dev/null
    read -r -a LOOP_A <<<"$(loop_waits "$TB_DIR/log/gwa.polls")"
    read -r -a LOOP_B <<<"$(loop_waits "$TB_DIR/log/gwb.polls")"
}

# print_gateway_keys: gateway_costs' figures as key=value lines.
print_gateway_keys() {
    echo "gwa_peak_rss_mib=$(mib "$HWM_A")"
    echo "gwb_peak_rss_mib=$(mib "$HWM_B")"
    echo "gwa_idle_cpu_pct=$idle_a"
    echo "gwb_idle_cpu_pct=$idle_b"
    echo "gwa_idle2_cpu_pct=$idle2_a"
    echo "gwb_idle2_cpu_pct=$idle2_b"
    echo "gwa_carry_cpu_s=$carry_a"
    echo "gwb_carry_cpu_s=$carry_b"
    if ((${#TRACE_PIDS[@]})); then
        echo "gwa_loop_blocking_calls=${LOOP_A[0]}"
        echo "gwa_loop_blocked_ms=${LOOP_A[1]}"
        echo "gwa_loop_longest_block_ms=${LOOP_A[2]}"
        echo "gwb_loop_blocking_calls=${LOOP_B[0]}"
        echo "gwb_loop_blocked_ms=${LOOP_B[1]}"
        echo "gwb_loop_longest_block_ms=${LOOP_B[2]}"
    fi
}

# gateway_checks LOG_A LOG_B AVAHI_HOST...: warn if a gateway has died (sets G_ALIVE), count
# the warnings and errors in the gateways' logs and the avahi-daemon log lines about limits.
gateway_checks() {
    local pid f h n
    G_ALIVE=1
    for pid in "$GWA_PID" "$GWB_PID"; do
        tb_alive "$pid" || { echo "# WARNING: gateway PID $pid is no longer running"; G_ALIVE=0; }
    done
    for f in "$1" "$2"; do
        echo "# $f.log: $(grep -c ' warning ' "$TB_DIR/log/$f.log") warnings," \
            "$(grep -c ' error ' "$TB_DIR/log/$f.log") errors"
    done
    for h in "${@:3}"; do
        n=$(grep -ciE 'too many|limit|exceed|full' "$TB_DIR/log/$h.avahi.log")
        ((n)) && echo "# $h avahi-daemon log: $n lines about limits, e.g.: $(grep -m1 -iE 'too many|limit|exceed|full' "$TB_DIR/log/$h.avahi.log")"
    done
}

# ratio A B: B / A with two decimals, "-" if either is missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a <= 0) print "-"; else printf "%.2f\n", b / a }'; }

# ---- Paired run: reflector and z2z at once ----------------------------------------------
if [[ $PAIRED == 1 ]]; then
    echo "# paired (BENCH_PAIRED=1): one publisher on LAN A; the reflector (rf) carries it to LAN B," \
        "and at the same time z2z (ga --export, gc --import) to LAN C; browsers on hb and hc"
    tb_reflector_start || { echo "reflector did not start" >&2; exit 1; }
    GWA_PID=$(_bench_z2z_start ga gwa.log --export "$BENCH_TYPE" --key "$BENCH_KEY" \
        --interface lan0) || { echo "# gateway A did not start"; exit 1; }
    GWB_PID=$(_bench_z2z_start gc gwc.log --import --key "$BENCH_KEY" --interface lan0 \
        --bootstrap "$(tb_addr ga wan)") || { echo "# gateway C did not start"; exit 1; }
    loop_traces_start
    run_phase paired hb hc || { bench_gateway_logs 30; exit 1; }
    stages "z2z stages from publish start" "$R_T0" "gwa.log:\\[bridge\\] exported '" \
        "gwc.log:\\[bridge\\] importing '" "gwc.log:\\[mdns\\] published '"
    gateway_costs
    withdraw_all paired
    e=$(awk '$1 == "established" { print $2; exit }' "$TB_DIR/log/bulk-paired.log")
    R_ESTAB=$(since "$R_T0" "${e:--}")
    stages "z2z withdrawal stages from the publisher's exit" "$W_T1" \
        "gwa.log:\\[bridge\\] withdrew '" "gwc.log:\\[mdns\\] withdrew '"
    gateway_checks gwa gwc ha ga gb hb gc hc
    ((R_DONE && G_ALIVE)) || bench_gateway_logs 30
    loop_traces_stop
    tb_kill "$GWB_PID" >/dev/null
    tb_kill "$GWA_PID" >/dev/null
    tb_reflector_stop
    echo
    printf '%-14s %9s %9s %12s\n' path resolved t_all_s withdraw_s
    printf '%-14s %9s %9s %12s\n' "reflector (hb)" "${R_RES_OF[hb]}/$COUNT" "${R_T100_OF[hb]}" \
        "${W_TIME_OF[hb]}"
    printf '%-14s %9s %9s %12s\n' "z2z (hc)" "${R_RES_OF[hc]}/$COUNT" "${R_T100_OF[hc]}" \
        "${W_TIME_OF[hc]}"
    echo "(one publisher, both paths at once: times in s from its first D-Bus call; ha had every"
    echo " group established after ${R_ESTAB}s; withdraw_s: from killing the publisher until the"
    echo " browser knows none of the names, '-' = not within ${WITHDRAW_TIMEOUT_S}s)"
    echo
    print_gateway_costs "ga (export)" "gc (import)"
    bench_footer
    echo
    echo "scale_count=$COUNT"
    echo "scale_paired_all_reflector_s=${R_T100_OF[hb]}"
    echo "scale_paired_all_z2z_s=${R_T100_OF[hc]}"
    echo "scale_paired_ratio=$(ratio "${R_T100_OF[hb]}" "${R_T100_OF[hc]}")"
    echo "scale_paired_withdraw_all_reflector_s=${W_TIME_OF[hb]}"
    echo "scale_paired_withdraw_all_z2z_s=${W_TIME_OF[hc]}"
    print_gateway_keys
    tb_down
    exit 0
fi

# ---- Phase 1: reflector ----------------------------------------------------------------
echo "# phase 1: reflector (rf) between LAN A and LAN B, no gateways"
tb_reflector_start || { echo "reflector did not start" >&2; exit 1; }
run_phase refl || exit 1
REFL=("$R_RES" "$R_T50" "$R_T90" "$R_T100" "$R_COMMIT" "$R_ESTAB" "$R_DONE")
withdraw_all refl
REFL_W=$W_TIME REFL_WL=$W_LEFT
# The established time is known now (the publisher ran until all its groups were).
e=$(awk '$1 == "established" { print $2; exit }' "$TB_DIR/log/bulk-refl.log")
REFL[5]=$(since "$R_T0" "${e:--}")
tb_reflector_stop
tb_flush || { echo "avahi restart (tb_flush) failed" >&2; exit 1; }

# ---- Phase 2 of an A/A run: the reflector again ---------------------------------------------
if [[ ${BENCH_AA:-0} == 1 ]]; then
    echo "# phase 2 (BENCH_AA=1): the reflector again, as in phase 1"
    tb_reflector_start || { echo "reflector did not start" >&2; exit 1; }
    run_phase refl2 || exit 1
    REFL2=("$R_RES" "$R_T50" "$R_T90" "$R_T100")
    withdraw_all refl2
    tb_reflector_stop
    echo
    printf '%-10s %9s %8s %8s %9s %12s\n' path resolved t50_s t90_s t_all_s withdraw_s
    printf '%-10s %9s %8s %8s %9s %12s\n' reflector "${REFL[0]}/$COUNT" "${REFL[1]}" "${REFL[2]}" \
        "${REFL[3]}" "$REFL_W"
    printf '%-10s %9s %8s %8s %9s %12s\n' reflector2 "${REFL2[0]}/$COUNT" "${REFL2[1]}" \
        "${REFL2[2]}" "${REFL2[3]}" "$W_TIME"
    bench_footer
    echo
    echo "scale_count=$COUNT"
    echo "scale_all_reflector_s=${REFL[3]}"
    echo "scale_all_reflector2_s=${REFL2[3]}"
    echo "scale_aa_ratio=$(ratio "${REFL[3]}" "${REFL2[3]}")"
    tb_down
    exit 0
fi

# ---- Phase 2: z2z ------------------------------------------------------------------------
echo "# phase 2: z2z gateways (ga --export $BENCH_TYPE, gb --import), reflector stopped"
if ! bench_gateways_start; then
    echo "# z2z gateways did not start"
    bench_gateway_logs 30
    exit 1
fi
loop_traces_start
run_phase z2z || { bench_gateway_logs 30; exit 1; }
Z=("$R_RES" "$R_T50" "$R_T90" "$R_T100" "$R_COMMIT" "$R_ESTAB" "$R_DONE")
# Where the time goes (from the gateways' info logs; empty if their format changes).
stages "z2z stages from publish start" "$R_T0" "gwa.log:\\[bridge\\] exported '" \
    "gwb.log:\\[bridge\\] importing '" "gwb.log:\\[mdns\\] published '"
gateway_costs
# Late arrivals during the idle window still count for the resolved total.
read -r late _ <<<"$(progress "${BROWSE_FILES[0]}" "$COUNT")"
((late > Z[0])) && echo "# z2z: $late/$COUNT resolved on hb by the end of the idle window"
withdraw_all z2z
Z2Z_W=$W_TIME Z2Z_WL=$W_LEFT
e=$(awk '$1 == "established" { print $2; exit }' "$TB_DIR/log/bulk-z2z.log")
Z[5]=$(since "$R_T0" "${e:--}")
stages "z2z withdrawal stages from the publisher's exit" "$W_T1" "gwa.log:\\[bridge\\] withdrew '" \
    "gwb.log:\\[mdns\\] withdrew '"
gateway_checks gwa gwb ha ga gb hb
((Z[6] && G_ALIVE)) || bench_gateway_logs 30
loop_traces_stop
# Stop the gateways first (clean withdrawal), then the testbed.
tb_kill "$GWB_PID" >/dev/null
tb_kill "$GWA_PID" >/dev/null

# ---- Results -----------------------------------------------------------------------------
echo
printf '%-10s %9s %8s %8s %9s %14s %12s\n' path resolved t50_s t90_s t_all_s ha_established withdraw_s
printf '%-10s %9s %8s %8s %9s %14s %12s\n' reflector "${REFL[0]}/$COUNT" "${REFL[1]}" "${REFL[2]}" \
    "${REFL[3]}" "${REFL[5]}" "$REFL_W"
printf '%-10s %9s %8s %8s %9s %14s %12s\n' z2z "${Z[0]}/$COUNT" "${Z[1]}" "${Z[2]}" "${Z[3]}" \
    "${Z[5]}" "$Z2Z_W"
echo "(times in s from the publisher's first D-Bus call; ha_established: ha's avahi had probed"
echo " every group; withdraw_s: from killing the publisher until hb knows none of the names,"
echo " '-' = not within ${WITHDRAW_TIMEOUT_S}s; t_all_s '-' = incomplete within ${PHASE_TIMEOUT_S}s)"
echo
print_gateway_costs "ga (export)" "gb (import)"
bench_footer
echo
delta_t=$(awk -v a="${REFL[3]}" -v b="${Z[3]}" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.2f\n", b - a }')
echo "scale_count=$COUNT"
echo "scale_resolved_reflector=${REFL[0]}"
echo "scale_resolved_z2z=${Z[0]}"
echo "scale_t50_reflector_s=${REFL[1]}"
echo "scale_t90_reflector_s=${REFL[2]}"
echo "scale_all_reflector_s=${REFL[3]}"
echo "scale_t50_z2z_s=${Z[1]}"
echo "scale_t90_z2z_s=${Z[2]}"
echo "scale_all_z2z_s=${Z[3]}"
echo "scale_all_delta_s=$delta_t"
echo "scale_ha_established_reflector_s=${REFL[5]}"
echo "scale_ha_established_z2z_s=${Z[5]}"
echo "scale_withdraw_all_reflector_s=$REFL_W"
echo "scale_withdraw_all_z2z_s=$Z2Z_W"
echo "scale_withdraw_left_reflector=$REFL_WL"
echo "scale_withdraw_left_z2z=$Z2Z_WL"
print_gateway_keys
tb_down
