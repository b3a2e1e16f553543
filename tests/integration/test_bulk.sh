#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Many services at once: 1,000 services published on island A in one burst (from one Avahi
# client) all resolve on island B with their own ports, and when they all leave A at once
# every one of them is gone from B too: no goodbye lost on the way (avahi-daemon 0.8 drops
# goodbyes when a burst of entry groups is freed at once; z2z paces its withdrawals).
set -u
source "$(dirname "$0")/lib.sh"
# hb's one-shot browser resolves every name on IPv4 and IPv6: room for more than avahi's
# default 1024 objects per client.
export TB_AVAHI_CONF_hb=server.objects-per-client-max=8192
z2z_init "$1"

COUNT=1000
TYPE=_bulk._tcp
PUBLISHER=$(cd "$(dirname "$0")/../bench" && pwd)/avahi_bulk_publish.py

z2z_start ga gwa.log --export "$TYPE" --key bulk --interface lan0 >/dev/null
z2z_start gb gwb.log --import --key bulk --interface lan0 --bootstrap "$(tb_addr ga wan)" >/dev/null
sleep 1

# One live browser on hb, started before the burst, as a user's browser would be. A fresh
# one-shot "avahi-browse -r" per poll would re-create 2,000 resolvers each time and, on a slow
# machine, not finish within its own timeout (it creates each resolver with a blocking D-Bus
# call, so its first resolved line can come 10-20 s after it starts).
BROWSE=$TB_DIR/log/hb-browse.txt
browser=$(tb_spawn hb "$BROWSE" timeout 200 stdbuf -oL avahi-browse -prk "$TYPE")
sleep 0.5

# count_resolved: distinct bulk-NNNNN names with a resolved line in hb's browser, those with a
# new-item line, and those resolved with another port or TXT than their own (bulk-00123 has port
# 30123 and TXT "i=123"): "RESOLVED PRESENT WRONG". Gateway A takes most of a burst as link A's
# own SRV and TXT records describe it, the rest from its avahi-daemon's resolver.
count_resolved() {
  awk -F';' '
    $4 !~ /^bulk-[0-9]+$/ { next }
    $1 == "+" { seen[$4] = 1 }
    $1 == "=" { done[$4] = 1; n = substr($4, 6) + 0
                if ($9 != 30000 + n || $10 != "\"i=" n "\"") wrong[$4] = 1 }
    END { n = 0; for (k in done) n++; m = 0; for (k in seen) m++; w = 0; for (k in wrong) w++
          print n, m, w }' "$BROWSE"
}
# count_present: distinct bulk-NNNNN names hb's avahi knows at all.
count_present() {
  tb_exec hb timeout 5 avahi-browse -ptk "$TYPE" 2>/dev/null |
    awk -F';' '$4 ~ /^bulk-[0-9]+$/ { seen[$4] = 1 } END { n = 0; for (k in seen) n++; print n }'
}

pub=$(tb_spawn ha bulk-publish.log /usr/bin/python3 -u "$PUBLISHER" --count "$COUNT" \
  --prefix bulk --type "$TYPE" --port 30000 --hold 300)
resolved=0 present=0 wrong=0 start=$SECONDS
for ((i = 0; i < 75; i++)); do # at most 150 s
  read -r resolved present wrong <<<"$(count_resolved)"
  ((resolved >= COUNT)) && break
  sleep 2
done
took=$((SECONDS - start))
check "all $COUNT services resolve on B (saw $resolved resolved, $present listed, ${took} s)" \
  test "$resolved" -eq "$COUNT"
check "each with its own port and TXT (bulk-00123: 30123, \"i=123\"; wrong: $wrong)" \
  test "$wrong" -eq 0
tb_kill "$browser" >/dev/null

# A browser that starts only now, on a host whose avahi-daemon has nothing cached, still finds
# every import: in a burst gateway B's own announcements carry the imports, and its avahi-daemon
# gets them (and answers for them) 0.5 s later, 400 a second.
tb_avahi_restart hb
present=0
for ((i = 0; i < 15; i++)); do # at most 15 one-shot browsers of 5 s each
  present=$(count_present)
  ((present >= COUNT)) && break
  sleep 1
done
check "a browser started after the burst on a fresh avahi-daemon finds all $COUNT (found: $present)" \
  test "$present" -eq "$COUNT"

tb_kill "$pub" >/dev/null
present=$COUNT
for ((i = 0; i < 30; i++)); do
  present=$(count_present)
  ((present == 0)) && break
  sleep 1
done
check "all $COUNT gone from B within 30 s of leaving A (left: $present)" test "$present" -eq 0

z2z_finish
