// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "z2z/config/error.hpp"

namespace z2z::mdns {

/// An IPv4 or IPv6 host address.
struct Address {
  enum class Family : std::uint8_t { V4, V6 };
  Family family = Family::V4;
  std::array<std::uint8_t, 16> bytes{};  ///< network order; IPv4 uses the first 4

  /// Parses a dotted-quad IPv4 or a textual IPv6 address (no zone index).
  static Result<Address> parse(std::string_view text);
  std::string toString() const;
  /// 169.254.0.0/16 or fe80::/10: meaningless off the link it was seen on.
  bool isLinkLocal() const;
  /// 127.0.0.0/8 or ::1.
  bool isLoopback() const;
  auto operator<=>(const Address&) const = default;
};

/// The identity of a DNS-SD service instance on a link.
struct ServiceKey {
  std::string name;    ///< instance name, UTF-8, unescaped ("Tom's Music")
  std::string type;    ///< "_daap._tcp"
  std::string domain;  ///< "local"
  auto operator<=>(const ServiceKey&) const = default;
};

/// A resolved DNS-SD service: what a browser shows after resolving it.
struct Service {
  ServiceKey key;
  std::string host;  ///< target host name, "hosta.local"
  std::uint16_t port = 0;
  std::vector<std::string> txt;    ///< TXT strings as raw bytes, in order
  std::vector<Address> addresses;  ///< the host's addresses, sorted, without duplicates
  bool operator==(const Service&) const = default;
};

/// "Name._type._tcp.local" style text for log lines.
std::string describe(const ServiceKey& key);

}  // namespace z2z::mdns
