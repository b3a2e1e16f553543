// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
/// For exported types it also keeps the SRV and TXT records of their services heard in the last
/// seconds (describe()): a new service is then exported as the link describes it, when it
/// announces itself, without waiting for avahi-daemon to list it or for a resolver.
///
/// Each socket is bound to the mDNS group and joined to it on one interface, next to
/// avahi-daemon's. A datagram from a port other than 5353 (RFC 6762 section 6) or that is not a
/// well-formed DNS message is dropped (counted in the debug log). Loop thread only.
class LinkWatch {
 public:
  /// A service `name` of `type` (e.g. "_daap._tcp") in domain "local" was seen with this TTL on
  /// this interface and address family (AF_INET, AF_INET6); a TTL of 0 is a goodbye. Reported
  /// for the types watched, and for the types described while they are; `type` is spelled as
  /// watch() or describe() was given it. The message's SRV and TXT records are kept before
  /// its PTR records are reported; a described service's PTR record heard before its SRV and
  /// TXT is reported again when they have come.
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
  /// True if it listens on this interface over this family (AF_INET, AF_INET6).
  bool listening(int ifindex, int family) const;
  /// Listens on this interface over IPv6 too, where only IPv4 would do (only describing): a
  /// host there announces over IPv6 only.
  void listenIpv6Too(int ifindex);
  /// True if anything of the service `name` of described type `type` was heard on this
  /// interface in the last seconds (its PTR, SRV or TXT record).
  bool heardOf(const std::string& name, const std::string& type, int ifindex) const;
  /// Closes the sockets of interfaces that are gone (listen() does too, for a new interface).
  void forgetGoneInterfaces();

  /// A service as its SRV and TXT records on the link describe it.
  struct Description {
    std::string host;  // the SRV target, as Avahi writes names ("Tom\\.s.local")
    std::uint16_t port = 0;
    std::vector<std::string> txt;  // in wire order, empty strings left out as Avahi does
  };

  /// From now on keeps the SRV and TXT records of services of `type` heard on the link (each for
  /// a few seconds), and reports its services as watch() does; idempotent. So that new services
  /// of an exported type, a burst of them too, need not wait for avahi-daemon to list them and
  /// resolve each (BENCHMARKS.md, "Exports described by the link, imports handed over after the
  /// burst", and "Exports heard on the link").
  void describe(const std::string& type);
  /// Stops describing `type`, and forgets what was heard of it.
  void undescribe(const std::string& type);
  /// Reads now what waits in the sockets' buffers: the loop may have been held (a call that
  /// waits for avahi-daemon) while the daemon went on reading the same datagrams.
  void readPending();
  /// The service `name` of `type` in domain "local" as last heard on this interface, over either
  /// address family, if its type is described and both its SRV and TXT records were heard in
  /// the last seconds and not said goodbye to.
  std::optional<Description> described(const std::string& name, const std::string& type,
                                       int ifindex) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace z2z::mdns
