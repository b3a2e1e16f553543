// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/rendezvous.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace z2z::bridge;
using z2z::config::Endpoint;
using z2z::dht::Bytes;
using z2z::dht::Key;

namespace {

Bytes bytes(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

constexpr std::string_view kId = "0123456789abcdef0123456789abcdef01234567";

// An overlay that does nothing: the rendezvous only needs one to be constructed.
class IdleOverlay final : public z2z::dht::Overlay {
 public:
  void put(const Key&, z2z::dht::Value, bool, DoneCallback) override {}
  void cancelPut(const Key&, std::uint64_t) override {}
  void get(const Key&, std::function<void(std::vector<z2z::dht::Value>)>) override {}
  ListenToken listen(const Key&, ListenCallback) override { return 1; }
  void cancelListen(ListenToken) override {}
  void bootstrap(const std::vector<Endpoint>&) override {}
  z2z::dht::OverlayStats stats() const override { return {}; }
  std::vector<Endpoint> knownNodes() const override { return {}; }
  std::vector<z2z::dht::NodeInfo> routingNodes() const override { return {}; }
  std::vector<Endpoint> publicEndpoints() const override { return {}; }
  Key nodeId() const override { return {}; }
  std::uint16_t port() const override { return 0; }
  std::size_t permanentPuts() const override { return 0; }
};

std::string value(std::string_view rest) {
  return "z2z-rendezvous 1 " + std::string(kId) + std::string(rest);
}

RendezvousEntry sample() {
  RendezvousEntry e;
  e.node = Key::hash("a node");
  e.endpoints = {{"198.19.0.1", 4222}, {"fd00:ff::1", 4222}};
  return e;
}

}  // namespace

TEST_CASE("the rendezvous key of a name") {
  CHECK(rendezvousKey(0, "main") == Key::hash("z2z:v1:rendezvous:0:main"));
  CHECK(rendezvousKey(4242, "main") == Key::hash("z2z:v1:rendezvous:4242:main"));
  CHECK(rendezvousKey(0, "main") != rendezvousKey(0, "other"));
  // Overlays of different network ids cannot merge: their leaders do not meet.
  CHECK(rendezvousKey(0, "main") != rendezvousKey(4242, "main"));
}

TEST_CASE("the rendezvous refuses the main overlay's network id") {
  z2z::mdns::EventLoop loop;
  IdleOverlay main;
  RendezvousOptions o;
  o.bootstrap = {{"198.19.0.9", 4700}};
  o.network = 0;
  o.mainNetwork = 0;
  CHECK_THROWS_AS(Rendezvous(loop, main, o, {}), z2z::Error);
  o.mainNetwork = 4242;
  CHECK_NOTHROW(Rendezvous(loop, main, o, {}));  // starts no node before start()
}

TEST_CASE("a rendezvous value round-trips") {
  RendezvousEntry e = sample();
  Bytes data = encodeRendezvousValue(e);
  CHECK(std::string(data.begin(), data.end()) ==
        "z2z-rendezvous 1 " + e.node.hex() + " 198.19.0.1 4222 fd00:ff::1 4222");
  auto back = parseRendezvousValue(data);
  REQUIRE_MESSAGE(back.ok(), back.error());
  CHECK(*back == e);
}

TEST_CASE("the largest value fits the limit; more endpoints are left out when encoding") {
  RendezvousEntry e;
  e.node = Key::hash("n");
  for (int i = 0; i < 6; ++i)
    e.endpoints.push_back({"2001:db8:ffff:ffff:ffff:ffff:ffff:fff" + std::to_string(i), 65535});
  Bytes data = encodeRendezvousValue(e);
  CHECK(data.size() <= kRendezvousMaxValue);
  auto back = parseRendezvousValue(data);
  REQUIRE_MESSAGE(back.ok(), back.error());
  CHECK(back->endpoints.size() == kRendezvousMaxEndpoints);
}

TEST_CASE("malformed rendezvous values are rejected with a reason") {
  struct Case {
    std::string text;
    std::string_view reason;
  };
  const Case cases[] = {
      {"", "not a rendezvous value"},
      {"z2z-leader 1 198.19.0.1 4222", "not a rendezvous value"},
      {"z2z-rendezvous 2 " + std::string(kId) + " 198.19.0.1 4222", "unknown version"},
      {value(""), "node id and HOST PORT"},
      {value(" 198.19.0.1"), "node id and HOST PORT"},
      {"z2z-rendezvous 1 0123 198.19.0.1 4222", "node id"},
      {"z2z-rendezvous 1 0123456789ABCDEF0123456789abcdef01234567 198.19.0.1 4222", "node id"},
      {value(" 198.19.0.1 4222 "), "node id and HOST PORT"},  // a trailing space
      {value("  198.19.0.1 4222"), "node id and HOST PORT"},
      {value("\t198.19.0.1 4222"), "printable"},
      {value(" 198.19.0.1 4222\n"), "printable"},
      {value(" gw.example.org 4222"), "not a usable"},  // names would make us resolve them
      {value(" 127.0.0.1 4222"), "not a usable"},
      {value(" 0.0.0.0 4222"), "not a usable"},
      {value(" 224.0.0.251 5353"), "not a usable"},
      {value(" 255.255.255.255 4222"), "not a usable"},
      {value(" 169.254.1.1 4222"), "not a usable"},
      {value(" ::1 4222"), "not a usable"},
      {value(" :: 4222"), "not a usable"},
      {value(" fe80::1 4222"), "not a usable"},
      {value(" ff02::fb 5353"), "not a usable"},
      {value(" ::ffff:127.0.0.1 4222"), "not a usable"},
      {value(" 198.19.0.1 0"), "bad port"},
      {value(" 198.19.0.1 65536"), "bad port"},
      {value(" 198.19.0.1 04222"), "bad port"},
      {value(" 198.19.0.1 +4222"), "bad port"},
      {value(" 198.19.0.1 4222x"), "bad port"},
      {value(" 198.19.0.1 4222 198.19.0.1 4222"), "twice"},
      {value(" 198.19.0.1 1 198.19.0.2 2 198.19.0.3 3 198.19.0.4 4 198.19.0.5 5"), "5 endpoints"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    auto r = parseRendezvousValue(bytes(c.text));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find(c.reason) != std::string::npos);
  }
}

TEST_CASE("oversized values are rejected before they are read") {
  std::string big = value(" 198.19.0.1 4222") + std::string(300, ' ');
  auto r = parseRendezvousValue(bytes(big));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("at most 256") != std::string::npos);
  Bytes binary(100000, 0xff);
  CHECK_FALSE(parseRendezvousValue(binary).ok());
}

TEST_CASE("usable rendezvous addresses") {
  CHECK(isRendezvousAddress("198.19.0.1"));
  CHECK(isRendezvousAddress("203.0.113.7"));
  CHECK(isRendezvousAddress("2001:db8::7"));
  CHECK(isRendezvousAddress("::ffff:198.19.0.1"));
  CHECK_FALSE(isRendezvousAddress(""));
  CHECK_FALSE(isRendezvousAddress("localhost"));
  CHECK_FALSE(isRendezvousAddress("198.19.0.1 "));
  CHECK_FALSE(isRendezvousAddress("[2001:db8::7]"));
  CHECK_FALSE(isRendezvousAddress("fe80::1%eth0"));
}
