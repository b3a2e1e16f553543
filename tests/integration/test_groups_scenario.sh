#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The example scenario of draft-kassinen-p2prg-group-management-00 on four real avahi islands,
# all four gateways in the main overlay: islands 1 and 2 in (private) group A, islands 2 and 4
# in (public) group B, island 3 in no group. Services stay inside their group; island 2
# carries both groups at once; island 3 reads nothing of A in the DHT.
set -u
export TB_ISLANDS=4
source "$(dirname "$0")/lib.sh"
z2z_init "$1"
tool=${Z2Z_DHT_TOOL:-$(dirname "$Z2Z_BIN")/../tests/dht_tool}
main=$(tb_addr ga wan)

printf 'locator %s\nkey %s\n' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$TB_DIR/a.secret"
chmod 600 "$TB_DIR/a.secret"
common=(--export _ipp._tcp --import --interface lan0 --dht-port 4222)

z2z_start ga gw1.log "${common[@]}" --dht-bind "$main" --state-dir "$TB_DIR/s1" \
  --group A --group-secret-file "$TB_DIR/a.secret" >/dev/null
z2z_start gc gw3.log "${common[@]}" --dht-bind "$(tb_addr gc wan)" --state-dir "$TB_DIR/s3" \
  --key island3 --bootstrap "$main" >/dev/null
# Let A exist before its second member looks it up.
for ((i = 0; i < 100; i++)); do grep -q "group 'A': created" "$TB_DIR/log/gw1.log" && break; sleep 0.1; done
z2z_start gd gw4.log "${common[@]}" --dht-bind "$(tb_addr gd wan)" --state-dir "$TB_DIR/s4" \
  --group B --group-description "Island four's printers" --bootstrap "$main" >/dev/null
for ((i = 0; i < 100; i++)); do grep -q "group 'B': created" "$TB_DIR/log/gw4.log" && break; sleep 0.1; done
z2z_start gb gw2.log "${common[@]}" --dht-bind "$(tb_addr gb wan)" --state-dir "$TB_DIR/s2" \
  --group A --group-secret-file "$TB_DIR/a.secret" --group B --bootstrap "$main" >/dev/null

check "island 1 created private group A" grep -q "group 'A': created" "$TB_DIR/log/gw1.log"
check "island 4 created group B" grep -q "group 'B': created" "$TB_DIR/log/gw4.log"
for ((i = 0; i < 150; i++)); do
  [ "$(grep -c "': joined" "$TB_DIR/log/gw2.log")" -ge 2 ] && break
  sleep 0.1
done
check "island 2 joined A (did not create it)" grep -q "group 'A': joined" "$TB_DIR/log/gw2.log"
check "island 2 joined B (did not create it)" grep -q "group 'B': joined" "$TB_DIR/log/gw2.log"
check "group overlays have their own network ids" \
  test "$(grep -o "group 'A': joined, overlay network [0-9]*" "$TB_DIR/log/gw2.log" | grep -o '[0-9]*$')" != \
       "$(grep -o "group 'B': joined, overlay network [0-9]*" "$TB_DIR/log/gw2.log" | grep -o '[0-9]*$')"

p1=$(tb_publish ha "Printer A1" _ipp._tcp 631 group=A)
p4=$(tb_publish hd "Printer B4" _ipp._tcp 632 group=B)
line=$(tb_wait_service hb _ipp._tcp "Printer A1" 15)
check "A's service from island 1 appears on island 2" test -n "$line"
check "with its port" test "$(field 9 "$line")" = 631
line=$(tb_wait_service hb _ipp._tcp "Printer B4" 15)
check "B's service from island 4 appears on island 2" test -n "$line"
check "island 2 carries both groups at once" tb_wait_service hb _ipp._tcp "Printer A1" 1 >/dev/null
check "A's service never appears on island 3 or 4" tb_expect_absent "hc hd" _ipp._tcp "Printer A1" 3
check "B's service never appears on island 1 or 3" tb_expect_absent "ha hc" _ipp._tcp "Printer B4" 2

# Island 3, an outsider to both groups, queries the main overlay under every key it can
# compute from the names it knows.
out=""
for k in raw:z2z:v1:group:A raw:z2z:v1:members:A raw:z2z:v1:group-directory A group:A \
         raw:z2z:v1:group:B; do
  out+="== $k"$'\n'
  out+=$(tb_exec gc "$tool" get "$k" --bootstrap "$main" 2>/dev/null)$'\n'
done
echo "$out" >"$TB_DIR/log/island3-reads.txt"
check "island 3 can read public group B's group-info (the method works)" \
  grep -q "<name>B</name>" <<<"$out"
check "island 3 reads nothing of private group A" \
  bash -c '! grep -qE "<name>A</name>|Printer A1|198\.18\.1\.|Z2Z-SEALED" "$1"' _ "$TB_DIR/log/island3-reads.txt"
check "no value at all under A's public keys" \
  test "$(awk '/^== raw:z2z:v1:group:A$/{f=1;next} /^==/{f=0} f&&NF' <<<"$out" | wc -l)" -eq 0
list=$(tb_exec gc "$Z2Z_BIN" --list-groups --bootstrap "$main" 2>/dev/null)
echo "$list"
check "--list-groups on island 3 shows public group B" grep -q "^B	2 members" <<<"$list"
check "and its description" grep -q "Island four's printers" <<<"$list"
check "and not private group A" bash -c '! grep -q "^A	" <<<"$1"' _ "$list"

tb_kill "$p1" >/dev/null
check "A's service withdrawn on island 2" tb_wait_gone hb _ipp._tcp "Printer A1" 5
tb_kill "$p4" >/dev/null
check "B's service withdrawn on island 2" tb_wait_gone hb _ipp._tcp "Printer B4" 5

z2z_finish
