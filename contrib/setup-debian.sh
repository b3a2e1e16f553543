#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs what z2z needs to build, test and run on Debian 12 (as root). Idempotent: packages
# already installed are left alone and the package lists are only updated when needed.
set -euo pipefail

packages=(
  # build
  cmake g++ pkg-config make
  # libraries z2z links
  libavahi-client-dev libdbus-1-dev libopendht-dev libpugixml-dev libssl-dev
  libxmlrpc-core-c3-dev libxmlrpc-c++8-dev
  # tests
  doctest-dev avahi-daemon avahi-utils dbus iproute2 iputils-ping mandoc python3 python3-dbus
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-debian.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-debian.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # No daemon may start in the root namespace: the tests run their own avahi-daemon instances.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
