// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "z2z/config/options.hpp"
#include "z2z/dht/overlay.hpp"
#include "z2z/mdns/event_loop.hpp"
#include "z2z/mdns/service.hpp"

namespace z2z::bridge {

/// The DHT key of a key name: SHA-1 of "z2z:v1:key:" followed by the name.
dht::Key keyFor(std::string_view keyName);

/// The host name an import is published under on the importing link: the original host's first
/// label, cleaned to letters, digits and hyphens, then "-z2z-" and 8 hex digits of a digest of
/// the host's exported addresses ("hosta-z2z-0123abcd.local"). It cannot clash with the link's
/// own hosts, marks the service as imported so that no gateway exports it again, and is the same
/// whichever gateway of the origin site exported it (so a leader hand-over changes nothing).
std::string importHostName(std::string_view originalHost,
                           const std::vector<mdns::Address>& addresses);
bool isImportHost(std::string_view host);

/// Counters for logs and status.
struct GatewayCounters {
  std::uint64_t exported = 0, withdrawn = 0, putsFailed = 0;
  std::uint64_t recordsReceived = 0, recordsRejected = 0, imported = 0, importsWithdrawn = 0;
  std::uint64_t originsExpired = 0;
};

/// What a gateway does now, for `z2z --status`.
struct GatewayStatus {
  struct Imported {
    mdns::ServiceKey key;
    std::string publishedAs;  ///< the name on this link ("" while not published)
    std::string origin;
  };
  std::vector<mdns::ServiceKey> exported;
  std::vector<Imported> imported;
  std::size_t liveGateways = 0;  ///< other gateways heard from within their lease
  GatewayCounters counters;
};

/// A random gateway id: 16 lowercase hex digits.
std::string newOriginId();

/// Turns a record's XML into the bytes stored in the DHT and back. A private group seals its
/// records with it; without one, records are stored as they are.
struct RecordCodec {
  std::function<std::string(std::string_view xml)> encode;
  /// Fails (with a reason) for a value that does not authenticate.
  std::function<Result<std::string>(std::string_view value)> decode;
};

/// One gateway: exports services of the link to a DHT key and imports the key's services onto
/// the link. Owns its mdns::Link. Loop thread only.
class Gateway {
 public:
  /// `origin` identifies this process's records; gateways of one process share it, so none
  /// imports what another exported. `codec` seals records (private groups); none: plain XML.
  /// Throws z2z::Error if the link cannot be set up (unknown interface, say).
  Gateway(mdns::EventLoop& loop, dht::Overlay& overlay, const config::GatewayOptions& options,
          const std::string& origin, RecordCodec codec = {});
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  /// Withdraws every export from the DHT (waiting up to `wait` for the puts) and every import
  /// from the link, then calls `done`.
  void shutdown(std::chrono::milliseconds wait, std::function<void()> done);

  /// Stores every export again (same values): after overlays merged, this reaches the new
  /// closest nodes at once instead of at the next re-announcement minutes later.
  void republish();

  const std::string& originId() const;
  const GatewayCounters& counters() const;
  GatewayStatus status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace z2z::bridge
