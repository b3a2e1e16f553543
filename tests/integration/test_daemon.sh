#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# z2zd on the two-island testbed: configured by z2zd.conf, status over the control socket,
# SIGHUP with a valid change (only the changed export moves) and with a broken file (the old
# configuration stays), SIGTERM withdrawing everything within 2 s.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"
z2zd="$(dirname "$Z2Z_BIN")/z2zd"

conf_a="$TB_DIR/a.conf"
write_a() {  # $1: ttl of the printers export; $2: a group's description, if there is one
  cat >"$conf_a" <<CONF
[server]
state-directory = $TB_DIR/state-a
control-socket = $TB_DIR/a.sock
log-level = info

[export music]
types = _daap._tcp
key = columbia
interfaces = lan0

[export printers]
types = _ipp._tcp
key = columbia
interfaces = lan0
ttl = $1
CONF
  if [ -n "${2:-}" ]; then
    printf '\n[group lab]\ntypes = _daap._tcp\ninterfaces = lan0\ndescription = %s\n' "$2" >>"$conf_a"
  fi
}
write_a 120
cat >"$TB_DIR/b.conf" <<CONF
[server]
bootstrap = $(tb_addr ga wan)
state-directory = $TB_DIR/state-b
control-socket = $TB_DIR/b.sock

[import all]
key = columbia
interfaces = lan0
CONF

check "z2zd --check accepts the files" \
  bash -c "'$z2zd' --check -f '$conf_a' >/dev/null && '$z2zd' --check -f '$TB_DIR/b.conf' >/dev/null"
printf '[server]\ndht-prot = 1\n[export x]\ntypes = _a._tcp\n' >"$TB_DIR/bad.conf"
out=$("$z2zd" --check -f "$TB_DIR/bad.conf" 2>&1); rc=$?
check "z2zd --check refuses a broken file with status 78" test "$rc" -eq 78
check "naming file and line of each error" \
  bash -c "grep -q '$TB_DIR/bad.conf:2: unknown key .dht-prot.' <<<\"\$0\" && grep -q '$TB_DIR/bad.conf:3: .export. lacks the required key .key.' <<<\"\$0\"" "$out"

gwa=$(tb_spawn ga gwa.log "$z2zd" -f "$conf_a")
gwb=$(tb_spawn gb gwb.log "$z2zd" -f "$TB_DIR/b.conf")
for _ in $(seq 50); do [ -S "$TB_DIR/a.sock" ] && [ -S "$TB_DIR/b.sock" ] && break; sleep 0.1; done
check "the state directory is created with mode 0700" test "$(stat -c %a "$TB_DIR/state-a")" = 700

tb_publish ha "Song" _daap._tcp 3689 >/dev/null
tb_publish ha "Printer" _ipp._tcp 631 rp=queue >/dev/null
check "a _daap._tcp service crosses" tb_wait_service hb _daap._tcp "Song" 10
check "an _ipp._tcp service crosses" tb_wait_service hb _ipp._tcp "Printer" 10

json_a=$("$Z2Z_BIN" --status --json --control-socket "$TB_DIR/a.sock")
json_b=$("$Z2Z_BIN" --status --json --control-socket "$TB_DIR/b.sock")
check "status --json of A lists the live export" python3 -c '
import json, sys
s = json.loads(sys.argv[1])
music = [e for e in s["exports"] if e["section"] == "music"][0]
assert music["key"] == "columbia" and {"name": "Song", "type": "_daap._tcp"} in music["services"]
' "$json_a"
check "status --json of B lists the live imports and the DHT peer" python3 -c '
import json, sys
s = json.loads(sys.argv[1])
names = sorted(x["name"] for x in s["imports"][0]["services"])
assert names == ["Printer", "Song"], names
assert s["overlay"]["good_nodes"] + s["overlay"]["dubious_nodes"] >= 1
assert s["imports"][0]["counters"]["records_received"] >= 2
' "$json_b"
check "status in text form names the import" \
  grep -q "'Song'._daap._tcp.local as 'Song'" <("$Z2Z_BIN" --status --control-socket "$TB_DIR/b.sock")

# SIGHUP with a valid change: only [export printers] changes.
tb_exec hb avahi-browse -pk _daap._tcp >"$TB_DIR/watch-song.txt" 2>/dev/null &
watcher=$!
sleep 0.5
songs_before=$(grep -c "exported 'Song'" "$TB_DIR/log/gwa.log")
printers_before=$(grep -c "exported 'Printer'" "$TB_DIR/log/gwa.log")
write_a 60
kill -HUP "$gwa"
sleep 2
check "reload logged with one section changed" grep -q "reloaded: 1 sections unchanged, 1 changed" "$TB_DIR/log/gwa.log"
check "the unchanged export was not put again" test "$(grep -c "exported 'Song'" "$TB_DIR/log/gwa.log")" -eq "$songs_before"
check "the changed export moved" test "$(grep -c "exported 'Printer'" "$TB_DIR/log/gwa.log")" -gt "$printers_before"
check "the printer is on B after the reload" tb_wait_service hb _ipp._tcp "Printer" 10
kill "$watcher" 2>/dev/null
check_not "the song never left B during the reload" grep -q "^-;.*;Song;" "$TB_DIR/watch-song.txt"

# SIGHUP adding a group, then changing it: the changed group leaves and joins again, its new
# overlay beside the old one that is still leaving (it withdraws for up to 2 s).
write_a 60 "first"
kill -HUP "$gwa"
check "a group added by a reload is created" wait_log gwa.log "group 'lab': created" 15
write_a 60 "second"
kill -HUP "$gwa"
rejoined() { [ "$(grep -cE "group 'lab': (created|joined)" "$TB_DIR/log/gwa.log")" -ge 2 ]; }
for _ in $(seq 150); do rejoined && break; sleep 0.1; done
check "a group changed by a reload is back within 15 s" rejoined
check_not "its overlay did not fail to start" grep -q "group 'lab': cannot start" "$TB_DIR/log/gwa.log"

# SIGHUP adding a section on an interface that does not exist: it is left out with an error,
# and the rest of the reload and the gateway go on.
write_a 60 "second"
printf '\n[export ghost]\ntypes = _ghost._tcp\nkey = columbia\ninterfaces = nosuch0\n' >>"$conf_a"
reloads=$(grep -c "reloaded:" "$TB_DIR/log/gwa.log")
kill -HUP "$gwa"
check "a section on a missing interface is left out, saying why" \
  wait_log gwa.log "\[export ghost\] not started: interface 'nosuch0' does not exist" 5
check "and the reload completes" test "$(grep -c "reloaded:" "$TB_DIR/log/gwa.log")" -gt "$reloads"
check "the other exports stay on B" tb_wait_service hb _daap._tcp "Song" 2

# SIGHUP with a broken file: refused, the old configuration keeps running.
printf '[server]\nlog-level = loud\n' >"$conf_a"
kill -HUP "$gwa"
sleep 1
check "a broken file is refused on reload" grep -q "reload refused" "$TB_DIR/log/gwa.log"
check "with the reason" grep -q "log-level: 'loud'" "$TB_DIR/log/gwa.log"
check "gateway A keeps running" tb_alive "$gwa"
check "the services stay on B" tb_wait_service hb _daap._tcp "Song" 2

# SIGTERM: everything withdrawn within 2 s, and A exits.
start=$(date +%s%N)
kill -TERM "$gwa"
check "Song withdrawn from B within 2 s of SIGTERM" tb_wait_gone hb _daap._tcp "Song" 2
check "Printer withdrawn from B within 2 s of SIGTERM" tb_wait_gone hb _ipp._tcp "Printer" 1
for _ in $(seq 30); do tb_alive "$gwa" || break; sleep 0.1; done
took=$((($(date +%s%N) - start) / 1000000))
echo "A exited and B withdrew within ${took} ms"
check "gateway A exited within 2 s" test "$took" -le 2500 -a -z "$(tb_alive "$gwa" && echo alive)"
kill -TERM "$gwb"
for _ in $(seq 30); do tb_alive "$gwb" || break; sleep 0.1; done
check_not "gateway B exits on SIGTERM too" tb_alive "$gwb"

z2z_finish
