// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/config/encoding.hpp"

#include <doctest/doctest.h>

using namespace z2z;

TEST_CASE("base64 round trip, binary safe") {
  for (std::string s :
       {std::string(), std::string("f"), std::string("fo"), std::string("foo"), std::string("foob"),
        std::string("Machine Name=Tom's"), std::string("\0\xff\x01=", 4)}) {
    auto back = base64Decode(base64Encode(s));
    REQUIRE(back);
    CHECK(*back == s);
  }
  CHECK(base64Encode("foobar") == "Zm9vYmFy");
  CHECK(base64Encode("fo") == "Zm8=");
}

TEST_CASE("base64 rejects what is not canonical") {
  CHECK_FALSE(base64Decode("Zm9"));
  CHECK_FALSE(base64Decode("Zm9v YmFy"));
  CHECK_FALSE(base64Decode("Zm=v"));
  CHECK_FALSE(base64Decode("Zm9="));  // non-zero bits under the padding
  CHECK_FALSE(base64Decode("===="));
  CHECK_FALSE(base64Decode("Zm8*"));
}

TEST_CASE("UTF-8 check") {
  CHECK(isCleanUtf8("Tom's Music"));
  CHECK(isCleanUtf8("Musik f\xc3\xbcr alle"));
  CHECK(isCleanUtf8("\xf0\x9f\x8e\xb5"));
  CHECK_FALSE(isCleanUtf8(std::string("a\0b", 3)));
  CHECK_FALSE(isCleanUtf8("tab\there"));
  CHECK_FALSE(isCleanUtf8("\xc0\xaf"));      // overlong
  CHECK_FALSE(isCleanUtf8("\xed\xa0\x80"));  // surrogate
  CHECK_FALSE(isCleanUtf8("\xe2\x82"));      // truncated
}
