// SPDX-License-Identifier: GPL-3.0-or-later
#include <doctest/doctest.h>

#include "source_file.hpp"

#include "z2z/config/options.hpp"

namespace {

// "dht-port" as man(7) source spells it: "\-\-dht\-port".
std::string manSpelling(const std::string& flag) {
  std::string out = "\\-\\-";
  for (char c : flag) {
    if (c == '-')
      out += "\\-";
    else
      out += c;
  }
  return out;
}

}  // namespace

TEST_CASE("z2z.1 documents every flag") {
  std::string page = sourceFile("man/z2z.1");
  REQUIRE_FALSE(page.empty());
  for (const std::string& flag : z2z::config::flagNames()) {
    CAPTURE(flag);
    CHECK(page.find(manSpelling(flag)) != std::string::npos);
  }
}

#include "z2z/config/daemon_config.hpp"

TEST_CASE("z2zd.8 documents every [server] key as an option") {
  std::string page = sourceFile("man/z2zd.8");
  REQUIRE_FALSE(page.empty());
  for (const auto& k : z2z::config::schema()) {
    if (k.section != "server")
      continue;
    CAPTURE(k.key);
    CHECK(page.find(manSpelling(std::string(k.key))) != std::string::npos);
  }
  for (const char* flag : {"config", "check", "dump-config", "example-config", "help", "version"}) {
    CAPTURE(flag);
    CHECK(page.find(manSpelling(flag)) != std::string::npos);
  }
}
