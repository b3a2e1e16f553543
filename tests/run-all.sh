#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Sets up a Debian 12 machine and runs every test of z2z (as root: the integration tests build
# network namespaces with their own avahi-daemon and dbus-daemon):
#   1. a normal build: unit tests, fuzz corpus replay, man page checks, integration tests;
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build: unit tests and corpus replay.
# The sanitizer build compiles while the tests of the first one run, at the lowest CPU and I/O
# priority (nice 19, idle I/O class): it takes what they leave idle (the integration tests mostly
# wait on the network), and the tests, which are sensitive to timing, keep the CPU when they want it.
# Prints one closing line "N passed, N failed" over all of them.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)

bash contrib/setup-debian.sh || exit 1

jobs=$(nproc)
passed=0
failed=0

# Runs one ctest invocation and adds its counts to the totals.
run_ctest() {
  local dir=$1
  shift
  local out
  out=$(mktemp)
  (cd "$dir" && ctest --output-on-failure --timeout 300 "$@") 2>&1 | tee "$out"
  local line total nfail
  line=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$out" | tail -n 1)
  rm -f "$out"
  if [ -z "$line" ]; then
    failed=$((failed + 1))
    return
  fi
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  nfail=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  passed=$((passed + total - nfail))
  failed=$((failed + nfail))
}

build() {
  local dir=$1
  shift
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZ2Z_WERROR=ON "$@" >/dev/null &&
    cmake --build "$dir" -j "$jobs"
}

echo "== build (RelWithDebInfo)"
build_ok=0
build "$root/build" && build_ok=1

asan_log=$(mktemp)
(
  renice -n 19 -p "$BASHPID" >/dev/null
  ionice -c 3 -p "$BASHPID" 2>/dev/null
  build "$root/build-asan" -DZ2Z_SANITIZE=ON
) >"$asan_log" 2>&1 &
asan_pid=$!

if [ "$build_ok" -eq 1 ]; then
  echo "== unit tests, corpus replay, man pages"
  run_ctest "$root/build" -LE integration -j "$jobs"
  echo "== integration tests (real avahi-daemon islands in network namespaces)"
  run_ctest "$root/build" -L integration
else
  failed=$((failed + 1))
fi

echo "== build (AddressSanitizer + UndefinedBehaviorSanitizer; compiled during the tests above)"
wait "$asan_pid"
asan_rc=$?
cat "$asan_log"
rm -f "$asan_log"
if [ "$asan_rc" -eq 0 ]; then
  echo "== unit tests and corpus replay under the sanitizers"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_ctest "$root/build-asan" -LE integration -E man -j "$jobs"
else
  failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
