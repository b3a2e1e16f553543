#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Interfaces that come and go on the gateway's host (a VPN, a USB adapter, a bridge set up
# again): gateway A, not limited to an interface, follows avahi-daemon onto each new one and
# closes what it opened there once it is gone, so that its open files come back to what they
# were, and it goes on exporting.
set -u
export TB_AVAHI_CONF_ga="server.allow-interfaces=lan0,vx1,vx2,vx3"
source "$(dirname "$0")/lib.sh"
z2z_init "$1"

gwa=$(z2z_start ga gwa.log --export _ipp._tcp --key interfaces --log-level debug)
z2z_start gb gwb.log --import --key interfaces --interface lan0 --bootstrap "$(tb_addr ga wan)" >/dev/null
sleep 2
ns=$(tb_ns ga)
fds() { find "/proc/$gwa/fd" -mindepth 1 -maxdepth 1 | wc -l; }
before=$(fds)

# listens N: whether gateway A has opened a socket on interface vxN within 5 s.
listens() {
  local index i
  index=$(ip -n "$ns" -o link show "vx$1" | cut -d: -f1) || return 1
  for ((i = 0; i < 50; i++)); do
    grep -q "listening for mDNS on interface $index " "$TB_DIR/log/gwa.log" && return 0
    sleep 0.1
  done
  return 1
}
for n in 1 2 3; do
  ip -n "$ns" link add "vx$n" type veth peer name "vy$n"
  ip -n "$ns" link set "vy$n" up
  ip -n "$ns" link set "vx$n" up
  ip -n "$ns" addr add "198.18.$((20 + n)).1/24" dev "vx$n"
  check "gateway A listens on new interface vx$n" listens "$n"
  ip -n "$ns" link del "vx$n"
  sleep 1
done

# back_to N: whether gateway A has N files open within 5 s.
back_to() {
  local i
  for ((i = 0; i < 50; i++)); do
    [ "$(fds)" -eq "$1" ] && return 0
    sleep 0.1
  done
  echo "gateway A has $(fds) files open, $1 before" >&2
  return 1
}
check "gateway A's open files are back to $before" back_to "$before"
check "it logged the interfaces gone" grep -q "not listening for mDNS on interface .*: it is gone" \
  "$TB_DIR/log/gwa.log"
tb_publish ha "After Churn" _ipp._tcp 631 >/dev/null
check "it still exports: a service on A resolves on B" \
  tb_wait_service hb _ipp._tcp "After Churn" 10 >/dev/null

z2z_finish
