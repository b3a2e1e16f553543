// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/mdns/dns_wire.hpp"

#include <doctest/doctest.h>

#include "z2z/mdns/service.hpp"

using namespace z2z::mdns;

TEST_CASE("names split, escape and encode") {
  auto labels = wire::splitEscaped("Tom\\.s\\032Music.local");
  REQUIRE(labels);
  CHECK(*labels == wire::Labels{"Tom.s Music", "local"});
  CHECK(wire::escapedName({"Tom.s\\x", "local"}) == "Tom\\.s\\\\x.local");
  CHECK(wire::escapedName({std::string("a\x01", 2)}) == "a\\001");
  auto back = wire::splitEscaped(wire::escapedName({"a.b\\c", "_daap", "_tcp", "local"}));
  REQUIRE(back);
  CHECK(*back == wire::Labels{"a.b\\c", "_daap", "_tcp", "local"});

  auto name = wire::encodeName({"hosta", "local"});
  REQUIRE(name);
  CHECK(*name == wire::Bytes{5, 'h', 'o', 's', 't', 'a', 5, 'l', 'o', 'c', 'a', 'l', 0});
}

TEST_CASE("names that cannot be encoded") {
  CHECK_FALSE(wire::splitEscaped("a..b"));
  CHECK_FALSE(wire::splitEscaped("a\\"));
  CHECK_FALSE(wire::splitEscaped("a\\25"));
  CHECK_FALSE(wire::splitEscaped("a\\999"));
  CHECK_FALSE(wire::splitPlain("_daap.._tcp"));
  CHECK_FALSE(wire::encodeName({std::string(64, 'x')}));
  wire::Labels many(5, std::string(60, 'x'));
  CHECK_FALSE(wire::encodeName(many));
}

TEST_CASE("SRV and TXT rdata") {
  auto srv = wire::srvRdata(3689, {"h", "local"});
  REQUIRE(srv);
  CHECK(*srv == wire::Bytes{0, 0, 0, 0, 0x0e, 0x69, 1, 'h', 5, 'l', 'o', 'c', 'a', 'l', 0});

  std::vector<std::string> txt = {"Version=196613", "Machine Name=Tom's",
                                  std::string("b\0=\xff", 4)};
  auto rdata = wire::txtRdata(txt);
  REQUIRE(rdata);
  auto parsed = wire::parseTxtRdata(*rdata);
  REQUIRE(parsed);
  CHECK(*parsed == txt);

  auto empty = wire::txtRdata({});
  REQUIRE(empty);
  CHECK(*empty == wire::Bytes{0});
  CHECK_FALSE(wire::txtRdata({std::string(256, 'x')}));
  CHECK_FALSE(wire::parseTxtRdata(wire::Bytes{5, 'a'}));
}

TEST_CASE("addresses") {
  auto v4 = Address::parse("198.18.1.2");
  REQUIRE(v4);
  CHECK(v4->toString() == "198.18.1.2");
  CHECK_FALSE(v4->isLinkLocal());
  CHECK(Address::parse("169.254.3.4")->isLinkLocal());
  CHECK(Address::parse("127.0.0.1")->isLoopback());
  auto v6 = Address::parse("fd00:1::2");
  REQUIRE(v6);
  CHECK(v6->family == Address::Family::V6);
  CHECK(v6->toString() == "fd00:1::2");
  CHECK(Address::parse("fe80::1")->isLinkLocal());
  CHECK(Address::parse("febf::1")->isLinkLocal());
  CHECK_FALSE(Address::parse("fec0::1")->isLinkLocal());
  CHECK(Address::parse("::1")->isLoopback());
  CHECK_FALSE(Address::parse("198.18.1"));
  CHECK_FALSE(Address::parse("fe80::1%eth0"));
  CHECK_FALSE(Address::parse("hosta.local"));
}
