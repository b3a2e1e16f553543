#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The Debian package: built with CPack, it holds the programs, man pages, config and unit in
# the right places; unpacked into a scratch root, its z2zd validates the shipped config and
# starts, answering z2z --status, and stops on SIGTERM. Also checks the contrib files.
set -u
src=$1
build=$2
# shellcheck source=tests/check.sh
source "$(dirname "$0")/check.sh"
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$build" && cpack -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1)
deb=$(ls "$work"/pkg/*.deb 2>/dev/null | head -n 1)
check "cpack builds a .deb" test -f "$deb"
contents=$(dpkg-deb -c "$deb" 2>/dev/null)
for path in ./usr/bin/z2z ./usr/sbin/z2zd ./usr/share/man/man1/z2z.1 \
            ./usr/share/man/man5/z2zd.conf.5 ./usr/share/man/man8/z2zd.8 ./etc/z2z/z2zd.conf \
            ./usr/lib/systemd/system/z2zd.service ./usr/share/doc/z2z/z2zd.conf; do
  check "package holds $path" grep -q " $path\$" <<<"$contents"
done
check "the config is a conffile" grep -qx "/etc/z2z/z2zd.conf" <(dpkg-deb -I "$deb" conffiles 2>/dev/null)
check "it depends on avahi-daemon and libopendht" \
  bash -c "dpkg-deb -f '$deb' Depends | grep -q avahi-daemon && dpkg-deb -f '$deb' Depends | grep -q libopendht"

root="$work/root"
dpkg-deb -x "$deb" "$root"
check "the unpacked z2zd validates the shipped config" \
  "$root/usr/sbin/z2zd" --check -f "$root/etc/z2z/z2zd.conf"
check "the OpenWrt sample config is valid" "$root/usr/sbin/z2zd" --check -f "$src/contrib/openwrt/z2zd.conf"
check "the OpenWrt init script is valid shell" sh -n "$src/contrib/openwrt/z2zd.init"

cat >"$work/run.conf" <<CONF
[server]
dht-port = 0
dht-bind = 127.0.0.1
state-directory = $work/state
control-socket = $work/z2zd.sock
CONF
"$root/usr/sbin/z2zd" -f "$work/run.conf" >"$work/z2zd.log" 2>&1 &
pid=$!
for _ in $(seq 50); do [ -S "$work/z2zd.sock" ] && break; sleep 0.1; done
check "the unpacked z2zd starts and answers z2z --status" \
  grep -q "DHT node" <("$root/usr/bin/z2z" --status --control-socket "$work/z2zd.sock")
check "it made its state directory with mode 0700" test "$(stat -c %a "$work/state")" = 700
check "its control socket has mode 0660" test "$(stat -c %a "$work/z2zd.sock")" = 660
kill -TERM "$pid"
for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check "it stops on SIGTERM" bash -c "! kill -0 $pid 2>/dev/null"
wait "$pid"; rc=$?
pid=
check "with exit status 0" test "$rc" -eq 0

if command -v systemd-analyze >/dev/null; then
  sed "s|/usr/sbin/z2zd|$root/usr/sbin/z2zd|g" "$src/contrib/systemd/z2zd.service" >"$work/z2zd.service"
  check "systemd-analyze verify accepts the unit" systemd-analyze verify --man=no "$work/z2zd.service"
fi
check "the unit is Type=notify and reloads with SIGHUP" \
  bash -c "grep -qx 'Type=notify' '$src/contrib/systemd/z2zd.service' && grep -q 'ExecReload=.*-HUP' '$src/contrib/systemd/z2zd.service'"

check_summary
