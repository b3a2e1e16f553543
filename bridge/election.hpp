// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "z2z/mdns/event_loop.hpp"

namespace z2z::bridge {

inline constexpr std::string_view kElectionServiceType = "_z2z._udp";

struct ElectionOptions {
  std::vector<std::string> interfaces;  ///< where to meet the link's other gateways; empty: all
  int priority = 0;                     ///< higher wins; ties go to the smaller gateway id
  std::uint16_t dhtPort = 0;
  /// How long a new gateway listens before it may lead, so it learns of a running leader first.
  std::chrono::milliseconds settle{1500};
  /// TTL of the advertisement: a gateway that dies without a word is noticed about this late.
  std::chrono::seconds ttl{3};
};

/// The link's gateways find each other over mDNS and elect one leader (bootstrapping stage).
/// Each advertises itself as a _z2z._udp service of its own host (TXT: id, prio, port, v) with a
/// short TTL; each browses the others; the leader is the one with the highest priority, then
/// the smallest id, among those alive. Every gateway computes the same answer from the same
/// set, so there is nothing to negotiate. Loop thread only.
class Election {
 public:
  struct Peer {
    std::string id;
    int priority = 0;
    std::uint16_t dhtPort = 0;
    std::string host;
  };
  /// Called when this gateway becomes leader (true) or stops being it (false).
  using Callback = std::function<void(bool leader)>;

  /// Throws z2z::Error if the link cannot be watched.
  Election(mdns::EventLoop& loop, const ElectionOptions& options, std::string selfId,
           Callback onChange);
  ~Election();
  Election(const Election&) = delete;
  Election& operator=(const Election&) = delete;

  bool settled() const;
  bool isLeader() const;
  /// The leader's id ("" before the election settles).
  std::string leaderId() const;
  /// The other gateways on the link.
  std::vector<Peer> peers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The leader among `candidates`: highest priority, then smallest id. Empty input: nullptr.
const Election::Peer* electLeader(const std::vector<Election::Peer>& candidates);

}  // namespace z2z::bridge
