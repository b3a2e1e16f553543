#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Growth with four islands (issue 4). Overlay X (islands 1 and 2) and overlay Y (islands 3 and
# 4) are formed apart, and so are two overlays of public group G (islands 1 and 3 each create
# G in their own main overlay) and two of private group P (islands 2 and 4, one secret). One
# new bootstrap peer, added by a reload on island 4 and naming island 2, joins X and Y: then
# every island sees the services of all four exactly once, with their ports and TXT data, and
# the overlays of each group merge too: G's services cross between islands 1 and 3 only, P's
# between islands 2 and 4 only (all of them of one type, _ipp._tcp).
set -u
export TB_ISLANDS=4
source "$(dirname "$0")/lib.sh"
z2z_init "$1"
z2zd="$(dirname "$Z2Z_BIN")/z2zd"
lan=(ha hb hc hd)
gws=(ga gb gc gd)

conf() {  # ISLAND BOOTSTRAP GROUP(G, P or none)
  local gw=${gws[$1 - 1]}
  {
    cat <<CONF
[server]
bootstrap = $2
dht-bind = $(tb_addr "$gw" wan)
state-directory = $TB_DIR/state-$1
control-socket = $TB_DIR/$1.sock
log-level = info
CONF
    z2zd_site_sections
    case $3 in
      G) printf '\n[group G]\ntypes = _ipp._tcp\nimport = yes\ninterfaces = lan0\n' ;;
      P) printf '\n[group P]\ntypes = _ipp._tcp\nimport = yes\ninterfaces = lan0\n'
         printf 'secret-file = %s\n' "$TB_DIR/p.secret" ;;
    esac
  } >"$TB_DIR/$1.conf"
}
# Watches HOSTS for SECONDS for any of the NAMEs, all at once.
absent() {  # "HOSTS" TYPE SECONDS NAME...
  local hosts=$1 type=$2 s=$3 n p rc=0 pids=()
  shift 3
  for n in "$@"; do
    tb_expect_absent "$hosts" "$type" "$n" "$s" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return "$rc"
}
seen() { tb_wait_service "$@" >/dev/null; }  # HOST TYPE NAME TIMEOUT_S
stage() {
  "$Z2Z_BIN" --status --json --control-socket "$TB_DIR/$1.sock" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["overlay"]["stage"])'
}
since() {  # START_MS: seconds since then, one decimal
  local ms=$(($(_tb_now_ms) - $1))
  printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100))
}
started=$(_tb_now_ms)

# ---- two overlays formed apart ---------------------------------------------------------------
printf 'locator %s\nkey %s\n' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$TB_DIR/p.secret"
chmod 600 "$TB_DIR/p.secret"
conf 1 "" G
conf 3 "" G
conf 2 "$(tb_addr ga wan)" P
conf 4 "$(tb_addr gc wan)" P
gw_pid=()
for i in 1 2 3 4; do
  gw_pid[i]=$(tb_spawn "${gws[i - 1]}" "gw$i.log" "$z2zd" -f "$TB_DIR/$i.conf")
done
check "island 1 created G in overlay X" wait_log gw1.log "group 'G': created" 10
check "island 3 created G in overlay Y, apart" wait_log gw3.log "group 'G': created" 10
check "island 2 created private P in overlay X" wait_log gw2.log "group 'P': created" 10
check "island 4 created P in overlay Y, apart" wait_log gw4.log "group 'P': created" 10

# Published in parallel (each waits for avahi's probing); the checks below see any failure.
publishing=()
for i in 1 2 3 4; do
  tb_publish "${lan[i - 1]}" "Island-$i" _daap._tcp $((1000 + i)) "island=$i" >/dev/null &
  publishing+=($!)
done
tb_publish hc G-Printer-3 _ipp._tcp 633 "g=3" >/dev/null & publishing+=($!)
tb_publish hb P-Printer-2 _ipp._tcp 632 "p=2" >/dev/null & publishing+=($!)
tb_publish hd P-Printer-4 _ipp._tcp 634 "p=4" >/dev/null & publishing+=($!)
g1=$(tb_publish ha G-Printer-1 _ipp._tcp 631 "g=1")
wait "${publishing[@]}"

check "X carries island 1's service to island 2" seen hb _daap._tcp Island-1 15
check "and island 2's to island 1" seen ha _daap._tcp Island-2 10
check "Y carries island 3's service to island 4" seen hd _daap._tcp Island-3 10
check "and island 4's to island 3" seen hc _daap._tcp Island-4 10
for i in 1 2 3 4; do
  check "island $i exported its group service" \
    wait_log "gw$i.log" "exported .*[GP]-Printer-$i" 10
done
nothing_crosses() {
  local p rc=0 pids=()
  absent "hc hd" _daap._tcp 3 Island-1 Island-2 & pids+=($!)
  absent "ha hb" _daap._tcp 3 Island-3 Island-4 & pids+=($!)
  absent "hb hc hd" _ipp._tcp 3 G-Printer-1 & pids+=($!)
  absent "ha hb hd" _ipp._tcp 3 G-Printer-3 & pids+=($!)
  absent "ha hc hd" _ipp._tcp 3 P-Printer-2 & pids+=($!)
  absent "ha hb hc" _ipp._tcp 3 P-Printer-4 & pids+=($!)
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return "$rc"
}
check "nothing crosses between X and Y, nor between the overlays of G or of P" nothing_crosses
echo "formed apart after $(since "$started")"

# ---- one new bootstrap peer joins them -------------------------------------------------------
conf 4 "$(tb_addr gc wan), $(tb_addr gb wan)" P
kill -HUP "${gw_pid[4]}"
merged=$(_tb_now_ms)
# Seconds left until SECONDS after the reload (at least 1): the waits below share deadlines.
until_merged() {
  local ms=$((merged + $1 * 1000 - $(_tb_now_ms)))
  ((ms < 1000)) && ms=1000
  printf '%d.%03d\n' $((ms / 1000)) $((ms % 1000))
}
ok=1
for i in 1 2 3 4; do
  for j in 1 2 3 4; do
    [ "$i" = "$j" ] && continue
    tb_wait_service "${lan[i - 1]}" _daap._tcp "Island-$j" "$(until_merged 20)" >/dev/null ||
      { echo "island $i does not see Island-$j"; ok=0; }
  done
done
check "after the reload, every island sees the services of all four" test "$ok" = 1
echo "all-four checks done $(since "$merged") after the reload"
# (The stage stays "growth" for 60 s after the last contact with another overlay.)
check "island 4 reports the growth stage" test "$(stage 4)" = growth
printer_seen() { seen "$1" _ipp._tcp "$2" "$(until_merged 25)"; }  # HOST NAME
check "G's service from island 1 reaches island 3" printer_seen hc G-Printer-1
check "G's service from island 3 reaches island 1" printer_seen ha G-Printer-3
check "P's service from island 2 reaches island 4" printer_seen hd P-Printer-2
check "P's service from island 4 reaches island 2" printer_seen hb P-Printer-4
echo "group checks done $(since "$merged") after the reload"

# Exactly once each (per interface and protocol), with the right port and TXT data.
sleep 2  # room for duplicates and echoes to show up if there were any
resolved() {  # HOST TYPE: "NAME;PORT;TXT" of every resolved IPv4 line, sorted
  tb_browse "$1" "$2" | tee -a "$TB_DIR/log/browse-$1.txt" |
    awk -F';' '$1 == "=" && $3 == "IPv4" && NF >= 10 { print $4 ";" $9 ";" $10 }' | sort
}
want=$(for j in 1 2 3 4; do echo "Island-$j;$((1000 + j));\"island=$j\""; done)
for i in 1 2 3 4; do
  check "island $i lists Island-1..4 exactly once, with their ports and TXT" \
    test "$(resolved "${lan[i - 1]}" _daap._tcp)" = "$want"
done
in_g=$'G-Printer-1;631;"g=1"\nG-Printer-3;633;"g=3"'
in_p=$'P-Printer-2;632;"p=2"\nP-Printer-4;634;"p=4"'
check "island 1 lists G's two printers (and no others) exactly once, with ports and TXT" \
  test "$(resolved ha _ipp._tcp)" = "$in_g"
check "so does island 3" test "$(resolved hc _ipp._tcp)" = "$in_g"
check "islands 2 and 4 list P's two printers (and no others) exactly once" \
  test "$(resolved hb _ipp._tcp)" = "$in_p" -a "$(resolved hd _ipp._tcp)" = "$in_p"
groups_stay() {
  local p rc=0 pids=()
  absent "hb hd" _ipp._tcp 3 G-Printer-1 G-Printer-3 & pids+=($!)
  absent "ha hc" _ipp._tcp 3 P-Printer-2 P-Printer-4 & pids+=($!)
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return "$rc"
}
check "G's printers never reach islands 2 and 4, nor P's islands 1 and 3" groups_stay

# One group G now: its group-info, read by a non-member, lists both members.
groups_seen() {
  tb_exec gd timeout 10 "$Z2Z_BIN" --list-groups --bootstrap "$(tb_addr ga wan)" 2>/dev/null
}
one_group() {
  local i
  for ((i = 0; i < 5; i++)); do
    groups_seen | tee "$TB_DIR/log/list-groups.txt" | grep -q "^G	2 members" && return 0
    sleep 1
  done
  return 1
}
check "the main overlay lists one G with both members" one_group
tb_kill "$g1" >/dev/null
check "withdrawn on island 1, G's service leaves island 3 within 3 s" \
  tb_wait_gone hc _ipp._tcp G-Printer-1 3
check "island 4 did not restart" tb_alive "${gw_pid[4]}"
echo "total $(since "$started")"

z2z_finish
