#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Growth and interconnection with z2zd: two overlays formed apart (each island alone) merge when
# one leader learns of a node of the other through a reloaded bootstrap peer, without a restart;
# then a restarted gateway rejoins from its node cache alone.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"
z2zd="$(dirname "$Z2Z_BIN")/z2zd"

conf() {  # NAME IFACE [BOOTSTRAP]
  {
    cat <<CONF
[server]
bootstrap = ${3:-}
state-directory = $TB_DIR/state-$1
control-socket = $TB_DIR/$1.sock
log-level = info
CONF
    z2zd_site_sections "$2"
  } >"$TB_DIR/$1.conf"
}
conf a lan0
conf b lan0
gwa=$(tb_spawn ga gwa.log "$z2zd" -f "$TB_DIR/a.conf")
gwb=$(tb_spawn gb gwb.log "$z2zd" -f "$TB_DIR/b.conf")
sleep 2.5
tb_publish ha "From A" _daap._tcp 1001 >/dev/null
tb_publish hb "From B" _daap._tcp 1002 >/dev/null
check "two overlays formed apart carry nothing across" tb_expect_absent hb _daap._tcp "From A" 3

stage() { "$Z2Z_BIN" --status --json --control-socket "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["overlay"]["stage"])'; }
check "a lone leader is in the interconnection stage" test "$(stage "$TB_DIR/a.sock")" = interconnection

conf b lan0 "$(tb_addr ga wan)"
kill -HUP "$gwb"
check "after B learns one node of A's overlay (reload), A's service reaches B" \
  tb_wait_service hb _daap._tcp "From A" 15
check "and B's service reaches A" tb_wait_service ha _daap._tcp "From B" 15
check "B reports the growth stage" test "$(stage "$TB_DIR/b.sock")" = growth
check "B did not restart" tb_alive "$gwb"

# Interconnection from the node cache: B restarts with no bootstrap peer at all.
tb_kill "$gwb" TERM >/dev/null
check "B saved its node cache" test -s "$TB_DIR/state-b/nodes"
conf b lan0
gwb=$(tb_spawn gb gwb2.log "$z2zd" -f "$TB_DIR/b.conf")
check "restarted B bootstraps from its node cache" \
  bash -c "for i in \$(seq 50); do grep -q 'nodes of the node cache' '$TB_DIR/log/gwb2.log' && exit 0; sleep 0.1; done; exit 1"
tb_publish ha "After Restart" _daap._tcp 1003 >/dev/null
check "a service from A reaches the restarted B" tb_wait_service hb _daap._tcp "After Restart" 15
check "B's service is back on A" tb_wait_service ha _daap._tcp "From B" 15

z2z_finish
