// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "z2z/dht/overlay.hpp"
#include "z2z/mdns/event_loop.hpp"

namespace z2z::bridge {

/// Probe nodes that may run at once among the Growth objects sharing it. A gateway runs one
/// Growth and needs none; a process running hundreds of nodes (the overlay benchmark) must
/// bound them, as opendht's select() aborts once a descriptor reaches 1024. Loop thread only.
struct ProbeSlots {
  std::size_t free = 0;
};

struct GrowthOptions {
  std::chrono::milliseconds first{2000};     ///< first round after start()
  std::chrono::milliseconds interval{5000};  ///< then one round this often
  std::size_t contactsPerRound = 32;
  std::chrono::seconds recontactAfter{600};
  /// The probe node's options (bind address, network id); see Growth.
  dht::NodeOptions probe{0, "", 0, {}};
  /// Shared by the Growth objects of one process; empty: no bound.
  std::shared_ptr<ProbeSlots> probeSlots;
};

/// Growth, the merger of overlays formed apart. A single bootstrap contact between two large
/// overlays does not merge them: a node's far buckets are full, so it keeps no node of the other
/// overlay there, and its lookups never leave its own overlay. What merges them is every node
/// learning the other overlay's nodes nearest to its own id (its near buckets have room).
///
/// Every leader runs this. Each round it stores its own endpoint under one of a few leaders keys
/// "z2z:v1:leaders:N" (N from its id; a value of fixed id, stored again every round so that it
/// reaches the key's new closest nodes as the overlays mix), reads one of them in turn (all of
/// them in its first round), and pings up to `contactsPerRound` leaders its routing table does
/// not hold, chosen at random. A leader it has never seen before, after its first round, may
/// belong to another overlay: the node then starts a short-lived probe node bootstrapped only
/// from such unknown leaders (join() does so through its peers). The probe looks up this node's
/// own id over there, and this node pings the nodes the probe met (they are then in each other's
/// routing tables); the probe reads a leaders key over there and stores this node's endpoint
/// there too (under every leaders key after join()), so that the other overlay's nodes see a
/// leader they never saw and probe in turn. While a probe finds nodes nearest to this node that
/// its routing table lacks, this node probes again the next round and runs `onContact`. Loop
/// thread only.
class Growth {
 public:
  /// `onContact` (may be empty) runs after a probe or join() met nodes of another overlay:
  /// values this node keeps should be stored again, to reach the merged overlay's closest nodes.
  Growth(mdns::EventLoop& loop, dht::Overlay& overlay, std::string selfId,
         GrowthOptions options = {}, std::function<void()> onContact = {});
  ~Growth();
  Growth(const Growth&) = delete;
  Growth& operator=(const Growth&) = delete;

  void start();
  /// Stops the rounds, the probe and the own endpoint's refreshing.
  void stop();
  /// When this node last met nodes of another overlay (never: time_point{}).
  std::chrono::steady_clock::time_point lastMerge() const;
  /// Contacts peers learned elsewhere (a bootstrap peer added by a reload) and probes through
  /// them.
  void join(const std::vector<config::Endpoint>& peers);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace z2z::bridge
