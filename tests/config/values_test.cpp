// SPDX-License-Identifier: GPL-3.0-or-later
#include <doctest/doctest.h>

#include "z2z/config/values.hpp"

using z2z::config::isLowerHex;

TEST_CASE("lowercase hex as the project writes ids and keys") {
  CHECK(isLowerHex("0123456789abcdef"));
  CHECK_FALSE(isLowerHex(""));
  CHECK_FALSE(isLowerHex("ABCDEF"));
  CHECK_FALSE(isLowerHex("12 4"));
  CHECK_FALSE(isLowerHex("g"));
}
