#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# A group's life on two islands, with a plain DHT node keeping the main overlay alive:
# joining by an alias, tampered and replayed group-info rejected, the last member leaving
# removes the group, a crashed creator's group-info expires, a wrong secret is refused (the
# gateway goes on without the group), and two
# gateways creating the same group at once end up in one overlay.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"
tool=${Z2Z_DHT_TOOL:-$(dirname "$Z2Z_BIN")/../tests/dht_tool}
ttl=6
seed="$(tb_addr ga wan):4300"
tb_spawn ga serve.log "$tool" serve --port 4300 --bind "$(tb_addr ga wan)" >/dev/null
sleep 0.5
gw() {  # gw HOST LOG ARGS...: a gateway in the main overlay seeded by the plain node
  local host=$1 log=$2
  shift 2
  z2z_start "$host" "$log" --export _ipp._tcp --import --interface lan0 --ttl "$ttl" \
    --dht-bind "$(tb_addr "$host" wan)" --state-dir "$TB_DIR/state-$host" --bootstrap "$seed" "$@"
}
list() { tb_exec gb "$Z2Z_BIN" --list-groups --bootstrap "$seed" 2>/dev/null; }

# ---- alias -------------------------------------------------------------------------------
gwa=$(gw ga g1a.log --group G --alias G2 --group-description "alias test")
check "A creates G" wait_log g1a.log "group 'G': created" 10
sleep 1
gwb=$(gw gb g1b.log --group G2)
check "B joins by the alias G2" wait_log g1b.log "'G2' is an alias of group 'G'" 15
check "and reaches G's overlay" wait_log g1b.log "group 'G': joined" 5
pub=$(tb_publish ha "Alias Printer" _ipp._tcp 631)
check "a service of A's island reaches B through the group" \
  tb_wait_service hb _ipp._tcp "Alias Printer" 15 >/dev/null
out=$(list)
echo "$out"
check "--list-groups shows G with both members" grep -q "^G	2 members" <<<"$out"
check "and the alias" grep -q "^G2	alias of G" <<<"$out"

# ---- tampered and replayed group-info ------------------------------------------------------
mkdir -p "$TB_DIR/dump"
tb_exec gb "$tool" dump raw:z2z:v1:group:G "$TB_DIR/dump" --bootstrap "$seed" >/dev/null 2>&1
newest="" oldest="" nv=0 ov=0
for f in "$TB_DIR"/dump/*; do
  grep -q 'type="group-info"' "$f" && grep -q "<status>active" "$f" || continue
  v=$(grep -o '<version>[0-9]*' "$f" | grep -o '[0-9]*$')
  if [ "$v" -gt "$nv" ]; then nv=$v newest=$f; fi
  if [ "$ov" -eq 0 ] || [ "$v" -lt "$ov" ]; then ov=$v oldest=$f; fi
done
check "an outsider reads G's signed group-info" test -n "$newest" -a "$nv" -gt "$ov"
sed 's|<bootstrap-port>[0-9]*</bootstrap-port>|<bootstrap-port>9999</bootstrap-port>|' "$newest" \
  >"$TB_DIR/tampered"
tb_exec hb "$tool" put raw:z2z:v1:group:G "$TB_DIR/tampered" --bootstrap "$seed" >/dev/null 2>&1
check "a tampered group-info is rejected (bad signature)" \
  wait_log g1a.log "rejected group-info value .*bad signature" 5
before=$(grep -c "ignoring group-info version $ov: replayed" "$TB_DIR/log/g1a.log")
tb_exec hb "$tool" put raw:z2z:v1:group:G "$oldest" --bootstrap "$seed" >/dev/null 2>&1
sleep 1
after=$(grep -c "ignoring group-info version $ov: replayed" "$TB_DIR/log/g1a.log")
check "a replayed older group-info is rejected" test "$after" -gt "$before"
check "the bootstrap endpoints were not replaced" bash -c '! grep -q "9999" "$1"' _ "$TB_DIR/log/g1b.log"

# ---- leave, last member removes ---------------------------------------------------------
tb_kill "$pub" >/dev/null
tb_kill "$gwb" >/dev/null
check "B leaves, A stays" wait_log g1a.log "member .* left" 5
check "G is still listed while A is in it" grep -q "^G	" <<<"$(list)"
tb_kill "$gwa" >/dev/null
check "A, the last member, removes the group" grep -q "last member leaving" "$TB_DIR/log/g1a.log"
out=$(list)
check "--list-groups no longer shows G" bash -c '! grep -q "^G	" <<<"$1"' _ "$out"
check "nor its alias" bash -c '! grep -q "^G2	" <<<"$1"' _ "$out"
check "the removal is in the main overlay" \
  grep -q "<status>removed</status>" <(tb_exec gb "$tool" get raw:z2z:v1:group:G --bootstrap "$seed")

# ---- crashed creator -----------------------------------------------------------------------
gwe=$(gw ga g2a.log --group E)
check "A creates E" wait_log g2a.log "group 'E': created" 10
sleep 1
check "E is listed" grep -q "^E	1 members" <<<"$(list)"
tb_kill "$gwe" KILL >/dev/null
killed=$(date +%s)
check "E is still listed just after its creator crashed" grep -q "^E	" <<<"$(list)"
sleep $((ttl + 1))
check "E's group-info expired within its ttl" bash -c '! grep -q "^E	" <<<"$1"' _ "$(list)"
echo "E unlisted $(($(date +%s) - killed)) s after SIGKILL (ttl $ttl s)"

# ---- private group: wrong secret, unsafe mode -------------------------------------------
printf 'locator 00112233445566778899aabbccddeeff\nkey right-0123456789abcdef\n' >"$TB_DIR/right.secret"
printf 'locator 00112233445566778899aabbccddeeff\nkey wrong-0123456789abcdef\n' >"$TB_DIR/wrong.secret"
chmod 600 "$TB_DIR/right.secret" "$TB_DIR/wrong.secret"
gwp=$(gw ga g3a.log --group P --group-secret-file "$TB_DIR/right.secret")
check "A creates private group P" wait_log g3a.log "group 'P': created" 10
sleep 1
tb_exec gb timeout 8 "$Z2Z_BIN" --import --group P --group-secret-file "$TB_DIR/wrong.secret" \
  --interface lan0 --dht-bind "$(tb_addr gb wan)" --state-dir "$TB_DIR/state-gb" \
  --bootstrap "$seed" >"$TB_DIR/log/wrong.log" 2>&1
rc=$?
check "a wrong secret does not stop the gateway (it runs until the test's timeout)" test "$rc" -eq 124
check "it says so" grep -q "wrong group secret" "$TB_DIR/log/wrong.log"
check "it did not create a second group" bash -c '! grep -q "created" "$1"' _ "$TB_DIR/log/wrong.log"
chmod 644 "$TB_DIR/wrong.secret"
tb_exec gb "$Z2Z_BIN" --import --group P --group-secret-file "$TB_DIR/wrong.secret" \
  --state-dir "$TB_DIR/state-gb" --bootstrap "$seed" >"$TB_DIR/log/mode.log" 2>&1
check "a secret file readable by others is refused" grep -q "chmod 600" "$TB_DIR/log/mode.log"
tb_kill "$gwp" >/dev/null

# ---- two creators at the same moment -------------------------------------------------------
gw ga g4a.log --group R >/dev/null &
gw gb g4b.log --group R >/dev/null &
wait
p1=$(tb_publish ha "Race A" _ipp._tcp 631)
p2=$(tb_publish hb "Race B" _ipp._tcp 632)
check "A's service reaches B" tb_wait_service hb _ipp._tcp "Race A" 20 >/dev/null
check "B's service reaches A" tb_wait_service ha _ipp._tcp "Race B" 10 >/dev/null
sleep $((ttl / 3 + 1))
check "one group-info lists both members" grep -q "^R	2 members" <<<"$(list)"
echo "creators: $(grep -ho "group 'R': [a-z]*" "$TB_DIR/log/g4a.log" "$TB_DIR/log/g4b.log" | sort | uniq -c | tr '\n' ' ')"
tb_kill "$p1" >/dev/null
tb_kill "$p2" >/dev/null

z2z_finish
