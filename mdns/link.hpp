// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "z2z/mdns/event_loop.hpp"
#include "z2z/mdns/service.hpp"

namespace z2z::mdns {

struct LinkOptions {
  /// Interfaces to browse and publish on; empty: every interface avahi-daemon uses.
  std::vector<std::string> interfaces;
};

/// What a Link reports; every callback runs on the loop thread.
struct LinkEvents {
  /// A service on the link was resolved, or what it resolves to changed.
  std::function<void(const Service&)> found;
  /// A service reported by `found` left the link.
  std::function<void(const ServiceKey&)> removed;
  /// avahi-daemon became reachable (true) or went away (false).
  std::function<void(bool)> daemon;
};

/// The local link as avahi-daemon sees it: browses and resolves services of chosen types, and
/// publishes services of other links as raw mDNS records (no probing: the Link checks the names
/// browsed on the link itself and takes an alternative name when one is taken, as DNS-SD does).
/// A type that is only published, never browse()d, is browsed until the daemon has listed what
/// the link has, and then followed by listening to the link's mDNS traffic (LinkWatch): the
/// daemon would answer a browser of its own with every record of the type it publishes.
///
/// Uses the Avahi client with AVAHI_CLIENT_NO_FAIL: when avahi-daemon restarts, browsing and
/// publishing are set up again on their own. Loop thread only.
class Link {
 public:
  /// Throws z2z::Error if an interface does not exist or the loop cannot reach D-Bus.
  Link(EventLoop& loop, LinkOptions options, LinkEvents events);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  /// Starts browsing (and resolving) services of `type`; idempotent.
  void browse(const std::string& type);

  /// Publishes `service` (or updates it, same `id`). Its host name gets address records for
  /// `service.addresses`. If the instance name is taken on the link, an alternative one is used.
  /// If the link already has this very service from `homeHost` (the host it came from: it lives
  /// on this link, and another gateway carried it out and back), nothing is published while it
  /// stays.
  void publish(const std::string& id, const Service& service, const std::string& homeHost = "");
  /// Advertises a service of this very host (its host name is avahi-daemon's), with every record
  /// at `ttl`: other hosts' caches drop it about `ttl` after this process dies without a word.
  void advertise(const std::string& id, const Service& service, std::chrono::seconds ttl);
  void unpublish(const std::string& id);

  /// True if `key` names a service this Link has on the link now, under its current name (an
  /// import held back because its original is on this link does not count).
  bool publishes(const ServiceKey& key) const;
  /// The name `id` is published under now, or "" if it is not (yet) on the link.
  std::string publishedName(const std::string& id) const;
  bool daemonRunning() const;
  std::size_t browsedCount() const;
  std::size_t publishedCount() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace z2z::mdns
