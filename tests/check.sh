# shellcheck shell=bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# check.sh -- the assertions every shell test shares. Source it from bash.
#
#   check NAME CMD...       run CMD; count and print PASS/FAIL NAME
#   check_not NAME CMD...   the same, passing when CMD fails
#   check_summary           print "N passed, N failed"; status 0 only if nothing failed

Z2Z_PASSED=0
Z2Z_FAILED=0

check() {
  local name=$1
  shift
  if "$@"; then
    Z2Z_PASSED=$((Z2Z_PASSED + 1))
    echo "PASS $name"
  else
    Z2Z_FAILED=$((Z2Z_FAILED + 1))
    echo "FAIL $name"
  fi
}

check_not() {
  local name=$1
  shift
  check "$name" _z2z_fails "$@"
}

_z2z_fails() { ! "$@"; }

check_summary() {
  echo "$Z2Z_PASSED passed, $Z2Z_FAILED failed"
  [ "$Z2Z_FAILED" -eq 0 ]
}
