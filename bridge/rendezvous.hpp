// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "z2z/config/error.hpp"
#include "z2z/config/options.hpp"
#include "z2z/dht/overlay.hpp"
#include "z2z/mdns/event_loop.hpp"

namespace z2z::bridge {

/// Limits of a rendezvous value: anyone can write under a key of a public overlay.
inline constexpr std::size_t kRendezvousMaxValue = 256;
inline constexpr std::size_t kRendezvousMaxEndpoints = 4;

/// What one leader publishes under the rendezvous key: its main-overlay node id and the
/// endpoints its main-overlay node answers at.
struct RendezvousEntry {
  dht::Key node;
  std::vector<config::Endpoint> endpoints;
  bool operator==(const RendezvousEntry&) const = default;
};

/// The rendezvous key of a name: SHA-1 of "z2z:v1:rendezvous:" + the main overlay's network id
/// (decimal) + ":" + name, so that overlays of different network ids, which cannot merge, do
/// not meet.
dht::Key rendezvousKey(std::uint32_t mainNetwork, std::string_view name);

/// True for an address literal another overlay's node may be asked to ping: IPv4 or IPv6, not
/// unspecified, loopback, link-local, multicast or broadcast.
bool isRendezvousAddress(std::string_view host);

/// "z2z-rendezvous 1 NODEID HOST PORT[ HOST PORT]..." (NODEID: 40 lowercase hex digits; at most
/// kRendezvousMaxEndpoints endpoints, extra ones are left out).
dht::Bytes encodeRendezvousValue(const RendezvousEntry& entry);

/// The strict reverse of encodeRendezvousValue: single spaces, no other whitespace, at most
/// kRendezvousMaxValue bytes, 1 to kRendezvousMaxEndpoints endpoints whose hosts pass
/// isRendezvousAddress and whose ports are 1 to 65535. The failure says what is wrong.
Result<RendezvousEntry> parseRendezvousValue(const dht::Bytes& data);

struct RendezvousOptions {
  std::vector<config::Endpoint> bootstrap;  ///< nodes of the rendezvous overlay
  std::string name{config::kDefaultRendezvousName};
  std::uint16_t port = 0;     ///< the rendezvous node's UDP port; 0: any free one
  std::uint32_t network = 0;  ///< the rendezvous overlay's opendht network id
  /// The main overlay's network id; it must differ from `network` (see Rendezvous).
  std::uint32_t mainNetwork = 0;
  std::string bind;                          ///< address the rendezvous node binds to; empty: all
  std::chrono::milliseconds first{1000};     ///< first round after start()
  std::chrono::milliseconds interval{5000};  ///< then one round this often
  std::size_t leadersPerRound = 2;           ///< other overlays' leaders handed to `join` per round
  /// Leaders remembered from the key; when full, a new one replaces the one tried most often
  /// in vain.
  std::size_t maxLeaders = 64;
  std::size_t maxValuesPerBatch = 64;   ///< values of one listen report looked at
  std::chrono::seconds retryAfter{60};  ///< a leader still unknown is joined again after this,
                                        ///< doubling up to 16 times as long
};

/// What `z2z --status` shows.
struct RendezvousStatus {
  bool running = false;  ///< the rendezvous node runs (this gateway leads)
  bool failed = false;   ///< its node could not start (a taken port); tried again
  dht::Key key;
  std::uint16_t port = 0;
  unsigned nodes = 0;         ///< good nodes of the rendezvous overlay known
  std::size_t published = 0;  ///< own endpoints published
  std::size_t leaders = 0;    ///< other leaders read from the key
  std::size_t joins = 0;      ///< leaders handed to growth
  std::size_t rejected = 0;   ///< malformed values skipped
};

/// The rendezvous: while this gateway leads, a second DHT node of its own joins another overlay
/// (for instance the public OpenDHT network) and keeps this leader's main-overlay endpoints
/// there under rendezvousKey(name), as a permanent put; it listens on that key and hands the
/// endpoints of leaders whose node the main overlay's routing table does not hold to `join`
/// (Growth::join), at most `leadersPerRound` leaders a round, each retried with backoff. So two
/// overlays formed apart merge although they share no bootstrap peer. Values are parsed strictly
/// and malformed ones logged and skipped. stop() cancels the put (it expires over there within
/// the value lifetime: there is no remote delete) and ends the node. Loop thread only.
///
/// Anyone may write under the key, for instance endpoints of the rendezvous overlay's own nodes.
/// Network ids keep that harmless: the main overlay's nodes ignore nodes of another id. With the
/// same id, this leader would join the rendezvous overlay (the public network) and the main
/// overlay would merge with it; so the two ids must differ (the configuration refuses it).
class Rendezvous {
 public:
  using JoinCallback = std::function<void(const std::vector<config::Endpoint>& endpoints)>;

  /// Throws z2z::Error if `options.network` equals `options.mainNetwork`.
  Rendezvous(mdns::EventLoop& loop, dht::Overlay& main, RendezvousOptions options,
             JoinCallback join);
  ~Rendezvous();
  Rendezvous(const Rendezvous&) = delete;
  Rendezvous& operator=(const Rendezvous&) = delete;

  /// Starts the node and the rounds. A node that cannot start (a taken port) is logged and
  /// tried again every minute.
  void start();
  /// Withdraws the value, cancels the listen and ends the node.
  void stop();
  RendezvousStatus status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace z2z::bridge
