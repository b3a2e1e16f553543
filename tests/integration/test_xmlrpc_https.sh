#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Gateway B uses gateway A's served OpenDHT gateway API over HTTPS (--gateway https://...),
# through a TLS-terminating proxy on A (tls_proxy.py) whose certificate a private CA made in
# the test's directory signed for A's WAN address. Without --gateway-ca (the system's CAs),
# with another CA, and with a certificate for another address, B refuses the gateway and logs
# why, and nothing crosses; with --gateway-ca of the right CA, services cross both ways.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"
: "${Z2Z_DHT_TOOL:?set Z2Z_DHT_TOOL to the dht_tool binary}"
proxy=$(dirname "$0")/tls_proxy.py

wan_a=$(tb_addr ga wan)
tls=$TB_DIR/tls
mkdir -p "$tls"
# make_ca NAME; make_cert NAME CA ADDRESS: EC P-256 keys, valid for two days.
make_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=z2z test $1" -keyout "$tls/$1.key" -out "$tls/$1.pem" 2>/dev/null
}
make_cert() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=$3" -keyout "$tls/$1.key" -out "$tls/$1.csr" 2>/dev/null &&
    openssl x509 -req -in "$tls/$1.csr" -CA "$tls/$2.pem" -CAkey "$tls/$2.key" -set_serial "$RANDOM" \
      -days 2 -out "$tls/$1.pem" -extfile <(printf '%s\n' "subjectAltName=IP:$3" \
      "basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth") 2>/dev/null
}
check "a private CA, another CA and two certificates are made" \
  bash -c "$(declare -f make_ca make_cert); tls=$tls; make_ca ca && make_ca other-ca &&
           make_cert gw ca $wan_a && make_cert elsewhere ca 198.19.0.9"

tb_spawn ga dhtnode.log "$Z2Z_DHT_TOOL" serve --port 4300 >/dev/null
z2z_start ga gwa.log --export _daap._tcp --import --key columbia --interface lan0 \
  --bootstrap 127.0.0.1:4300 --xmlrpc-listen 5851 --xmlrpc-rate 0 >/dev/null
tb_spawn ga tls.log python3 "$proxy" "$wan_a" 5443 "$tls/gw.pem" "$tls/gw.key" 127.0.0.1 5851 >/dev/null
tb_spawn ga tls-elsewhere.log python3 "$proxy" "$wan_a" 5444 "$tls/elsewhere.pem" \
  "$tls/elsewhere.key" 127.0.0.1 5851 >/dev/null
check "the TLS proxies listen" wait_log tls.log listening 10
check "(both)" wait_log tls-elsewhere.log listening 10

alpha=$(tb_publish ha "Alpha" _daap._tcp 1001 side=a)
check "A's service is in the DHT" wait_log gwa.log "Alpha" 10

# refused NAME LOG MESSAGE ARGS...: B with ARGS logs MESSAGE and imports nothing.
refused() {
  local name=$1 log=$2 message=$3 pid
  shift 3
  pid=$(z2z_start gb "$log" --export _daap._tcp --import --key columbia --interface lan0 \
    --poll 1 "$@")
  check "$name: B logs that the certificate is not trusted" wait_log "$log" "$message" 15
  check_not "$name: nothing crosses" tb_wait_service hb _daap._tcp "Alpha" 2
  tb_kill "$pid" >/dev/null
}
refused "the system's CAs" gwb-system.log \
  "its TLS certificate is not trusted by the system's CAs" --gateway "https://$wan_a:5443/"
refused "another CA" gwb-other.log \
  "its TLS certificate is not trusted by the CAs in $tls/other-ca.pem" \
  --gateway "https://$wan_a:5443/" --gateway-ca "$tls/other-ca.pem"
refused "a certificate for another address" gwb-elsewhere.log \
  "its TLS certificate is not trusted" --gateway "https://$wan_a:5444/" --gateway-ca "$tls/ca.pem"
check "the proxy saw B abort its handshakes" grep -q "handshake failed" "$TB_DIR/log/tls.log"

# A CA file that cannot be read stops z2z at once, naming the file.
missing_ca() {
  ! tb_exec gb timeout 10 "$Z2Z_BIN" --import --key columbia --gateway "https://$wan_a:5443/" \
    --gateway-ca "$tls/missing.pem" >"$TB_DIR/log/missing.log" 2>&1 &&
    grep -qF "gateway-ca: cannot read '$tls/missing.pem'" "$TB_DIR/log/missing.log"
}
check "a --gateway-ca that cannot be read stops z2z with a clear error" missing_ca

z2z_start gb gwb.log --export _daap._tcp --import --key columbia --interface lan0 \
  --gateway "https://$wan_a:5443/" --gateway-ca "$tls/ca.pem" --poll 1 >/dev/null
check "B checks the certificate against the private CA" \
  wait_log gwb.log "certificate checked against $tls/ca.pem" 1
beta=$(tb_publish hb "Beta" _daap._tcp 1002 side=b)
check "A's service appears on B (through the API over HTTPS)" tb_wait_service hb _daap._tcp "Alpha" 15
check "B's service appears on A (through the API over HTTPS)" tb_wait_service ha _daap._tcp "Beta" 15
check "B's TXT crossed intact" \
  test "$(field 10 "$(tb_resolve ha _daap._tcp Beta 4)")" = '"side=b"'
check_not "B logged no certificate problem" grep -q "not trusted" "$TB_DIR/log/gwb.log"
tb_kill "$beta" >/dev/null
check "B's service withdrawn on A within 5 s" tb_wait_gone ha _daap._tcp "Beta" 5
tb_kill "$alpha" >/dev/null
check "A's service withdrawn on B within 5 s" tb_wait_gone hb _daap._tcp "Alpha" 5

z2z_finish
