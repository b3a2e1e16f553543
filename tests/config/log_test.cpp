// SPDX-License-Identifier: GPL-3.0-or-later
#include <doctest/doctest.h>

#include <string>

#include "z2z/config/log.hpp"

using z2z::log::kMaxMessage;
using z2z::log::oneLine;

TEST_CASE("a log message stays one line without control bytes") {
  CHECK(oneLine("rejected DHT value 00ff: port '70000'") ==
        "rejected DHT value 00ff: port '70000'");
  CHECK(oneLine("reload refused:\nline 3: bad") == "reload refused:; line 3: bad");
  // A forged second line or a terminal escape from a network name cannot get through.
  CHECK(oneLine("name 'a\r\n12:00:00.000 error [bridge] forged'") ==
        "name 'a\\x0d; 12:00:00.000 error [bridge] forged'");
  CHECK(oneLine("\x1b[31mred\x7f") == "\\x1b[31mred\\x7f");
  CHECK(oneLine(std::string("nul\0byte", 8)) == "nul\\x00byte");
  // UTF-8 passes as it is.
  CHECK(oneLine("B\xc3\xbcro") == "B\xc3\xbcro");
}

TEST_CASE("a log message is cut at its limit, saying how long it was") {
  std::string huge(kMaxMessage + 100, 'x');
  std::string line = oneLine(huge);
  CHECK(line.size() < kMaxMessage + 40);
  CHECK(line.starts_with(std::string(kMaxMessage, 'x')));
  CHECK(line.ends_with("... (" + std::to_string(kMaxMessage + 100) + " bytes)"));
  CHECK(oneLine(std::string(kMaxMessage, 'y')) == std::string(kMaxMessage, 'y'));
}
