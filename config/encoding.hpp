// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace z2z {

/// RFC 4648 base64 with padding.
std::string base64Encode(std::string_view bytes);
/// Strict inverse of base64Encode: no whitespace, correct padding; nullopt otherwise.
std::optional<std::string> base64Decode(std::string_view text);

/// True if `text` is well-formed UTF-8 (no overlong forms, surrogates or values past U+10FFFF)
/// and `refused` is false for each of its code points.
bool isUtf8(std::string_view text, bool (*refused)(std::uint32_t codePoint));

/// True if `text` is well-formed UTF-8 without NUL or other C0 control characters, or DEL.
bool isCleanUtf8(std::string_view text);

}  // namespace z2z
