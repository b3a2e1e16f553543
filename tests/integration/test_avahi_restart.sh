#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# avahi-daemon restarts under a running gateway: on B the imports come back, on A browsing
# resumes (a service published after the restart still crosses) and nothing is lost.
set -u
source "$(dirname "$0")/lib.sh"
z2z_init "$1"

z2z_start ga gwa.log --export _daap._tcp --key columbia --interface lan0 >/dev/null
z2z_start gb gwb.log --import --key columbia --interface lan0 --bootstrap "$(tb_addr ga wan)" >/dev/null
sleep 1

tb_publish ha "Before Restart" _daap._tcp 3689 a=1 >/dev/null
check "service appears on B" tb_wait_service hb _daap._tcp "Before Restart" 10

tb_avahi_restart gb
check "import back on B after B's avahi-daemon restarted" \
  tb_wait_service hb _daap._tcp "Before Restart" 10
check "with its port and TXT" \
  test "$(field 9 "$(tb_resolve hb _daap._tcp "Before Restart" 4)")" = 3689

tb_avahi_restart ga
check "B keeps the service while A's avahi-daemon restarts" \
  tb_wait_service hb _daap._tcp "Before Restart" 5
tb_publish ha "After Restart" _daap._tcp 3690 >/dev/null
check "a service published after A's restart crosses" \
  tb_wait_service hb _daap._tcp "After Restart" 10
check "the first service is still on B" tb_wait_service hb _daap._tcp "Before Restart" 2

z2z_finish
