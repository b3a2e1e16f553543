// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "z2z/config/options.hpp"

namespace z2z::dht {

using Bytes = std::vector<std::uint8_t>;

/// A 160-bit DHT key.
struct Key {
  std::array<std::uint8_t, 20> bytes{};
  /// SHA-1 of `text`.
  static Key hash(std::string_view text);
  std::string hex() const;
  /// The key hex() wrote: 40 lowercase hex digits, or nothing.
  static std::optional<Key> fromHex(std::string_view hex);
  auto operator<=>(const Key&) const = default;
};

/// One value stored under a key. The id tells values apart; the data is opaque here.
struct Value {
  std::uint64_t id = 0;
  Bytes data;
};

/// One routing-table entry: the node's id and the address it answers at.
struct NodeInfo {
  Key id;
  config::Endpoint endpoint;
};

/// Counts of routing-table entries, for status and logs.
struct OverlayStats {
  unsigned goodNodes = 0;
  unsigned dubiousNodes = 0;
};

/// What the bridge needs of a DHT. Callbacks passed in run on a DHT thread, under its lock:
/// they must copy what they need, hand it to the loop thread and return, never call back into
/// the Overlay synchronously.
class Overlay {
 public:
  using ListenCallback = std::function<void(std::vector<Value> values, bool expired)>;
  using DoneCallback = std::function<void(bool ok)>;
  using ListenToken = std::uint64_t;

  virtual ~Overlay() = default;

  /// Stores `value` under `key`. `permanent`: keep it alive (re-announce) until cancelPut.
  /// Otherwise it lives for the value type's lifetime. Any thread.
  virtual void put(const Key& key, Value value, bool permanent, DoneCallback done) = 0;
  /// Stops keeping a permanent value alive; it expires on the storing nodes later (there is no
  /// remote delete). Any thread.
  virtual void cancelPut(const Key& key, std::uint64_t id) = 0;
  /// Reads what is stored under `key` now: `done` gets every value found (possibly none) once
  /// the lookup ends. Any thread.
  virtual void get(const Key& key, std::function<void(std::vector<Value> values)> done) = 0;
  /// Reports every value stored under `key` now and later; `expired` for values that expired.
  virtual ListenToken listen(const Key& key, ListenCallback callback) = 0;
  virtual void cancelListen(ListenToken token) = 0;
  /// Adds nodes to learn the overlay from. Names are resolved in the background.
  virtual void bootstrap(const std::vector<config::Endpoint>& nodes) = 0;
  virtual OverlayStats stats() const = 0;
  /// Nodes of the routing table, as endpoints to bootstrap from later (the node cache).
  virtual std::vector<config::Endpoint> knownNodes() const = 0;
  /// The good nodes of the routing table with their ids (empty for a backend without one).
  /// Any thread.
  virtual std::vector<NodeInfo> routingNodes() const = 0;
  /// The addresses other nodes see this node at (learned from their answers; may be empty).
  virtual std::vector<config::Endpoint> publicEndpoints() const = 0;
  /// This node's id in the overlay (zero for a backend without one).
  virtual Key nodeId() const = 0;
  /// The UDP port the node is bound to (IPv4, else IPv6).
  virtual std::uint16_t port() const = 0;
  /// The values this process would still keep alive (for status).
  virtual std::size_t permanentPuts() const = 0;
};

struct NodeOptions {
  std::uint16_t port = config::kDefaultDhtPort;
  std::string bind;  ///< one address to bind; empty: all IPv4 and IPv6 addresses
  std::uint32_t network = 0;
  std::vector<config::Endpoint> bootstrap;
  /// Lift opendht's per-source-address rate limit (benchmarks run many nodes on one address).
  bool unlimitedPeerRate = false;
};

/// The value type every z2z node registers: values of other types are ignored, and nodes that
/// store ours keep them this long unless they are kept alive.
inline constexpr std::uint16_t kValueType = 0x7a32;
inline constexpr std::chrono::minutes kValueLifetime{10};

/// Starts an embedded libopendht node. Throws z2z::Error if it cannot bind.
std::unique_ptr<Overlay> startOpendht(const NodeOptions& options);

/// A classic OpenDHT gateway (XML-RPC) to use instead of an embedded node.
struct XmlrpcOptions {
  std::string url;                  ///< http:// or https:// URL of the gateway
  std::chrono::seconds poll{5};     ///< how often listened keys are read
  std::string application = "z2z";  ///< the API's "application" argument
  std::string caFile;  ///< https: PEM file of the CAs to check the certificate against; empty:
                       ///< the system's. The check is never off.
};

/// The client backend: an Overlay over a gateway's XML-RPC API. Values are split into chunks
/// of at most 1024 bytes (see gateway_api.hpp) and put removable with a per-process secret;
/// permanent values are written again before their TTL and removed with rm on cancelPut; listen
/// polls get every `poll`. Failed calls (status 1 or 2, faults, transport errors) are retried
/// with backoff, writes in order, and nothing expires while the gateway is unreachable.
/// Callbacks run on the backend's worker thread. Throws z2z::Error if the client cannot be set up.
std::unique_ptr<Overlay> startXmlrpcClient(const XmlrpcOptions& options);

/// Wraps `raw` (which must outlive the wrapper) so that get and listen report the values that
/// clients of a served gateway API stored there as chunks (reassembled, under their own ids)
/// instead of the stored API values themselves; native values and writes pass through.
std::unique_ptr<Overlay> withGatewayApiValues(Overlay& raw);

}  // namespace z2z::dht
