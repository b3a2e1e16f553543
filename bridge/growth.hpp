// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "z2z/dht/overlay.hpp"
#include "z2z/mdns/event_loop.hpp"

namespace z2z::bridge {

struct GrowthOptions {
  std::chrono::milliseconds first{2000};     ///< first round after start()
  std::chrono::milliseconds interval{5000};  ///< then one round this often
  std::size_t contactsPerRound = 32;
  std::chrono::seconds recontactAfter{600};
  /// The probe node's options (bind address, network id); see Growth.
  dht::NodeOptions probe{0, "", 0, {}};
};

/// Growth, the merger of overlays formed apart. A single bootstrap contact between two large
/// overlays does not merge them (full buckets drop it), so every leader runs this: each round it
/// stores its own endpoint under the key "z2z:v1:leaders" of the overlay (a value of fixed id,
/// stored again every round so it reaches the key's new closest nodes as the overlays mix), reads
/// the key, and bootstraps towards up to `contactsPerRound` leaders its routing table does not
/// hold yet. A node whose routing table is full ignores such a contact, so each contact round
/// also starts a short-lived probe node bootstrapped only from one of the new leaders: it looks
/// up this node's own id in the other overlay, and the nodes it met there (the other side's
/// nodes nearest to this node, for which this node's routing table has room) are inserted into
/// this node's routing table; it also reads the other overlay's leaders. Loop thread only.
class Growth {
 public:
  /// `onContact` (may be empty) runs after each round that contacted unknown leaders: values
  /// this node keeps should be stored again, to reach the merged overlay's closest nodes.
  Growth(mdns::EventLoop& loop, dht::Overlay& overlay, std::string selfId,
         GrowthOptions options = {}, std::function<void()> onContact = {});
  ~Growth();
  Growth(const Growth&) = delete;
  Growth& operator=(const Growth&) = delete;

  void start();
  /// Stops the rounds and the own endpoint's refreshing.
  void stop();
  /// When this node last contacted a node it did not know (never: time_point{}).
  std::chrono::steady_clock::time_point lastMerge() const;
  /// Contacts peers learned elsewhere (a bootstrap peer added by a reload), probing through
  /// the first one as a round does.
  void join(const std::vector<config::Endpoint>& peers);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace z2z::bridge
