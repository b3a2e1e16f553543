// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "z2z/config/error.hpp"

/// DNS wire-format pieces for publishing raw mDNS records (RFC 1035 section 3, RFC 6763).
namespace z2z::mdns::wire {

using Labels = std::vector<std::string>;
using Bytes = std::vector<std::uint8_t>;

/// Splits "_daap._tcp" or "local" at dots into labels. Fails on an empty label.
Result<Labels> splitPlain(std::string_view dotted);

/// Splits an Avahi-escaped name ("Tom\.s.local") into unescaped labels.
Result<Labels> splitEscaped(std::string_view escaped);

/// The presentation form Avahi expects for a name: labels escaped ('.' and '\' with a backslash,
/// control bytes as \DDD) and joined with dots.
std::string escapedName(const Labels& labels);

/// Uncompressed wire form of a name. Fails if a label exceeds 63 bytes or the name 255.
Result<Bytes> encodeName(const Labels& labels);

/// SRV RDATA: priority, weight, port, target.
Result<Bytes> srvRdata(std::uint16_t port, const Labels& target);

/// TXT RDATA: each string with a length byte; an empty set becomes one empty string (RFC 6763
/// section 6.1). Fails if a string exceeds 255 bytes.
Result<Bytes> txtRdata(const std::vector<std::string>& strings);

/// Parses TXT RDATA back into strings. Fails on a length running past the end.
Result<std::vector<std::string>> parseTxtRdata(const Bytes& rdata);

}  // namespace z2z::mdns::wire
