#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Devices on link A with responders of their own (printers, speakers), heard by gateway A
# itself: one that announces its PTR record half a second before its SRV and TXT resolves on B
# with its port, TXT and address, and its goodbye takes it off B within 3 s. One whose
# announcement carries a question, which avahi-daemon drops whole, is listed by no browser on
# link A and must not appear on B either; announced without the question, it crosses. A host
# that announces over IPv6 only is heard too.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"

z2z_start ga gwa.log --export _ipp._tcp --key devices --interface lan0 >/dev/null
z2z_start gb gwb.log --import --key devices --interface lan0 --bootstrap "$(tb_addr ga wan)" >/dev/null
# The devices' address, on host A's link.
tb_exec ha ip addr add 198.18.1.20/24 dev br0
sleep 1

# announce HOST ADDRESS NAME [OPTION...] [TXT...]: a device on link A, HOST.local at ADDRESS,
# announces NAME, port 631 (tests/integration/mdns_device.py).
announce() {
  local host=$1 address=$2 name=$3
  shift 3
  tb_exec ha /usr/bin/python3 "$(dirname "$0")/mdns_device.py" "$(tb_if ha)" _ipp._tcp "$name" \
    631 "$host" "$address" "$@" >/dev/null
}
device() { announce printer-a 198.18.1.20 "$@"; }

check "a device announces its PTR record 0.5 s before its SRV and TXT" \
  device "Split Printer" --ptr-first 0.5 rp=ipp/print "note=room 1=a"
line=$(tb_wait_service hb _ipp._tcp "Split Printer" 3)
check "it resolves on B within 3 s" test -n "$line"
check "with its port" test "$(field 9 "$line")" = 631
check "with its TXT" test "$(field 10 "$line")" = '"note=room 1=a" "rp=ipp/print"'
check "with its address" test "$(field 8 "$line")" = 198.18.1.20

check "a device announces a service in a response that carries a question" \
  device "Asking Printer" --question
check "B never lists it" tb_expect_absent hb _ipp._tcp "Asking Printer" 4
check_not "avahi-daemon on link A does not list it either" \
  grep -q "Asking Printer" <(tb_browse ga _ipp._tcp)
check "the device announces it without the question" device "Asking Printer"
check "then it resolves on B" tb_wait_service hb _ipp._tcp "Asking Printer" 3 >/dev/null

check "the first device says goodbye" device "Split Printer" --goodbye
check "it is gone on B within 3 s" tb_wait_gone hb _ipp._tcp "Split Printer" 3

# A host without IPv4 on link A. Gateway A, which only exports, listens to link A over IPv4
# only: its first service is resolved through avahi-daemon a second later, and from then on
# gateway A listens there over IPv6 as well.
device6() { announce printer-six fd00:1::20 "$@" --ipv6; }
check "a host without IPv4 announces a service" device6 "Six Printer" rp=six
line=$(tb_wait_service hb _ipp._tcp "Six Printer" 5)
check "it resolves on B, at its IPv6 address" test "$(field 8 "$line")" = fd00:1::20
check "gateway A now listens there over IPv6 as well" wait_log gwa.log "announces over IPv6 only" 3
check "the host announces a second service" device6 "Six Scanner" rp=scan
check "it resolves on B too" tb_wait_service hb _ipp._tcp "Six Scanner" 3

z2z_finish
