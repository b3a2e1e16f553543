// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "z2z/config/options.hpp"
#include "z2z/dht/overlay.hpp"
#include "z2z/groups/crypto.hpp"
#include "z2z/mdns/event_loop.hpp"

namespace z2z::bridge {

/// The main-overlay key that lists public groups (every public group-info is also put here,
/// so that `z2z --list-groups` can find groups it does not know the names of).
inline constexpr std::string_view kGroupDirectoryKey = "z2z:v1:group-directory";

/// What every group session of a process shares.
struct GroupContext {
  mdns::EventLoop& loop;
  dht::Overlay& main;                ///< the main overlay: group-info documents
  const groups::Identity& identity;  ///< signs this gateway's documents
  config::GatewayOptions options;    ///< export types, import, ttl, interfaces, bind
  std::string advertise;             ///< address other members bootstrap from
  /// Called when a group cannot go on (a wrong secret): the process should stop non-zero.
  std::function<void(const std::string& why)> fatal;
  std::string origin;  ///< the process's gateway id (see Gateway)
};

/// One group this gateway is a member of (z2z-groups(7)): looks the group up in the main
/// overlay, creates or joins its own overlay, runs a Gateway on it, keeps its membership and
/// (as the oldest member) the group-info alive, and leaves cleanly. Loop thread only.
class GroupSession {
 public:
  /// `port`: UDP port of the group overlay's node (0: any). Throws z2z::Error if the group's
  /// secret file cannot be used.
  GroupSession(GroupContext& context, config::GroupOptions group, std::uint16_t port);
  ~GroupSession();
  GroupSession(const GroupSession&) = delete;
  GroupSession& operator=(const GroupSession&) = delete;

  /// Leaves the group: withdraws the gateway's services, writes a removed membership and, as
  /// the last member, removes the group-info; then calls `done` (after at most about `wait`).
  void shutdown(std::chrono::milliseconds wait, std::function<void()> done);

  /// True once the gateway runs in the group's overlay.
  bool joined() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One line per public group found in the main overlay's directory: name, description,
/// member count, bootstrap endpoints. Waits at most for one DHT lookup.
std::vector<std::string> listGroups(dht::Overlay& main);

/// The address this gateway tells other members to bootstrap from: --dht-bind if it names one
/// address, else the source address towards the first --bootstrap node, else the first global
/// IPv4 address of an interface.
std::string advertiseAddress(const config::GatewayOptions& options);

}  // namespace z2z::bridge
