# shellcheck shell=bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# testbed.sh -- two real Zeroconf islands joined by two routers, in network
# namespaces, with one dbus-daemon and one avahi-daemon per host.
#
# Source this file from bash (>= 5, root). It defines functions and a few
# variables and changes no shell option; tb_up replaces the EXIT, INT, TERM
# and HUP traps (unless TB_NO_TRAP=1: then call tb_down yourself).
#
#   LAN A 198.18.1.0/24 fd00:1::/64        WAN 198.19.0.0/24 fd00:ff::/64
#   LAN B 198.18.2.0/24 fd00:2::/64
#
#   ha (br0 .1.2) ==bridge== ga lan0 (.1.1)  ga wan0 (198.19.0.1) --veth--
#                 ==bridge== rf lana (.1.3)                               |
#   hb (br0 .2.2) ==bridge== gb lan0 (.2.1)  gb wan0 (198.19.0.2) --veth--
#                 ==bridge== rf lanb (.2.3)
#
#   ha  host A      avahi "hosta" on br0        default route via ga
#   ga  gateway A   avahi "gwa"   on lan0 only  forwards, route to LAN B via gb
#   gb  gateway B   avahi "gwb"   on lan0 only  forwards, route to LAN A via ga
#   hb  host B      avahi "hostb" on br0        default route via gb
#   rf  reflector   avahi "refl"  on lana,lanb  enable-reflector=yes, no forwarding
#
# The two LANs are separate multicast links: no avahi ever listens on wan0 and
# the reflector's avahi only runs between tb_reflector_start/tb_reflector_stop.
# Namespaces are named "${TB_PREFIX}ha" etc.; interface names are fixed and
# short because every host has its own namespace.
#
# Four islands (TB_ISLANDS=4 before tb_up, or tb_up_islands 4): two more
# islands like A and B, and the four gateways' WANs on one switch "ws" (a
# bridge in its own namespace) instead of the ga-gb veth:
#
#   LAN C 198.18.3.0/24 fd00:3::/64  hc (br0 .3.2) -- gc lan0 (.3.1), wan0 198.19.0.3
#   LAN D 198.18.4.0/24 fd00:4::/64  hd (br0 .4.2) -- gd lan0 (.4.1), wan0 198.19.0.4
#   ws: br0 with ports wga wgb wgc wgd (the gateways' wan0 peers)
#
# Every gateway routes to the other LANs via their WAN addresses; avahi runs
# on ha ga gb hb hc gc hd gd (names hostc gwc hostd gwd). Island 1 is A
# (ha/ga), 2 is B (hb/gb), 3 is C (hc/gc), 4 is D (hd/gd).
#
# Functions (HOST is one of ha ga gb hb rf, and hc gc hd gd ws with four islands):
#   tb_up [PREFIX]        Build the topology (default prefix "z2z$$"), start
#                         dbus+avahi on ha ga gb hb, wait until every avahi is
#                         RUNNING, install an EXIT/INT/TERM/HUP trap calling
#                         tb_down (skip with TB_NO_TRAP=1). Exports TB_DIR and
#                         TB_PREFIX. Returns non-zero (after cleaning up) on
#                         failure.
#   tb_up_islands N [PREFIX]
#                         tb_up with N (2 or 4) islands.
#   tb_down               Idempotent cleanup: TERM then KILL every tracked
#                         process group (bounded waits), KILL whatever else
#                         still runs in the namespaces, delete the namespaces,
#                         remove TB_DIR unless TB_KEEP=1. Leaves the list of
#                         tracked "PID STARTTIME" in TB_LAST_PIDS and the prefix
#                         in TB_LAST_PREFIX so a caller can verify the cleanup.
#   tb_purge PREFIX       Remove the leftovers of a testbed whose shell died
#                         without cleanup (SIGKILL): kills processes inside the
#                         namespaces PREFIX{ha,ga,gb,hb,rf}, deletes them and
#                         the work dirs $TMPDIR/tb-PREFIX.XXXXXX.
#   tb_ns HOST            Print the namespace name of HOST.
#   tb_bus HOST           Print the D-Bus address of HOST's system bus
#                         (unix:path=$TB_DIR/HOST/dbus/system_bus_socket).
#   tb_if HOST            Print the interface(s) HOST's avahi uses (br0, lan0,
#                         lana,lanb).
#   tb_addr HOST [IF] [4|6]
#                         Print an address of HOST. IF: lan (default) or wan
#                         for ga/gb; lana (default, alias lan) or lanb for rf.
#                         e.g. "tb_addr ga wan" -> 198.19.0.1,
#                         "tb_addr hb lan 6" -> fd00:2::2.
#   tb_exec HOST CMD...   Run CMD in the foreground in HOST's namespace with
#                         DBUS_SYSTEM_BUS_ADDRESS set to HOST's bus (and HOST's
#                         bus directory bind-mounted over /run/dbus, so clients
#                         with the path compiled in work too). Returns CMD's status.
#   tb_spawn HOST LOG CMD...
#                         Start CMD like tb_exec but in the background, in a
#                         new session/process group, stdin from /dev/null and
#                         stdout+stderr appended to LOG (a bare file name goes
#                         to $TB_DIR/log/). Records it for cleanup, prints PID.
#   tb_kill PID [SIGNAL]  Send SIGNAL (default TERM) to the process group of a
#                         tracked PID, wait up to 3 s, then KILL it and wait up
#                         to 2 s. Returns 0 once it is gone.
#   tb_alive PID          True if the tracked PID still runs (zombies and
#                         reused PIDs count as dead).
#   tb_avahi_conf HOST SECTION.KEY=VALUE...
#                         Add avahi-daemon.conf overrides for HOST, applied at
#                         its next (re)start. The environment can do the same
#                         for all hosts (TB_AVAHI_CONF) or one host
#                         (TB_AVAHI_CONF_ha ...): whitespace separated
#                         SECTION.KEY=VALUE items, e.g.
#                         TB_AVAHI_CONF="server.objects-per-client-max=4096".
#                         Precedence: built-in < TB_AVAHI_CONF <
#                         TB_AVAHI_CONF_HOST < tb_avahi_conf. The config is
#                         regenerated at every start.
#   tb_avahi_start HOST / tb_avahi_stop HOST
#                         Start (and wait until RUNNING) / stop HOST's avahi.
#   tb_avahi_restart HOST Stop HOST's avahi-daemon by PID, start it again and
#                         wait until it is RUNNING.
#   tb_avahi_pid HOST     Print the PID of HOST's avahi-daemon (if running).
#   tb_reflector_start / tb_reflector_stop
#                         Start / stop the reflector's avahi (not started by
#                         tb_up, so that gateway tests run without reflector).
#                         Stopping the reflector sends no goodbyes for what it
#                         reflected: the other LAN keeps those records cached
#                         (service TTL 4500 s) even after their publisher
#                         exits. Withdraw services while the reflector still
#                         runs, or call tb_flush, before measuring anything else
#                         on the same testbed.
#   tb_flush [HOST...]    Restart the avahi of HOST (default: ha ga gb hb) in
#                         parallel to empty their caches; waits until RUNNING.
#   tb_publish HOST NAME TYPE PORT [TXT...]
#                         avahi-publish -s in the background (tb_spawn), wait
#                         up to TB_PUBLISH_TIMEOUT (5) s for "Established under
#                         name", print the PID. Kill it with tb_kill PID.
#   tb_browse HOST TYPE   One-shot "avahi-browse -prtk TYPE" on HOST, printed to
#                         stdout; repeated (at most 3 times) while some "+"
#                         line has no resolved "=" line yet.
#   tb_wait_service HOST TYPE NAME TIMEOUT_S [PROTO]
#                         Wait (bounded) until a resolved "=" line for service
#                         NAME (unescaped, exact) is known on HOST, optionally
#                         only for PROTO (IPv4 or IPv6); print that one line.
#                         Non-zero on timeout. TIMEOUT_S may be fractional.
#   tb_wait_gone HOST TYPE NAME TIMEOUT_S
#                         Wait (bounded) until HOST's avahi no longer knows
#                         service NAME. Non-zero on timeout.
#   tb_expect_absent "HOST..." TYPE NAME SECONDS
#                         Watch the hosts (space or comma separated) for
#                         SECONDS; fail as soon as any of them sees service
#                         NAME ("+" or "="), printing "HOST: LINE".
#   tb_resolve HOST TYPE NAME [4|6]
#                         Resolve NAME once through HOST's avahi (D-Bus
#                         ResolveService) with protocol and address family
#                         both IPv4 (default) or IPv6, so the address has that
#                         family (avahi-browse -r resolves with "any" family,
#                         the "=" line of IPv4 may carry an IPv6 address).
#                         Prints one line in the "=" format below; non-zero
#                         if it does not resolve (avahi times out after 5 s).
#   tb_unescape STRING    Decode an avahi-browse -p name field (see below).
#
# Service names in "avahi-browse -p" output are escaped per DNS label
# (avahi_escape_label): "." and "\" become "\." and "\\", letters, digits,
# "_" and "-" stay, every other byte becomes "\DDD" (decimal), e.g.
# "Toms Music" -> "Toms\032Music", "Tom's" -> "Tom\039s". tb_wait_service and
# tb_wait_gone decode field 4 before comparing, so pass the plain name. The
# "=" line has the fields
#   =;IFACE;PROTO;NAME;TYPE;DOMAIN;HOST;ADDRESS;PORT;"TXT1" "TXT2"...
# and avahi-browse writes it in two parts, so a reader of a growing file may
# see the first six fields alone: only lines with >= 10 fields count.
#
# Pitfalls met while writing this:
# - avahi-browse -r resolves with address family "any": the IPv4 "=" line may
#   carry an IPv6 address (use tb_resolve HOST TYPE NAME 4 to check addresses).
# - avahi-browse -t needs about 1 s ("all for now"); -c answers from the cache
#   at once. The D-Bus policy lets root own org.freedesktop.Avahi, so no user
#   switch is needed; dbus-daemon logs a harmless "Failed to set fd limit".
# - Restarting an avahi-daemon ends its clients: avahi-publish exits.
# - Commands put in the background by a non-interactive bash ignore SIGINT and
#   SIGQUIT; spawned commands get default signal handling back.
# - Orphans may stay zombies if PID 1 does not reap (some containers/VMs):
#   zombies count as dead here.
#
# Every wait is bounded in time and in iterations. All processes started here
# run in their own process group and are stopped by PID; nothing is sent to
# addresses outside 198.18.0.0/15 and fd00::/8 inside our own namespaces.

# Hosts in the topology and the ones whose avahi tb_up starts.
TB_HOSTS="ha ga gb hb rf"
TB_AVAHI_HOSTS="ha ga gb hb"
# The same with four islands (tb_up sets TB_HOSTS/TB_AVAHI_HOSTS from these).
_TB_HOSTS2="ha ga gb hb rf"
_TB_AVAHI_HOSTS2="ha ga gb hb"
_TB_HOSTS4="ha ga gb hb rf hc gc hd gd ws"
_TB_AVAHI_HOSTS4="ha ga gb hb hc gc hd gd"

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

_tb_log() { printf 'testbed: %s\n' "$*" >&2; }

# Current time in milliseconds (EPOCHREALTIME may use a locale's comma).
_tb_now_ms() {
    local t=${EPOCHREALTIME//[!0-9]/}
    printf '%s\n' "$((t / 1000))"
}

# Seconds, possibly fractional ("2", "0.5", "1.25"), to milliseconds.
_tb_sec2ms() {
    local s=$1 int frac
    [[ $s =~ ^[0-9]+(\.[0-9]+)?$ ]] || { _tb_log "bad duration '$s'"; return 1; }
    int=${s%%.*}
    frac=${s#"$int"}
    frac=${frac#.}000
    printf '%s\n' "$((10#$int * 1000 + 10#${frac:0:3}))"
}

_tb_need_up() {
    if [[ -z ${_TB_PREFIX:-} || -z ${TB_DIR:-} || ! -d ${TB_DIR:-} ]]; then
        _tb_log "testbed is not up (call tb_up first)"
        return 1
    fi
}

_tb_check_host() {
    case $1 in
        ha | ga | gb | hb | rf) return 0 ;;
        hc | gc | hd | gd | ws) [[ ${_TB_ISLANDS:-2} == 4 ]] && return 0 ;;&
        *) _tb_log "unknown host '$1' (want one of: $TB_HOSTS)"; return 1 ;;
    esac
}

# ---------------------------------------------------------------------------
# Names and addresses
# ---------------------------------------------------------------------------

tb_ns() {
    _tb_check_host "$1" || return 1
    [[ -n ${_TB_PREFIX:-} ]] || { _tb_log "testbed is not up"; return 1; }
    printf '%s%s\n' "$_TB_PREFIX" "$1"
}

tb_bus() {
    _tb_check_host "$1" && _tb_need_up || return 1
    printf 'unix:path=%s/%s/dbus/system_bus_socket\n' "$TB_DIR" "$1"
}

tb_if() {
    case $1 in
        ha | hb | hc | hd) echo br0 ;;
        ga | gb | gc | gd) echo lan0 ;;
        rf) echo lana,lanb ;;
        *) _tb_check_host "$1"; return 1 ;;
    esac
}

_tb_avahi_hostname() {
    case $1 in
        ha) echo hosta ;; ga) echo gwa ;; gb) echo gwb ;;
        hb) echo hostb ;; rf) echo refl ;;
        hc) echo hostc ;; gc) echo gwc ;; hd) echo hostd ;; gd) echo gwd ;;
    esac
}

tb_addr() {
    local host=$1 ifc=${2:-lan} fam=${3:-4} v4 v6
    _tb_check_host "$host" || return 1
    if [[ $ifc == 4 || $ifc == 6 ]]; then fam=$ifc; ifc=lan; fi
    case $host:$ifc in
        ha:lan | ha:br0) v4=198.18.1.2 v6=fd00:1::2 ;;
        hb:lan | hb:br0) v4=198.18.2.2 v6=fd00:2::2 ;;
        ga:lan | ga:lan0) v4=198.18.1.1 v6=fd00:1::1 ;;
        ga:wan | ga:wan0) v4=198.19.0.1 v6=fd00:ff::1 ;;
        gb:lan | gb:lan0) v4=198.18.2.1 v6=fd00:2::1 ;;
        gb:wan | gb:wan0) v4=198.19.0.2 v6=fd00:ff::2 ;;
        rf:lan | rf:lana) v4=198.18.1.3 v6=fd00:1::3 ;;
        rf:lanb) v4=198.18.2.3 v6=fd00:2::3 ;;
        hc:lan | hc:br0) v4=198.18.3.2 v6=fd00:3::2 ;;
        hd:lan | hd:br0) v4=198.18.4.2 v6=fd00:4::2 ;;
        gc:lan | gc:lan0) v4=198.18.3.1 v6=fd00:3::1 ;;
        gc:wan | gc:wan0) v4=198.19.0.3 v6=fd00:ff::3 ;;
        gd:lan | gd:lan0) v4=198.18.4.1 v6=fd00:4::1 ;;
        gd:wan | gd:wan0) v4=198.19.0.4 v6=fd00:ff::4 ;;
        *) _tb_log "host $host has no interface '$ifc'"; return 1 ;;
    esac
    case $fam in
        4) echo "$v4" ;;
        6) echo "$v6" ;;
        *) _tb_log "address family must be 4 or 6"; return 1 ;;
    esac
}

# ---------------------------------------------------------------------------
# Process tracking: $TB_DIR/pids holds "PID STARTTIME WHAT" lines. STARTTIME
# (field 22 of /proc/PID/stat) tells a reused PID from ours.
# ---------------------------------------------------------------------------

# Print "STATE STARTTIME" of a PID, or fail if it does not exist.
_tb_stat() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }           # drop "PID (comm) ", comm may contain spaces
    # shellcheck disable=SC2086  # word splitting wanted
    set -- $st
    printf '%s %s\n' "$1" "${20}"
}

# True if PID runs and started at START (no zombie, not reused).
_tb_alive_start() {
    local pid=$1 start=$2 st
    st=$(_tb_stat "$pid") || return 1
    [[ ${st% *} != [ZX] && ${st#* } == "$start" ]]
}

_tb_track() {
    local pid=$1 what=$2 st
    st=$(_tb_stat "$pid") || return 0       # already gone and reaped
    printf '%s %s %s\n' "$pid" "${st#* }" "$what" >>"$TB_DIR/pids"
}

# Print the recorded STARTTIME of a tracked PID.
_tb_tracked_start() {
    [[ -n ${TB_DIR:-} && -f $TB_DIR/pids ]] || return 1
    local pid start what found=""
    while read -r pid start what; do
        [[ $pid == "$1" ]] && found=$start
    done <"$TB_DIR/pids"
    [[ -n $found ]] && printf '%s\n' "$found"
}

tb_alive() {
    local start
    start=$(_tb_tracked_start "$1") || return 1
    _tb_alive_start "$1" "$start"
}

# Wait until all "PID START" pairs given are dead or DEADLINE_MS passes.
_tb_wait_dead() {
    local deadline=$1; shift
    local i pair any
    for ((i = 0; i < 1000; i++)); do
        any=""
        for pair in "$@"; do
            _tb_alive_start "${pair% *}" "${pair#* }" && { any=1; break; }
        done
        [[ -z $any ]] && return 0
        (($(_tb_now_ms) >= deadline)) && return 1
        sleep 0.02
    done
    return 1
}

tb_kill() {
    local pid=$1 sig=${2:-TERM} start
    [[ $pid =~ ^[0-9]+$ ]] || { _tb_log "tb_kill: bad PID '$pid'"; return 1; }
    start=$(_tb_tracked_start "$pid") || { _tb_log "tb_kill: PID $pid is not tracked"; return 1; }
    _tb_alive_start "$pid" "$start" || return 0
    kill -s "$sig" -- "-$pid" 2>/dev/null
    _tb_wait_dead "$(($(_tb_now_ms) + 3000))" "$pid $start" && return 0
    _tb_alive_start "$pid" "$start" && kill -s KILL -- "-$pid" 2>/dev/null
    _tb_wait_dead "$(($(_tb_now_ms) + 2000))" "$pid $start" && return 0
    _tb_log "tb_kill: PID $pid survives SIGKILL"
    return 1
}

# ---------------------------------------------------------------------------
# Running things inside a host
# ---------------------------------------------------------------------------

# Runs after "ip netns exec NS unshare -m": private mounts, the host's bus
# directory over /run/dbus; for daemons also a fresh tmpfs on /run (fresh
# /run/avahi-daemon for pid file and socket, no trace on the real /run) and
# empty static-service and hosts files so the islands do not depend on /etc.
# shellcheck disable=SC2016  # expanded by the inner sh
_TB_INNER='
d=$1 mode=$2
shift 2
mount --make-rprivate / || exit 97
if [ "$mode" = daemon ]; then
    mount -t tmpfs -o mode=0755,size=4m tb-run /run || exit 97
    mkdir -p /run/dbus /run/avahi-daemon || exit 97
    if [ -d /etc/avahi/services ]; then
        mount --bind "$d/etc/services" /etc/avahi/services || exit 97
    fi
    if [ -f /etc/avahi/hosts ]; then
        mount --bind "$d/etc/hosts" /etc/avahi/hosts || exit 97
    fi
fi
if [ -d /run/dbus ]; then
    mount --bind "$d/dbus" /run/dbus || exit 97
fi
exec "$@"
'

# _tb_argv HOST MODE: set _TB_ARGV to the command prefix that runs a command
# in HOST's namespace and mount namespace with HOST's bus (everything execs,
# so the PID of the prefix is the PID of the command). "env --default-signal"
# undoes bash's SIG_IGN of INT and QUIT for background commands, so that
# "tb_kill PID INT" works.
_tb_argv() {
    local host=$1 mode=$2 ns
    ns=$(tb_ns "$host") || return 1
    _TB_ARGV=(env --default-signal
        "DBUS_SYSTEM_BUS_ADDRESS=unix:path=$TB_DIR/$host/dbus/system_bus_socket"
        ip netns exec "$ns" unshare -m --propagation private
        sh -c "$_TB_INNER" tb-inner "$TB_DIR/$host" "$mode")
}

tb_exec() {
    _tb_check_host "${1:-}" && _tb_need_up || return 1
    (($# >= 2)) || { _tb_log "usage: tb_exec HOST CMD..."; return 1; }
    local _TB_ARGV
    _tb_argv "$1" client || return 1
    "${_TB_ARGV[@]}" "${@:2}"
}

# _tb_spawn HOST MODE LOG CMD... : prints PID, records it.
_tb_spawn() {
    local host=$1 mode=$2 log=$3 pid _TB_ARGV
    shift 3
    [[ $log == */* ]] || log=$TB_DIR/log/$log
    _tb_argv "$host" "$mode" || return 1
    # The new session leader reports its own PID through fd 3 and closes it,
    # so this is exact even if setsid(1) had to fork. All later steps exec.
    # shellcheck disable=SC2016
    pid=$(
        setsid sh -c 'echo "$$" >&3; exec 3>&-; exec "$@"' tb-spawn \
            "${_TB_ARGV[@]}" "$@" 3>&1 </dev/null >>"$log" 2>&1 &
    )
    [[ $pid =~ ^[0-9]+$ ]] || { _tb_log "could not start $*"; return 1; }
    _tb_track "$pid" "$host:$1"
    printf '%s\n' "$pid"
}

tb_spawn() {
    _tb_check_host "${1:-}" && _tb_need_up || return 1
    (($# >= 3)) || { _tb_log "usage: tb_spawn HOST LOGFILE CMD..."; return 1; }
    _tb_spawn "$1" client "$2" "${@:3}"
}

# ---------------------------------------------------------------------------
# Topology
# ---------------------------------------------------------------------------

_tb_ip() {
    local ns=$1
    shift
    ip -n "$ns" "$@" || { _tb_log "failed in $ns: ip $*"; return 1; }
}

# Create the namespaces of $TB_HOSTS and set their sysctls first, so that interfaces created
# afterwards inherit "default". IPv4 settings of a new namespace are copied from the initial
# one, so forwarding and rp_filter are set explicitly everywhere.
_tb_namespaces_up() {
    local p=$_TB_PREFIX h fwd
    for h in $TB_HOSTS; do
        ip netns add "$p$h" || { _tb_log "ip netns add $p$h failed"; return 1; }
    done
    for h in $TB_HOSTS; do
        fwd=0
        [[ $h == g? ]] && fwd=1
        ip netns exec "$p$h" sysctl -q -w \
            net.ipv4.ip_forward=$fwd \
            net.ipv4.conf.all.forwarding=$fwd \
            net.ipv4.conf.all.rp_filter=0 \
            net.ipv4.conf.default.rp_filter=0 \
            net.ipv6.conf.all.forwarding=$fwd \
            net.ipv6.conf.all.disable_ipv6=0 \
            net.ipv6.conf.default.disable_ipv6=0 \
            net.ipv6.conf.all.accept_dad=0 \
            net.ipv6.conf.default.accept_dad=0 \
            net.ipv6.conf.default.accept_ra=0 \
            >/dev/null || { _tb_log "sysctl failed in $p$h"; return 1; }
    done
}

_tb_net_up() {
    local p=$_TB_PREFIX h ns fwd dev
    _tb_namespaces_up || return 1

    # Bridges for the two LANs (no snooping: multicast floods to all ports).
    for h in ha hb; do
        _tb_ip "$p$h" link add br0 type bridge stp_state 0 forward_delay 0 \
            mcast_snooping 0 || return 1
    done
    # veth pairs: NAME in NS1, PEER in NS2.
    _tb_ip "${p}ga" link add lan0 type veth peer name pgw netns "${p}ha" &&
        _tb_ip "${p}gb" link add lan0 type veth peer name pgw netns "${p}hb" &&
        _tb_ip "${p}rf" link add lana type veth peer name prf netns "${p}ha" &&
        _tb_ip "${p}rf" link add lanb type veth peer name prf netns "${p}hb" &&
        _tb_ip "${p}ga" link add wan0 type veth peer name wan0 netns "${p}gb" ||
        return 1
    for h in ha hb; do
        _tb_ip "$p$h" link set pgw master br0 &&
            _tb_ip "$p$h" link set prf master br0 || return 1
    done

    # Everything up, multicast on.
    for h in $TB_HOSTS; do
        _tb_ip "$p$h" link set lo up || return 1
        case $h in
            ha | hb) set -- pgw prf br0 ;;
            ga | gb) set -- lan0 wan0 ;;
            rf) set -- lana lanb ;;
        esac
        for dev in "$@"; do
            _tb_ip "$p$h" link set "$dev" multicast on up || return 1
        done
    done

    # Addresses (nodad: usable at once) and routes.
    _tb_ip "${p}ha" addr add 198.18.1.2/24 dev br0 &&
        _tb_ip "${p}ha" addr add fd00:1::2/64 dev br0 nodad &&
        _tb_ip "${p}hb" addr add 198.18.2.2/24 dev br0 &&
        _tb_ip "${p}hb" addr add fd00:2::2/64 dev br0 nodad &&
        _tb_ip "${p}ga" addr add 198.18.1.1/24 dev lan0 &&
        _tb_ip "${p}ga" addr add fd00:1::1/64 dev lan0 nodad &&
        _tb_ip "${p}ga" addr add 198.19.0.1/24 dev wan0 &&
        _tb_ip "${p}ga" addr add fd00:ff::1/64 dev wan0 nodad &&
        _tb_ip "${p}gb" addr add 198.18.2.1/24 dev lan0 &&
        _tb_ip "${p}gb" addr add fd00:2::1/64 dev lan0 nodad &&
        _tb_ip "${p}gb" addr add 198.19.0.2/24 dev wan0 &&
        _tb_ip "${p}gb" addr add fd00:ff::2/64 dev wan0 nodad &&
        _tb_ip "${p}rf" addr add 198.18.1.3/24 dev lana &&
        _tb_ip "${p}rf" addr add fd00:1::3/64 dev lana nodad &&
        _tb_ip "${p}rf" addr add 198.18.2.3/24 dev lanb &&
        _tb_ip "${p}rf" addr add fd00:2::3/64 dev lanb nodad ||
        return 1
    _tb_ip "${p}ha" route add default via 198.18.1.1 &&
        _tb_ip "${p}ha" -6 route add default via fd00:1::1 &&
        _tb_ip "${p}hb" route add default via 198.18.2.1 &&
        _tb_ip "${p}hb" -6 route add default via fd00:2::1 &&
        _tb_ip "${p}ga" route add 198.18.2.0/24 via 198.19.0.2 &&
        _tb_ip "${p}ga" -6 route add fd00:2::/64 via fd00:ff::2 &&
        _tb_ip "${p}gb" route add 198.18.1.0/24 via 198.19.0.1 &&
        _tb_ip "${p}gb" -6 route add fd00:1::/64 via fd00:ff::1
}

# Four islands: A..D, each a host bridge and a gateway; the gateways' WANs on
# the switch "ws"; the reflector between A and B as with two islands.
_tb_net_up4() {
    local p=$_TB_PREFIX h ns fwd dev n g
    _tb_namespaces_up || return 1
    for h in ha hb hc hd ws; do
        _tb_ip "$p$h" link add br0 type bridge stp_state 0 forward_delay 0 \
            mcast_snooping 0 || return 1
    done
    _tb_ip "${p}rf" link add lana type veth peer name prf netns "${p}ha" &&
        _tb_ip "${p}rf" link add lanb type veth peer name prf netns "${p}hb" &&
        _tb_ip "${p}ha" link set prf master br0 &&
        _tb_ip "${p}hb" link set prf master br0 || return 1
    n=0
    for g in a b c d; do
        n=$((n + 1))
        _tb_ip "${p}g$g" link add lan0 type veth peer name pgw netns "${p}h$g" &&
            _tb_ip "${p}h$g" link set pgw master br0 &&
            _tb_ip "${p}g$g" link add wan0 type veth peer name "wg$g" netns "${p}ws" &&
            _tb_ip "${p}ws" link set "wg$g" master br0 || return 1
    done
    for h in $TB_HOSTS; do
        _tb_ip "$p$h" link set lo up || return 1
        case $h in
            ha | hb) set -- pgw prf br0 ;;
            hc | hd) set -- pgw br0 ;;
            g?) set -- lan0 wan0 ;;
            rf) set -- lana lanb ;;
            ws) set -- wga wgb wgc wgd br0 ;;
        esac
        for dev in "$@"; do
            _tb_ip "$p$h" link set "$dev" multicast on up || return 1
        done
    done
    _tb_ip "${p}rf" addr add 198.18.1.3/24 dev lana &&
        _tb_ip "${p}rf" addr add fd00:1::3/64 dev lana nodad &&
        _tb_ip "${p}rf" addr add 198.18.2.3/24 dev lanb &&
        _tb_ip "${p}rf" addr add fd00:2::3/64 dev lanb nodad || return 1
    n=0
    for g in a b c d; do
        n=$((n + 1))
        _tb_ip "${p}h$g" addr add "198.18.$n.2/24" dev br0 &&
            _tb_ip "${p}h$g" addr add "fd00:$n::2/64" dev br0 nodad &&
            _tb_ip "${p}h$g" route add default via "198.18.$n.1" &&
            _tb_ip "${p}h$g" -6 route add default via "fd00:$n::1" &&
            _tb_ip "${p}g$g" addr add "198.18.$n.1/24" dev lan0 &&
            _tb_ip "${p}g$g" addr add "fd00:$n::1/64" dev lan0 nodad &&
            _tb_ip "${p}g$g" addr add "198.19.0.$n/24" dev wan0 &&
            _tb_ip "${p}g$g" addr add "fd00:ff::$n/64" dev wan0 nodad || return 1
        local m
        for m in 1 2 3 4; do
            ((m == n)) && continue
            _tb_ip "${p}g$g" route add "198.18.$m.0/24" via "198.19.0.$m" &&
                _tb_ip "${p}g$g" -6 route add "fd00:$m::/64" via "fd00:ff::$m" || return 1
        done
    done
}

# ---------------------------------------------------------------------------
# dbus-daemon and avahi-daemon per host
# ---------------------------------------------------------------------------

# Per-host directory: dbus/ (socket, bound over /run/dbus), dbus.conf,
# avahi.conf, avahi.overrides, etc/ (empty services dir and hosts file).
_tb_host_dir() {
    local h=$1 d=$TB_DIR/$1
    mkdir -p "$d/dbus" "$d/etc/services" || return 1
    : >"$d/etc/hosts"
    : >"$d/avahi.overrides"
    # A system bus like /usr/share/dbus-1/system.conf, listening on our
    # socket, no user switch, no activation, no syslog, with the policies of
    # /usr/share/dbus-1/system.d (avahi-dbus.conf lets root own
    # org.freedesktop.Avahi).
    cat >"$d/dbus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- testbed system bus for host $h -->
<busconfig>
  <type>system</type>
  <listen>unix:path=$d/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <includedir>/usr/share/dbus-1/system.d</includedir>
</busconfig>
EOF
}

# Merge "section key value" override lines (file 1) into an INI file (file 2).
# shellcheck disable=SC2016
_TB_INI_MERGE='
FILENAME == ARGV[1] { if (!(($1, $2) in ov)) { n++; osec[n] = $1; okey[n] = $2 }
            ov[$1, $2] = $3; next }
function flush(sec,   i) {
    for (i = 1; i <= n; i++)
        if (osec[i] == sec && !used[i]) { print okey[i] "=" ov[sec, okey[i]]; used[i] = 1 }
}
/^[ \t]*\[/ { flush(sec); sec = $0; gsub(/[][ \t]/, "", sec); print; next }
/^[ \t]*[^#;].*=/ {
    k = $0; sub(/[ \t]*=.*/, "", k); sub(/^[ \t]*/, "", k)
    if ((sec, k) in ov) {
        for (i = 1; i <= n; i++) if (osec[i] == sec && okey[i] == k) used[i] = 1
        print k "=" ov[sec, k]; next
    }
}
{ print }
END {
    flush(sec)
    for (i = 1; i <= n; i++)
        if (!used[i]) {
            if (!(osec[i] in hdr)) { print "[" osec[i] "]"; hdr[osec[i]] = 1 }
            flush(osec[i])
        }
}'

# Turn "section.key=value" items into "section key value" lines.
_tb_conf_items() {
    local item sec key
    for item in "$@"; do
        [[ $item =~ ^([a-z-]+)\.([a-z0-9-]+)=([^[:space:]]*)$ ]] || {
            _tb_log "bad avahi override '$item' (want section.key=value)"
            return 1
        }
        sec=${BASH_REMATCH[1]} key=${BASH_REMATCH[2]}
        printf '%s %s %s\n' "$sec" "$key" "${BASH_REMATCH[3]}"
    done
}

tb_avahi_conf() {
    local host=${1:-}
    _tb_check_host "$host" && _tb_need_up || return 1
    _tb_conf_items "${@:2}" >>"$TB_DIR/$host/avahi.overrides"
}

# Write $TB_DIR/HOST/avahi.conf from the built-in config and overrides.
_tb_avahi_write_conf() {
    local h=$1 d=$TB_DIR/$1 refl=no var
    [[ $h == rf ]] && refl=yes
    cat >"$d/avahi.base" <<EOF
# testbed avahi-daemon.conf for host $h
[server]
host-name=$(_tb_avahi_hostname "$h")
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces=$(tb_if "$h")
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
[reflector]
enable-reflector=$refl
reflect-ipv=no
[rlimits]
EOF
    var=TB_AVAHI_CONF_$h
    # shellcheck disable=SC2086  # whitespace separated item lists
    {
        _tb_conf_items ${TB_AVAHI_CONF:-} &&
            _tb_conf_items ${!var:-} &&
            cat "$d/avahi.overrides"
    } >"$d/avahi.items" || return 1
    awk "$_TB_INI_MERGE" "$d/avahi.items" "$d/avahi.base" >"$d/avahi.conf"
}

_tb_dbus_start() {
    local h=$1 pid
    pid=$(_tb_spawn "$h" daemon "$h.dbus.log" \
        dbus-daemon --config-file="$TB_DIR/$h/dbus.conf" --nofork --nopidfile \
        --nosyslog) || return 1
    echo "$pid" >"$TB_DIR/$h/dbus.pid"
}

_tb_dbus_wait() {
    local h=$1 deadline=$2 i
    for ((i = 0; i < 500; i++)); do
        [[ -S $TB_DIR/$h/dbus/system_bus_socket ]] && return 0
        (($(_tb_now_ms) >= deadline)) && break
        sleep 0.02
    done
    _tb_log "dbus-daemon of $h did not come up (log: $TB_DIR/log/$h.dbus.log)"
    return 1
}

# Print the avahi server state of HOST (2 = AVAHI_SERVER_RUNNING).
_tb_avahi_state() {
    local out word
    out=$(DBUS_SYSTEM_BUS_ADDRESS="unix:path=$TB_DIR/$1/dbus/system_bus_socket" \
        timeout 2 dbus-send --system --print-reply=literal --reply-timeout=1000 \
        --dest=org.freedesktop.Avahi / org.freedesktop.Avahi.Server.GetState \
        2>/dev/null) || return 1
    # "   int32 2" -> "2"
    read -r word out <<<"$out" && [[ $word == int32 ]] || return 1
    printf '%s\n' "$out"
}

_tb_avahi_wait() {
    local h=$1 deadline=$2 i pid
    pid=$(tb_avahi_pid "$h") || { _tb_log "avahi of $h is not running"; return 1; }
    for ((i = 0; i < 300; i++)); do
        [[ $(_tb_avahi_state "$h") == 2 ]] && return 0
        if ! tb_alive "$pid"; then
            _tb_log "avahi-daemon of $h exited (log: $TB_DIR/log/$h.avahi.log)"
            return 1
        fi
        (($(_tb_now_ms) >= deadline)) && break
        sleep 0.05
    done
    _tb_log "avahi-daemon of $h not running in time (log: $TB_DIR/log/$h.avahi.log)"
    return 1
}

tb_avahi_pid() {
    _tb_check_host "${1:-}" && _tb_need_up || return 1
    local pid
    pid=$(cat "$TB_DIR/$1/avahi.pid" 2>/dev/null) || return 1
    tb_alive "$pid" || return 1
    printf '%s\n' "$pid"
}

# Start HOST's avahi without waiting.
_tb_avahi_spawn() {
    local h=$1 pid
    if tb_avahi_pid "$h" >/dev/null; then
        _tb_log "avahi of $h already runs"
        return 1
    fi
    _tb_avahi_write_conf "$h" || return 1
    pid=$(_tb_spawn "$h" daemon "$h.avahi.log" \
        avahi-daemon -f "$TB_DIR/$h/avahi.conf" --no-drop-root --no-chroot \
        --no-rlimits --no-proc-title) || return 1
    echo "$pid" >"$TB_DIR/$h/avahi.pid"
}

tb_avahi_start() {
    _tb_check_host "${1:-}" && _tb_need_up || return 1
    [[ -S $TB_DIR/$1/dbus/system_bus_socket ]] || _tb_dbus_start "$1" &&
        _tb_dbus_wait "$1" "$(($(_tb_now_ms) + 5000))" &&
        _tb_avahi_spawn "$1" &&
        _tb_avahi_wait "$1" "$(($(_tb_now_ms) + 10000))"
}

tb_avahi_stop() {
    _tb_check_host "${1:-}" && _tb_need_up || return 1
    local pid
    pid=$(tb_avahi_pid "$1") || return 0
    tb_kill "$pid" TERM && rm -f "$TB_DIR/$1/avahi.pid"
}

tb_avahi_restart() {
    tb_avahi_stop "${1:-}" && tb_avahi_start "$1"
}

tb_reflector_start() { tb_avahi_start rf; }
tb_reflector_stop() { tb_avahi_stop rf; }

tb_flush() {
    _tb_need_up || return 1
    local h deadline rc=0
    local hl=("$@")
    # shellcheck disable=SC2206  # fixed word list
    ((${#hl[@]})) || hl=($TB_AVAHI_HOSTS)
    for h in "${hl[@]}"; do
        _tb_check_host "$h" && tb_avahi_stop "$h" || return 1
    done
    for h in "${hl[@]}"; do
        _tb_avahi_spawn "$h" || return 1
    done
    deadline=$(($(_tb_now_ms) + 10000))
    for h in "${hl[@]}"; do
        _tb_avahi_wait "$h" "$deadline" || rc=1
    done
    return "$rc"
}

# ---------------------------------------------------------------------------
# Setup and teardown
# ---------------------------------------------------------------------------

_tb_on_exit() {
    local rc=$?
    [[ ${BASHPID:-$$} == "${_TB_OWNER:-}" ]] || return "$rc"
    tb_down
    exit "$rc"
}

_tb_on_signal() {
    [[ ${BASHPID:-$$} == "${_TB_OWNER:-}" ]] || return 0
    local sig=$1 num
    num=$(kill -l "$sig" 2>/dev/null) || num=15
    _tb_log "caught SIG$sig, cleaning up"
    trap - "$sig"
    tb_down
    exit $((128 + num))
}

tb_up_islands() {
    [[ ${1:-} == 2 || ${1:-} == 4 ]] || { _tb_log "usage: tb_up_islands 2|4 [PREFIX]"; return 1; }
    TB_ISLANDS=$1 tb_up "${@:2}"
}

tb_up() {
    local p=${1:-z2z$$} h deadline ok=1
    if [[ -n ${_TB_PREFIX:-} ]]; then
        _tb_log "a testbed ($_TB_PREFIX) is already up in this shell"
        return 1
    fi
    case ${TB_ISLANDS:-2} in
        2) TB_HOSTS=$_TB_HOSTS2 TB_AVAHI_HOSTS=$_TB_AVAHI_HOSTS2 ;;
        4) TB_HOSTS=$_TB_HOSTS4 TB_AVAHI_HOSTS=$_TB_AVAHI_HOSTS4 ;;
        *) _tb_log "TB_ISLANDS must be 2 or 4"; return 1 ;;
    esac
    _TB_ISLANDS=${TB_ISLANDS:-2}
    if ((EUID != 0)); then
        _tb_log "must run as root"
        return 1
    fi
    # Longest interface or netns name we create: PREFIX + 2; keep it short.
    if [[ ! $p =~ ^[A-Za-z0-9_-]{1,13}$ ]]; then
        _tb_log "prefix '$p' must be 1-13 characters [A-Za-z0-9_-]"
        return 1
    fi
    for h in $TB_HOSTS; do
        if [[ -e /run/netns/$p$h ]]; then
            _tb_log "namespace $p$h exists already (stale? try: tb_purge $p)"
            return 1
        fi
    done
    local tmp
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/tb-$p.XXXXXX") || return 1
    # unix socket paths are limited to 107 bytes
    if ((${#tmp} > 60)) || [[ ! $tmp =~ ^[A-Za-z0-9_./-]+$ ]]; then
        _tb_log "work dir path '$tmp' too long or unusual (set TMPDIR)"
        rmdir "$tmp"
        return 1
    fi
    export TB_DIR=$tmp TB_PREFIX=$p
    _TB_PREFIX=$p
    _TB_OWNER=${BASHPID:-$$}
    if ! mkdir -p "$TB_DIR/log" || ! : >"$TB_DIR/pids"; then tb_down; return 1; fi
    if [[ ${TB_NO_TRAP:-0} != 1 ]]; then
        trap _tb_on_exit EXIT
        trap '_tb_on_signal INT' INT
        trap '_tb_on_signal TERM' TERM
        trap '_tb_on_signal HUP' HUP
    fi

    if [[ $_TB_ISLANDS == 4 ]]; then
        _tb_net_up4 || { tb_down; return 1; }
    else
        _tb_net_up || { tb_down; return 1; }
    fi
    for h in $TB_HOSTS; do
        _tb_host_dir "$h" || { tb_down; return 1; }
    done
    # Start all daemons first and wait afterwards: they come up in parallel.
    for h in $TB_AVAHI_HOSTS; do
        _tb_dbus_start "$h" || { tb_down; return 1; }
    done
    deadline=$(($(_tb_now_ms) + 5000))
    for h in $TB_AVAHI_HOSTS; do
        _tb_dbus_wait "$h" "$deadline" || { tb_down; return 1; }
    done
    for h in $TB_AVAHI_HOSTS; do
        _tb_avahi_spawn "$h" || { tb_down; return 1; }
    done
    deadline=$(($(_tb_now_ms) + 10000))
    for h in $TB_AVAHI_HOSTS; do
        _tb_avahi_wait "$h" "$deadline" || ok=""
    done
    [[ -n $ok ]] || { tb_down; return 1; }
    return 0
}

# Kill processes running inside namespace NS (strays not tracked by PID).
_tb_kill_ns_pids() {
    local ns=$1 pid i
    for ((i = 0; i < 3; i++)); do
        local pids=()
        while read -r pid; do
            [[ $pid =~ ^[0-9]+$ ]] && pids+=("$pid")
        done < <(ip netns pids "$ns" 2>/dev/null)
        ((${#pids[@]})) || return 0
        kill -s KILL "${pids[@]}" 2>/dev/null
        sleep 0.1
    done
}

tb_down() {
    [[ -n ${_TB_PREFIX:-} ]] || return 0
    local p=$_TB_PREFIX pid start what h ns
    local live=() all=()
    # 1. Tracked process groups: TERM, bounded wait, KILL, bounded wait.
    if [[ -n ${TB_DIR:-} && -f $TB_DIR/pids ]]; then
        while read -r pid start what; do
            [[ $pid =~ ^[0-9]+$ ]] || continue
            all+=("$pid $start")
            if _tb_alive_start "$pid" "$start"; then
                live+=("$pid $start")
                kill -s TERM -- "-$pid" 2>/dev/null
            fi
        done <"$TB_DIR/pids"
    fi
    if ((${#live[@]})) && ! _tb_wait_dead "$(($(_tb_now_ms) + 3000))" "${live[@]}"; then
        for what in "${live[@]}"; do
            _tb_alive_start "${what% *}" "${what#* }" &&
                kill -s KILL -- "-${what% *}" 2>/dev/null
        done
        _tb_wait_dead "$(($(_tb_now_ms) + 2000))" "${live[@]}" ||
            _tb_log "some processes survived SIGKILL"
    fi
    # 2. Anything else still inside our namespaces, then the namespaces.
    for h in $TB_HOSTS; do
        ns=$p$h
        [[ -e /run/netns/$ns ]] || continue
        _tb_kill_ns_pids "$ns"
        ip netns del "$ns" 2>/dev/null || _tb_log "could not delete netns $ns"
    done
    # 3. Work dir.
    if [[ -n ${TB_DIR:-} && -d $TB_DIR ]]; then
        if [[ ${TB_KEEP:-0} == 1 ]]; then
            _tb_log "kept work dir $TB_DIR"
        else
            rm -rf -- "$TB_DIR"
        fi
    fi
    # shellcheck disable=SC2034  # read by callers
    TB_LAST_PIDS=$(printf '%s\n' "${all[@]}")
    # shellcheck disable=SC2034
    TB_LAST_PREFIX=$p
    _TB_PREFIX=""
    _TB_ISLANDS=2
    unset TB_PREFIX
    return 0
}

tb_purge() {
    local p=${1:-} h
    [[ $p =~ ^[A-Za-z0-9_-]{1,13}$ ]] || { _tb_log "usage: tb_purge PREFIX"; return 1; }
    for h in $_TB_HOSTS4; do
        [[ -e /run/netns/$p$h ]] || continue
        _tb_kill_ns_pids "$p$h"
        ip netns del "$p$h" 2>/dev/null || _tb_log "could not delete netns $p$h"
    done
    # Work dirs made by tb_up with this prefix.
    rm -rf -- "${TMPDIR:-/tmp}/tb-$p".??????
}

# ---------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------

tb_publish() {
    local host=${1:-} name=${2:-} type=${3:-} port=${4:-} log pid i deadline
    _tb_check_host "$host" && _tb_need_up || return 1
    (($# >= 4)) || { _tb_log "usage: tb_publish HOST NAME TYPE PORT [TXT...]"; return 1; }
    log=$(mktemp "$TB_DIR/log/$host.publish.XXXXXX") || return 1
    pid=$(_tb_spawn "$host" client "$log" \
        avahi-publish -s "$name" "$type" "$port" "${@:5}") || return 1
    deadline=$(($(_tb_now_ms) + $(_tb_sec2ms "${TB_PUBLISH_TIMEOUT:-5}")))
    for ((i = 0; i < 1000; i++)); do
        if grep -q 'Established under name' "$log"; then
            printf '%s\n' "$pid"
            return 0
        fi
        tb_alive "$pid" || break
        (($(_tb_now_ms) >= deadline)) && break
        sleep 0.02
    done
    _tb_log "publishing '$name' on $host failed: $(tr '\n' ' ' <"$log")"
    tb_kill "$pid" >/dev/null
    return 1
}

tb_unescape() {
    LC_ALL=C TB_U="$1" awk 'BEGIN { print unesc(ENVIRON["TB_U"]) }'"$_TB_AWK_UNESC"
}

# awk function: decode avahi_escape_label output.
_TB_AWK_UNESC='
function unesc(s,   out, i, c, d, l) {
    out = ""; l = length(s)
    for (i = 1; i <= l; i++) {
        c = substr(s, i, 1)
        if (c == "\\" && i < l) {
            d = substr(s, i + 1, 3)
            if (d ~ /^[0-9][0-9][0-9]$/) { out = out sprintf("%c", d + 0); i += 3 }
            else { out = out substr(s, i + 1, 1); i++ }
        } else out = out c
    }
    return out
}'

# Reads avahi-browse -p output. MODE "resolved": print the first resolved line
# of the name still present, exit 1 if none. "present": exit 0 if the name is
# known (+ or = without a later -). "seen": print the first + or = line of the
# name, exit 1 if none. "complete": exit 0 if every present service (any
# name) has a resolved line.
# shellcheck disable=SC2016
_TB_AWK_MATCH='
BEGIN { FS = ";"; name = ENVIRON["TB_M_NAME"]; proto = ENVIRON["TB_M_PROTO"]
        mode = ENVIRON["TB_M_MODE"] }
$1 != "+" && $1 != "=" && $1 != "-" { next }
NF < 6 { next }
$1 == "=" && NF < 10 { next }
mode != "complete" && unesc($4) != name { next }
proto != "" && $3 != proto { next }
{ key = $2 ";" $3 ";" $4 ";" $5 ";" $6
  if (!(key in ord)) { ord[key] = ++n; keys[n] = key } }
$1 == "+" { seen[key] = 1 }
$1 == "=" { seen[key] = 1; res[key] = $0 }
$1 == "-" { delete seen[key]; delete res[key] }
mode == "seen" && $1 != "-" { print; found = 1; exit }
END {
    if (mode == "seen") exit !found
    if (mode == "resolved") {
        for (i = 1; i <= n; i++) if (keys[i] in res) { print res[keys[i]]; exit 0 }
        exit 1
    }
    if (mode == "present") { for (k in seen) exit 0; exit 1 }
    for (k in seen) if (!(k in res)) exit 1
    exit 0
}'

# _tb_match MODE NAME PROTO < browse-output
_tb_match() {
    LC_ALL=C TB_M_MODE=$1 TB_M_NAME=$2 TB_M_PROTO=$3 \
        awk "$_TB_AWK_MATCH$_TB_AWK_UNESC"
}

tb_browse() {
    local host=${1:-} type=${2:-} out attempt
    _tb_check_host "$host" && _tb_need_up || return 1
    [[ -n $type ]] || { _tb_log "usage: tb_browse HOST TYPE"; return 1; }
    # -t stops at "all for now" once the started resolvers have answered,
    # but a service whose resolver failed or that appeared late can be left
    # with a "+" and no "=": try again, at most 3 times.
    for attempt in 1 2 3; do
        out=$(tb_exec "$host" timeout 10 avahi-browse -prtk "$type" 2>/dev/null)
        _tb_match complete "" "" <<<"$out" && break
        ((attempt < 3)) && sleep 0.3
    done
    [[ -n $out ]] && printf '%s\n' "$out"
    return 0
}

tb_wait_service() {
    local host=${1:-} type=${2:-} name=${3:-} tmo=${4:-} proto=${5:-}
    local log pid ms deadline i line rc=1
    _tb_check_host "$host" && _tb_need_up || return 1
    (($# >= 4)) || { _tb_log "usage: tb_wait_service HOST TYPE NAME TIMEOUT_S [PROTO]"; return 1; }
    ms=$(_tb_sec2ms "$tmo") || return 1
    deadline=$(($(_tb_now_ms) + ms))
    log=$(mktemp "$TB_DIR/log/$host.wait.XXXXXX") || return 1
    # One live browser; its output file is scanned every 50 ms.
    pid=$(_tb_spawn "$host" client "$log" \
        timeout "$((ms / 1000 + 2))" avahi-browse -prk "$type") || return 1
    for ((i = 0; i < ms / 50 + 10; i++)); do
        if line=$(_tb_match resolved "$name" "$proto" <"$log"); then
            printf '%s\n' "$line"
            rc=0
            break
        fi
        (($(_tb_now_ms) >= deadline)) && break
        tb_alive "$pid" || break
        sleep 0.05
    done
    tb_kill "$pid" >/dev/null
    rm -f "$log"
    return "$rc"
}

tb_wait_gone() {
    local host=${1:-} type=${2:-} name=${3:-} tmo=${4:-}
    local ms deadline i out
    _tb_check_host "$host" && _tb_need_up || return 1
    (($# >= 4)) || { _tb_log "usage: tb_wait_gone HOST TYPE NAME TIMEOUT_S"; return 1; }
    ms=$(_tb_sec2ms "$tmo") || return 1
    deadline=$(($(_tb_now_ms) + ms))
    # "-c" answers from the daemon's cache and exits at once, so each poll
    # shows what HOST's avahi knows right now.
    for ((i = 0; i < ms / 50 + 10; i++)); do
        if out=$(tb_exec "$host" timeout 5 avahi-browse -pck "$type" 2>/dev/null); then
            _tb_match present "$name" "" <<<"$out" || return 0
        fi
        (($(_tb_now_ms) >= deadline)) && break
        sleep 0.05
    done
    return 1
}

# dbus-send --print-reply output of Avahi.Server.ResolveService -> one line in
# the avahi-browse -p "=" format. ENVIRON["TB_IFMAP"]: "INDEX NAME" lines.
# shellcheck disable=SC2016
_TB_AWK_RESOLVED='
function unq(s) { sub(/^[^"]*"/, "", s); sub(/"[ \t]*$/, "", s); return s }
function esc_label(s,   out, i, c, n) {
    out = ""; n = length(s)
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (c == "." || c == "\\") out = out "\\" c
        else if (c ~ /[A-Za-z0-9_-]/) out = out c
        else out = out sprintf("\\%03d", ord[c])
    }
    return out
}
function esc_txt(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
function addtxt(s) { txt = txt (txt == "" ? "" : " ") esc_txt(s) }
BEGIN {
    for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i
    for (i = 0; i < 16; i++) hx[substr("0123456789abcdef", i + 1, 1)] = i
    n = split(ENVIRON["TB_IFMAP"], m, "\n")
    for (i = 1; i <= n; i++) { split(m[i], w, " "); ifname[w[1]] = w[2] }
}
/^method return/ || /^   \]/ { next }
/^   [^ ]/ {
    line = $0; sub(/^   /, "", line); v++
    if (line ~ /^string /) val[v] = unq(line)
    else { split(line, w, " "); val[v] = w[2] }
    next
}
/^      array of bytes "/ { addtxt(unq($0)); next }
/^      array of bytes \[/ { inhex = 1; cur = ""; next }
inhex && /^      \]/ { inhex = 0; addtxt(cur); next }
inhex { for (i = 1; i <= NF; i++) cur = cur sprintf("%c", hx[substr($i, 1, 1)] * 16 + hx[substr($i, 2, 1)]); next }
END {
    if (v < 9) exit 1
    name = (val[1] in ifname) ? ifname[val[1]] : val[1]
    printf "=;%s;%s;%s;%s;%s;%s;%s;%s;%s\n", name, (val[2] == 0 ? "IPv4" : "IPv6"),
        esc_label(val[3]), val[4], val[5], val[6], val[8], val[9], txt
}'

tb_resolve() {
    local host=${1:-} type=${2:-} name=${3:-} fam=${4:-4} proto out ifmap
    _tb_check_host "$host" && _tb_need_up || return 1
    (($# >= 3)) || { _tb_log "usage: tb_resolve HOST TYPE NAME [4|6]"; return 1; }
    case $fam in
        4) proto=0 ;;
        6) proto=1 ;;
        *) _tb_log "tb_resolve: family must be 4 or 6"; return 1 ;;
    esac
    # Avahi gives up after 5 s (org.freedesktop.Avahi.TimeoutError).
    out=$(DBUS_SYSTEM_BUS_ADDRESS="unix:path=$TB_DIR/$host/dbus/system_bus_socket" \
        timeout 8 dbus-send --system --print-reply --reply-timeout=7000 \
        --dest=org.freedesktop.Avahi / org.freedesktop.Avahi.Server.ResolveService \
        int32:-1 "int32:$proto" "string:$name" "string:$type" string:local \
        "int32:$proto" uint32:0 2>/dev/null) || return 1
    ifmap=$(ip -n "$(tb_ns "$host")" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $1, $2 }')
    LC_ALL=C TB_IFMAP=$ifmap awk "$_TB_AWK_RESOLVED" <<<"$out"
}

tb_expect_absent() {
    local hosts=${1:-} type=${2:-} name=${3:-} tmo=${4:-}
    local ms deadline h i k log pid line rc=0
    local hl=() pids=() logs=()
    _tb_need_up || return 1
    (($# >= 4)) || { _tb_log "usage: tb_expect_absent 'HOST...' TYPE NAME SECONDS"; return 1; }
    ms=$(_tb_sec2ms "$tmo") || return 1
    for h in ${hosts//,/ }; do
        _tb_check_host "$h" || return 1
        hl+=("$h")
    done
    ((${#hl[@]})) || { _tb_log "tb_expect_absent: no host given"; return 1; }
    # One live browser per host (no resolving: a bare "+" is a sighting too).
    for h in "${hl[@]}"; do
        log=$(mktemp "$TB_DIR/log/$h.absent.XXXXXX") || break
        logs+=("$log")
        pid=$(_tb_spawn "$h" client "$log" \
            timeout "$((ms / 1000 + 2))" avahi-browse -pk "$type") || { rc=2; break; }
        pids+=("$pid")
    done
    deadline=$(($(_tb_now_ms) + ms))
    for ((i = 0; rc == 0 && i < ms / 50 + 10; i++)); do
        for k in "${!logs[@]}"; do
            if line=$(_tb_match seen "$name" "" <"${logs[$k]}"); then
                printf '%s: %s\n' "${hl[$k]}" "$line"
                rc=1
                break
            fi
        done
        (($(_tb_now_ms) >= deadline)) && break
        sleep 0.05
    done
    for pid in "${pids[@]}"; do tb_kill "$pid" >/dev/null; done
    rm -f "${logs[@]}"
    ((rc == 0)) || return 1
}
