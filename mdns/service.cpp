// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/mdns/service.hpp"

#include <arpa/inet.h>

namespace z2z::mdns {

Result<Address> Address::parse(std::string_view text) {
  if (text.size() > INET6_ADDRSTRLEN)
    return fail("address '" + std::string(text) + "' too long");
  std::string s(text);
  Address a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = Family::V4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.family = Family::V6;
    return a;
  }
  return fail("'" + s + "' is not an IPv4 or IPv6 address");
}

std::string Address::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == Family::V4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

bool Address::isLinkLocal() const {
  if (family == Family::V4)
    return bytes[0] == 169 && bytes[1] == 254;
  return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;
}

bool Address::isLoopback() const {
  if (family == Family::V4)
    return bytes[0] == 127;
  static constexpr std::array<std::uint8_t, 16> kV6Loopback{0, 0, 0, 0, 0, 0, 0, 0,
                                                            0, 0, 0, 0, 0, 0, 0, 1};
  return bytes == kV6Loopback;
}

std::string describe(const ServiceKey& key) {
  return "'" + key.name + "'." + key.type + "." + key.domain;
}

}  // namespace z2z::mdns
