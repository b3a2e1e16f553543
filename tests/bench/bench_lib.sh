# shellcheck shell=bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# bench_lib.sh -- what the z2z benchmarks (latency.sh, scale.sh) share on top of
# tests/integration/testbed.sh. Benchmarks print figures; they are not pass/fail tests.
#
#   bench_init SCRIPT Z2Z_BINARY ARGS...
#                           check root and the binary, print the header (date, command line,
#                           commit, versions)
#   bench_footer            print the end time and load average
#   bench_now               current wall-clock time in seconds with microseconds ("%.6f")
#   bench_browser_start HOST TYPE FILE
#                           one long-lived "avahi-browse -prk TYPE" on HOST, every output line
#                           (stdout and stderr) prefixed with its arrival time ("EPOCH.USEC ");
#                           prints the PID (stop it with tb_kill)
#   bench_gateways_start    start z2z on ga (--export) and gb (--import), set GWA_PID and GWB_PID;
#                           with BENCH_GATEWAY_API=1, gb runs no DHT node but uses ga's served
#                           gateway API (--gateway, --poll BENCH_POLL_S, default 1) and ga's node
#                           gets a bare peer (dht_tool serve; BENCH_DHT_TOOL, default next to z2z)
#   bench_appear_ts FILE NAME
#                           print the time of the first resolved "=" line of NAME in FILE
#   bench_gone_ts FILE NAME SINCE
#                           print the time of the first "-" line of NAME at or after SINCE after
#                           which no (interface, protocol) of NAME is present any more
#   bench_stats             read values (one per line) from stdin, print "N MIN P50 P90 MAX"
#                           (nearest-rank percentiles, values rounded to integers) or "0 - - - -"
#   bench_cpu_ticks PID     utime+stime of PID in clock ticks
#   bench_status_kb PID KEY value of KEY (VmHWM, VmRSS) in /proc/PID/status, in kB
#   bench_log_times LOG REGEX T0
#                           "NAME SECONDS-SINCE-T0" for the z2z log lines matching REGEX
#
# Names used by the benchmarks are plain (letters, digits, '-'), so the escaped name field of
# "avahi-browse -p" equals the name.

# shellcheck source=tests/integration/testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/testbed.sh"

BENCH_TYPE=${BENCH_TYPE:-_bench._tcp}
BENCH_KEY=${BENCH_KEY:-bench}
BENCH_Z2Z_LOG_LEVEL=${BENCH_Z2Z_LOG_LEVEL:-info}
# The browser is bounded too: it never outlives this many seconds.
BENCH_BROWSE_MAX_S=${BENCH_BROWSE_MAX_S:-900}
BENCH_PYTHON=${BENCH_PYTHON:-/usr/bin/python3}

bench_now() {
    local t=${EPOCHREALTIME/,/.}
    printf '%s\n' "$t"
}

# bench_count SCRIPT VALUE MAX WHAT: exit 2 with a usage line unless VALUE is a whole number
# from 1 to MAX. WHAT names it in the usage line, e.g. "N (1-200, default 20)".
bench_count() {
    local script=$1 value=$2 max=$3 what=$4
    if [[ ! $value =~ ^[0-9]+$ ]] || ((value < 1 || value > max)); then
        echo "usage: $script PATH-TO-z2z [$what]" >&2
        exit 2
    fi
}

bench_init() {
    local script=$1 bin=${2:-}
    shift 2
    if ((EUID != 0)); then
        echo "$script: must run as root (network namespaces)" >&2
        exit 2
    fi
    Z2Z_BIN=$(readlink -f "$bin" 2>/dev/null)
    if [[ -z $bin || ! -x $Z2Z_BIN ]]; then
        echo "usage: $script PATH-TO-z2z [SIZE]" >&2
        exit 2
    fi
    local repo commit
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$repo" diff --quiet HEAD 2>/dev/null || commit="$commit+dirty"
    echo "# z2z benchmark: $script"
    echo "# date:      $(date -u '+%Y-%m-%dT%H:%M:%SZ') ($(date '+%Y-%m-%d %H:%M:%S %Z'))"
    echo "# command:   $script $bin $*"
    echo "# binary:    $Z2Z_BIN ($("$Z2Z_BIN" --version 2>/dev/null | head -n 1)," \
        "built $(date -u -r "$Z2Z_BIN" '+%Y-%m-%dT%H:%M:%SZ'))"
    echo "# tree:      $repo at $commit (now; the binary may be older)"
    echo "# host:      $(uname -srm), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
        "$(avahi-daemon --version 2>/dev/null | head -n 1)"
    local v any=""
    for v in TB_AVAHI_CONF TB_AVAHI_CONF_ha TB_AVAHI_CONF_ga TB_AVAHI_CONF_gb TB_AVAHI_CONF_hb \
        TB_AVAHI_CONF_rf TB_AVAHI_CONF_hc; do
        [[ -n ${!v:-} ]] || continue
        any=1
        echo "# avahi:     $v=\"${!v}\" (avahi-daemon.conf overrides, the same in both phases)"
    done
    [[ -n $any ]] || echo "# avahi:     testbed defaults (no TB_AVAHI_CONF overrides)"
}

bench_footer() {
    echo "# finished:  $(date -u '+%Y-%m-%dT%H:%M:%SZ'), load average $(cut -d' ' -f1-3 /proc/loadavg)" \
        "(other work on this machine disturbs the figures)"
}

bench_browser_start() {
    local host=$1 type=$2 file=$3
    : >"$file" || return 1
    # stdbuf: avahi-browse writes through stdio; perl stamps each line when it arrives.
    # shellcheck disable=SC2016  # expanded by the inner shell
    tb_spawn "$host" "$file" sh -c '
        timeout "$1" stdbuf -oL -eL avahi-browse -prk "$2" 2>&1 |
            perl -MTime::HiRes=time -ne '\''BEGIN { $| = 1 } printf "%.6f %s", time, $_'\''
    ' bench-browse "$BENCH_BROWSE_MAX_S" "$type"
}

# A resolved line: "TS =;IFACE;PROTO;NAME;TYPE;DOMAIN;HOST;ADDR;PORT;TXT" (>= 10 fields).
bench_appear_ts() {
    LC_ALL=C awk -v name="$2" '
        { ts = $1; rest = substr($0, length($1) + 2); n = split(rest, f, ";") }
        f[1] == "=" && n >= 10 && f[4] == name { print ts; found = 1; exit }
        END { exit !found }' "$1"
}

bench_gone_ts() {
    LC_ALL=C awk -v name="$2" -v since="$3" '
        { ts = $1; rest = substr($0, length($1) + 2); n = split(rest, f, ";") }
        n < 6 || f[4] != name { next }
        { key = f[2] ";" f[3] }
        f[1] == "+" || f[1] == "=" { if (!(key in present)) { present[key] = 1; np++ } }
        f[1] == "-" {
            if (key in present) { delete present[key]; np-- }
            if (np == 0 && ts + 0 >= since + 0) { print ts; found = 1; exit }
        }
        END { exit !found }' "$1"
}

bench_stats() {
    sort -g | awk '
        { v[++n] = $1 }
        function rank(q,   r) { r = int(q * n); if (r < q * n) r++; if (r < 1) r = 1; return v[r] }
        END {
            if (n == 0) { print "0 - - - -"; exit }
            printf "%d %.0f %.0f %.0f %.0f\n", n, v[1], rank(0.5), rank(0.9), v[n]
        }'
}

bench_cpu_ticks() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    # shellcheck disable=SC2086  # word splitting wanted
    set -- $st
    # after "PID (comm) ": field 3 of stat is $1, so utime (14) is $12, stime (15) is $13
    printf '%s\n' "$((${12} + ${13}))"
}

bench_status_kb() {
    awk -v k="$2:" '$1 == k { print $2; found = 1 } END { exit !found }' "/proc/$1/status" 2>/dev/null
}

# bench_log_times LOG REGEX T0: for every line of a z2z log ("HH:MM:SS.mmm LEVEL [tag] ...",
# local time) matching REGEX, print "NAME SECONDS" where NAME is the first '...'-quoted word and
# SECONDS the line's time minus T0 (epoch seconds). Prints nothing if the format differs.
bench_log_times() {
    local log=$1 re=$2 t0=$3 sod0
    sod0=$(date -d "@${t0%.*}" '+%H %M %S' | awk -v f="0.${t0#*.}" '{ printf "%.6f\n", $1 * 3600 + $2 * 60 + $3 + f }')
    LC_ALL=C BENCH_RE=$re awk -v sod0="$sod0" '
        BEGIN { re = ENVIRON["BENCH_RE"] }
        $0 !~ re || $1 !~ /^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]+$/ { next }
        {
            split($1, t, ":"); sod = t[1] * 3600 + t[2] * 60 + t[3]
            d = sod - sod0; if (d < -43200) d += 86400; if (d > 43200) d -= 86400
            name = $0; if (!sub(/^[^\047]*\047/, "", name)) next; sub(/\047.*/, "", name)
            printf "%s %.3f\n", name, d
        }' "$log" 2>/dev/null
}

# Start one z2z; wait (bounded, 10 s) until it is connected to its avahi-daemon.
_bench_z2z_start() {
    local host=$1 log=$2 pid i
    shift 2
    pid=$(tb_spawn "$host" "$log" "$Z2Z_BIN" --log-level "$BENCH_Z2Z_LOG_LEVEL" "$@") || return 1
    for ((i = 0; i < 100; i++)); do
        grep -q "connected to avahi-daemon" "$TB_DIR/log/$log" 2>/dev/null && break
        tb_alive "$pid" || { echo "z2z on $host exited at start:" >&2; tail -n 20 "$TB_DIR/log/$log" >&2; return 1; }
        sleep 0.1
    done
    printf '%s\n' "$pid"
}

bench_gateways_start() {
    if [[ ${BENCH_GATEWAY_API:-0} == 1 ]]; then
        local tool=${BENCH_DHT_TOOL:-$(dirname "$Z2Z_BIN")/../tests/dht_tool}
        tb_spawn ga dhtnode.log "$tool" serve --port 4300 >/dev/null || return 1
        GWA_PID=$(_bench_z2z_start ga gwa.log --export "$BENCH_TYPE" --key "$BENCH_KEY" \
            --interface lan0 --bootstrap 127.0.0.1:4300 --xmlrpc-listen "$(tb_addr ga wan):5851" \
            --xmlrpc-rate 0) || return 1
        GWB_PID=$(_bench_z2z_start gb gwb.log --import --key "$BENCH_KEY" --interface lan0 \
            --gateway "http://$(tb_addr ga wan):5851/" --poll "${BENCH_POLL_S:-1}") || return 1
        return 0
    fi
    GWA_PID=$(_bench_z2z_start ga gwa.log --export "$BENCH_TYPE" --key "$BENCH_KEY" \
        --interface lan0) || return 1
    GWB_PID=$(_bench_z2z_start gb gwb.log --import --key "$BENCH_KEY" --interface lan0 \
        --bootstrap "$(tb_addr ga wan)") || return 1
    # The PIDs must be the gateways themselves, not a wrapper. comm is the executable's name,
    # cut to 15 characters: binaries under other names (an A/B run) are checked as well.
    local comm want
    want=$(basename "$Z2Z_BIN")
    want=${want:0:15}
    for pid in "$GWA_PID" "$GWB_PID"; do
        comm=$(cat "/proc/$pid/comm" 2>/dev/null)
        [[ $comm == "$want" ]] || echo "# warning: PID $pid is '$comm', not $want: RSS/CPU figures would be wrong" >&2
    done
}

# Print the last lines of the gateways' logs (for a failed or suspicious z2z phase).
bench_gateway_logs() {
    local f
    for f in "$TB_DIR"/log/gw*.log; do
        [[ -f $f ]] || continue
        echo "---- $(basename "$f") (last ${1:-30} lines)"
        tail -n "${1:-30}" "$f"
    done
}
