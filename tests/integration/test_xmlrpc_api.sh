#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# An independent client (Python's xmlrpc.client) against a gateway's served OpenDHT gateway
# API: put, put_removable, get with placemark paging, get_details and rm give the documented
# results; a second endpoint with a low --xmlrpc-rate refuses bursts and then serves again; a
# key the first endpoint has cached shows what the second stores under it later; one client
# address keeps at most 1,000 long puts alive, and others are still served.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"
: "${Z2Z_DHT_TOOL:?set Z2Z_DHT_TOOL to the dht_tool binary}"
client=$(dirname "$0")/xmlrpc_client.py

tb_spawn ga dhtnode.log "$Z2Z_DHT_TOOL" serve --port 4300 >/dev/null
z2z_start ga gwa.log --import --key columbia --interface lan0 --bootstrap 127.0.0.1:4300 \
  --xmlrpc-listen 5851 --xmlrpc-rate 0 >/dev/null
z2z_start ga gwa2.log --import --key columbia --interface lan0 --bootstrap 127.0.0.1:4300 \
  --dht-port 4223 --xmlrpc-listen 127.0.0.1:5852 --xmlrpc-rate 10 >/dev/null
sleep 1

check "the API behaves as documented (see the PASS lines above)" \
  tb_exec ga python3 "$client" http://127.0.0.1:5851/ api
check "the rate limit (see above)" tb_exec ga python3 "$client" http://127.0.0.1:5852/ rate 10
check "the read cache follows the DHT (see above)" \
  tb_exec ga python3 "$client" http://127.0.0.1:5851/ cache http://127.0.0.1:5852/
check "each client's share of long puts (see above)" \
  tb_exec ga python3 "$client" http://127.0.0.1:5851/ quota
# (tb_exec is a function of this shell: a "bash -c" would not know it and pass vacuously.)
wan_refuses() {
  ! tb_exec ga python3 -c "import socket; socket.create_connection(('$(tb_addr ga wan)', 5851), timeout=2)" 2>/dev/null
}
loopback_serves() {
  tb_exec ga python3 -c "import socket; socket.create_connection(('127.0.0.1', 5851), timeout=2)"
}
check "the endpoint answers on loopback" loopback_serves
check "only loopback is served when only a port is given" wan_refuses
check "the served endpoint is still up" grep -q "serving the OpenDHT gateway API" "$TB_DIR/log/gwa.log"

z2z_finish
