#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Malformed calls to the served OpenDHT gateway API get XML-RPC faults (bad arguments, bad
# XML, requests over 16 KiB however framed: 64 KiB and 1 MiB with Content-Length, chunked and
# delimited by the end of the connection, and a claim of 10^9 bytes) or HTTP errors (empty
# requests, broken chunked encoding), and the server keeps serving; the gateway process never
# dies of it.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"
: "${Z2Z_DHT_TOOL:?set Z2Z_DHT_TOOL to the dht_tool binary}"
client=$(dirname "$0")/xmlrpc_client.py

tb_spawn ga dhtnode.log "$Z2Z_DHT_TOOL" serve --port 4300 >/dev/null
gwa=$(z2z_start ga gwa.log --import --key columbia --interface lan0 --bootstrap 127.0.0.1:4300 \
  --xmlrpc-listen 5851 --xmlrpc-rate 0)
sleep 1

check "malformed requests (see the PASS lines above)" \
  tb_exec ga python3 "$client" http://127.0.0.1:5851/ malformed
check "the gateway process is still running" tb_alive "$gwa"
check "faults are logged with the argument at fault" grep -q "fault: value: 1025 bytes" "$TB_DIR/log/gwa.log"
check "oversized requests are logged with the limit" \
  grep -q "fault: request of 1048576 bytes over this endpoint's limit of 16384 bytes" "$TB_DIR/log/gwa.log"
check_not "no internal error was logged" grep -q "internal error\|unknown exception" "$TB_DIR/log/gwa.log"

z2z_finish
