// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace z2z::config {

/// A decimal integer in [min, max], nothing else (no sign, no spaces, no suffix).
template <typename Int>
std::optional<Int> parseInt(std::string_view text, Int min, Int max) {
  long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return std::nullopt;
  }
  return static_cast<Int>(value);
}

/// "yes" or "no", as avahi-daemon.conf writes booleans.
std::optional<bool> parseBool(std::string_view text);

/// Splits at commas and trims blanks around each item; "" gives no items.
std::vector<std::string> splitList(std::string_view text);

/// Trims blanks (spaces and tabs) at both ends.
std::string_view trim(std::string_view text);

/// Whether `text` is non-empty and only lowercase hexadecimal digits, as this project writes
/// ids and keys.
bool isLowerHex(std::string_view text);

/// Levenshtein distance, for "did you mean" hints.
std::size_t editDistance(std::string_view a, std::string_view b);

}  // namespace z2z::config
