// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace z2z::mdns {

class EventLoop;

/// Follows, without asking anything, which services of chosen types the hosts of the link have:
/// reads the PTR records of those types in every mDNS response multicast on the interfaces it
/// listens on, whoever asked (announcements, answers to any host's query, goodbyes).
///
/// Why: a browser of avahi-daemon's asks the link again and again (1, 2, 4, 8 s ... apart), and
/// the daemon answers its own question with every record it holds of the type. A gateway that
/// has just published a thousand imports made its daemon send all of them to the link with
/// each of those questions (BENCHMARKS.md, "Gateway B's own browser answers itself"). Every new
/// service announces itself (RFC 6762 section 8.3) and says goodbye when it goes, so listening
/// is enough to keep up once a browser has found what was there before.
///
/// Each socket is bound to the mDNS group and joined to it on one interface, next to
/// avahi-daemon's. A datagram from a port other than 5353 (RFC 6762 section 6) or that is not a
/// well-formed DNS message is dropped (counted in the debug log). Loop thread only.
class LinkWatch {
 public:
  /// A service `name` of `type` (e.g. "_daap._tcp") in domain "local" was seen with this TTL on
  /// this interface and address family (AF_INET, AF_INET6); a TTL of 0 is a goodbye.
  using Seen = std::function<void(const std::string& name, const std::string& type, int ifindex,
                                  int family, std::uint32_t ttl)>;

  /// The kernel dropped datagrams of a socket whose buffer was full: something may have been
  /// missed.
  using Lost = std::function<void()>;

  LinkWatch(EventLoop& loop, Seen seen, Lost lost);
  ~LinkWatch();
  LinkWatch(const LinkWatch&) = delete;
  LinkWatch& operator=(const LinkWatch&) = delete;

  /// Reports services of `type` from now on; idempotent.
  void watch(const std::string& type);
  /// Stops reporting `type`.
  void unwatch(const std::string& type);
  /// Listens on this interface and family from now on, while some type is watched; idempotent.
  /// Logs once if it cannot.
  void listen(int ifindex, int family);
  /// True if it listens somewhere and nowhere failed to.
  bool listening() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace z2z::mdns
