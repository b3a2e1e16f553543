// SPDX-License-Identifier: GPL-3.0-or-later
#include <doctest/doctest.h>

#include "z2z/dht/overlay.hpp"

using namespace z2z::dht;

TEST_CASE("keys are SHA-1 of their text") {
  // SHA-1("abc") from FIPS 180-1.
  CHECK(Key::hash("abc").hex() == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(Key::hash("a") != Key::hash("b"));
}

TEST_CASE("a key read back from its hex") {
  Key k = Key::hash("abc");
  auto back = Key::fromHex(k.hex());
  REQUIRE(back);
  CHECK(*back == k);
  CHECK_FALSE(Key::fromHex(""));
  CHECK_FALSE(Key::fromHex(k.hex().substr(1)));                           // 39 digits
  CHECK_FALSE(Key::fromHex(k.hex() + "0"));                               // 41 digits
  CHECK_FALSE(Key::fromHex("A9993E364706816ABA3E25717850C26C9CD0D89D"));  // upper case
  CHECK_FALSE(Key::fromHex("a9993e364706816aba3e25717850c26c9cd0d89g"));  // not hex
}
