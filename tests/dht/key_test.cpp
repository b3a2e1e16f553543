// SPDX-License-Identifier: GPL-3.0-or-later
#include <doctest/doctest.h>

#include "z2z/dht/overlay.hpp"

using namespace z2z::dht;

TEST_CASE("keys are SHA-1 of their text") {
  // SHA-1("abc") from FIPS 180-1.
  CHECK(Key::hash("abc").hex() == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(Key::hash("a") != Key::hash("b"));
}
