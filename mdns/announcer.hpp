// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <memory>
#include <vector>

#include "z2z/mdns/entry_groups.hpp"

namespace z2z::mdns {

class EventLoop;

/// Sends the unsolicited Multicast DNS responses for records that avahi-daemon holds with
/// AVAHI_PUBLISH_NO_ANNOUNCE: the announcements (RFC 6762 section 8.3: at once, 1 s later and
/// 2 s after that) and the goodbyes (section 10.1, TTL 0: at once and 1.5 s later).
/// avahi-daemon answers the queries.
///
/// Why the daemon does not announce: avahi-daemon 0.8 passes every announced record through a
/// response scheduler that compares it with each record already scheduled or recently sent,
/// domain name by domain name. With a thousand imports committed at once that took seconds of
/// its CPU (perf: 63 % of its samples in strcasecmp) and held back its D-Bus handling. Here the
/// records of many groups share each packet, and the work grows with the records only.
///
/// Packets leave from port 5353 (receivers drop responses from any other port) through sockets
/// bound to the mDNS group address: such a socket never takes a unicast datagram meant for
/// avahi-daemon, and with IP_MULTICAST_ALL off it receives nothing. A record goes out on the
/// interface it names, or, for AVAHI_IF_UNSPEC, on every interface and address family the
/// daemon has been seen to use (useInterface()) that is up, multicast, and neither loopback nor
/// point-to-point: never where the daemon's allow-interfaces or deny-interfaces keep it away.
/// As avahi-daemon does by default, A records are not sent over IPv6. Loop thread only.
class Announcer {
 public:
  using Record = EntryGroups::Record;

  explicit Announcer(EventLoop& loop);
  ~Announcer();
  Announcer(const Announcer&) = delete;
  Announcer& operator=(const Announcer&) = delete;

  /// Whether this process can send from the mDNS port, tried once when constructed (and
  /// logged if not). If it cannot, the daemon has to announce.
  bool usable() const;

  /// Counts records a group now holds in the daemon. A record held twice (by a group and the
  /// one replacing it) gets no goodbye until both have released it.
  void hold(const std::vector<Record>& records);
  void release(const std::vector<Record>& records);

  /// Announces records as they go to the daemon: now, after 1 s and after 2 s more, while they
  /// are held.
  void announce(const std::vector<Record>& records);

  /// Says goodbye (twice) for each of `records` that no group holds (any more).
  void goodbye(const std::vector<Record>& records);

  /// The daemon uses this interface for this address family (AF_INET, AF_INET6): it reported
  /// a browse result there. Where the interfaces to announce on grow (this, or an interface
  /// that comes up or back: while records are held they are listed every 2 s and on the
  /// kernel's netlink reports), every held record is announced.
  void useInterface(int ifindex, int family);

  /// Sends goodbyes for every held record and forgets the counts: avahi-daemon went away (it
  /// sends none for records it was not to announce), or this gateway is stopping. Whatever is
  /// still queued when the Announcer is destroyed goes out then, paced, within 2 s.
  void withdrawAll();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace z2z::mdns
