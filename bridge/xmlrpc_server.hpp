// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "z2z/config/options.hpp"
#include "z2z/dht/overlay.hpp"

namespace z2z::bridge {

inline constexpr std::size_t kMaxXmlrpcRequest = 16 * 1024;  ///< bytes of XML per request
inline constexpr std::size_t kMaxValuesPerGet = 64;          ///< values per get page
inline constexpr std::size_t kMaxHeldPuts = 10000;           ///< long-TTL puts kept alive
inline constexpr std::size_t kMaxHeldPutsPerClient = 1000;   ///< of them, for one client

struct XmlrpcServerOptions {
  std::string address = "127.0.0.1";                ///< IPv4 or IPv6 address literal to listen on
  std::uint16_t port = config::kDefaultXmlrpcPort;  ///< 0: any free port
  unsigned ratePerClient =
      config::kDefaultXmlrpcRate;  ///< requests per second per client; 0: no limit
};

/// The classic OpenDHT gateway API (put, put_removable, get, get_details, rm) over XML-RPC,
/// served by xmlrpc-c's Abyss on threads of its own, backed by `overlay` (a raw one: the API
/// stores and shows its own value format, see dht/gateway_api.hpp). Abyss never gets the
/// process's signals. Construct and destroy on one thread; the overlay must outlive it.
class XmlrpcServer {
 public:
  /// Binds and starts serving. Throws z2z::Error if the address is bad or cannot be bound.
  XmlrpcServer(dht::Overlay& overlay, const XmlrpcServerOptions& options);
  /// Stops serving (waits for calls under way, at most about one call timeout).
  ~XmlrpcServer();
  XmlrpcServer(const XmlrpcServer&) = delete;
  XmlrpcServer& operator=(const XmlrpcServer&) = delete;

  /// The TCP port served (useful with port 0).
  std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace z2z::bridge
