# shellcheck shell=bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# lib.sh -- what the z2z integration tests share on top of testbed.sh: starting gateways,
# assertions, and the closing "N passed, N failed" line.
#
#   z2z_init Z2Z_BINARY     remember the binary, build the testbed (tb_up)
#   z2z_start HOST LOG ARGS...
#                           start z2z in HOST's namespace on HOST's bus, print its PID, wait
#                           (bounded) until it is connected to avahi-daemon
#   check NAME CMD..., check_not NAME CMD...   (tests/check.sh)
#   z2z_finish              print the summary line, exit 1 if anything failed
#   field N LINE            field N of an avahi-browse -p line
#   wait_log LOG PATTERN SECONDS
#                           whether $TB_DIR/log/LOG matches PATTERN (grep) within SECONDS

# shellcheck source=tests/integration/testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/testbed.sh"
# shellcheck source=tests/check.sh
source "$(dirname "${BASH_SOURCE[0]}")/../check.sh"

z2z_init() {
  Z2Z_BIN=$(readlink -f "$1")
  if [ ! -x "$Z2Z_BIN" ]; then
    echo "usage: $0 PATH-TO-z2z" >&2
    exit 2
  fi
  tb_up "${TB_PREFIX_WANTED:-z$$}" || { echo "0 passed, 1 failed"; exit 1; }
}

z2z_start() {
  local host=$1 logname=$2
  shift 2
  local pid
  pid=$(tb_spawn "$host" "$logname" "$Z2Z_BIN" --log-level info "$@") || return 1
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q "connected to avahi-daemon" "$TB_DIR/log/$logname" 2>/dev/null && break
    sleep 0.1
  done
  echo "$pid"
}

z2z_log() { cat "$TB_DIR/log/$1"; }

field() { printf '%s\n' "$2" | cut -d';' -f"$1"; }

wait_log() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -q -- "$2" "$TB_DIR/log/$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Shows the gateways' logs when something failed, then the closing line.
z2z_finish() {
  if [ "$Z2Z_FAILED" -gt 0 ] && [ -d "${TB_DIR:-/nonexistent}/log" ]; then
    for f in "$TB_DIR"/log/gw*.log; do
      [ -f "$f" ] || continue
      echo "---- $(basename "$f") (last 40 lines)"
      tail -n 40 "$f"
    done
  fi
  tb_down
  check_summary
}

# The [export site] and [import site] sections of the z2zd tests' config files: _daap._tcp
# exported and imported under the key columbia on INTERFACE (default lan0).
z2zd_site_sections() {  # [INTERFACE]
  local ifc=${1:-lan0}
  printf '\n[export site]\ntypes = _daap._tcp\nkey = columbia\ninterfaces = %s\n' "$ifc"
  printf '\n[import site]\nkey = columbia\ninterfaces = %s\n' "$ifc"
}
