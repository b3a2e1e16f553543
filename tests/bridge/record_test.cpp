// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/record.hpp"

#include <doctest/doctest.h>

#include "z2z/bridge/gateway.hpp"

using namespace z2z::bridge;
using z2z::mdns::Address;

namespace {

constexpr std::string_view kSampleName = "name=\"Tom's Music &lt;&amp;> &quot;1&quot;\"";

Record sample() {
  Record r;
  r.kind = RecordKind::Service;
  r.origin = "0123456789abcdef";
  r.seq = 1763766000000123;
  r.lease = std::chrono::seconds(120);
  r.service.key = {"Tom's Music <&> \"1\"", "_daap._tcp", "local"};
  r.service.host = "hosta.local";
  r.service.port = 3689;
  r.service.txt = {"Version=196613", "Machine Name=Tom's", std::string("bin\0\xff=", 6)};
  r.service.addresses = {*Address::parse("198.18.1.2"), *Address::parse("fd00:1::2")};
  return r;
}

// The sample's XML with one substring replaced.
std::string variant(std::string_view from, std::string_view to) {
  std::string text = encodeRecord(sample());
  auto at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  text.replace(at, from.size(), to);
  return text;
}

}  // namespace

TEST_CASE("records round trip") {
  Record r = sample();
  auto back = decodeRecord(encodeRecord(r));
  REQUIRE_MESSAGE(back.ok(), back.error());
  CHECK(*back == r);

  Record w;
  w.kind = RecordKind::Withdrawn;
  w.origin = r.origin;
  w.seq = r.seq + 1;
  w.service.key = r.service.key;
  auto wb = decodeRecord(encodeRecord(w));
  REQUIRE_MESSAGE(wb.ok(), wb.error());
  CHECK(*wb == w);

  Record h;
  h.kind = RecordKind::Heartbeat;
  h.origin = r.origin;
  h.seq = 7;
  h.lease = std::chrono::seconds(30);
  auto hb = decodeRecord(encodeRecord(h));
  REQUIRE_MESSAGE(hb.ok(), hb.error());
  CHECK(*hb == h);
}

TEST_CASE("every class of malformed record is rejected with a message") {
  struct Case {
    std::string text;
    std::string_view mentions;
  };
  std::vector<Case> cases = {
      {"", "not XML"},
      {"<z2z", "not XML"},
      {"hello", "not XML"},
      {"<x version=\"1\" kind=\"service\"/>", "root element"},
      {encodeRecord(sample()) + "<z2z/>", "root element"},
      {variant("version=\"1\"", "version=\"2\""), "unsupported record version"},
      {variant("kind=\"service\"", "kind=\"bogus\""), "unknown record kind"},
      {variant("kind=\"service\"", "kind=\"heartbeat\""), "cannot contain"},
      {variant("kind=\"service\"", "kind=\"service\" extra=\"1\""), "unknown attribute 'extra'"},
      {variant("id=\"0123456789abcdef\"", "id=\"0123\""), "origin id"},
      {variant("id=\"0123456789abcdef\"", "id=\"0123456789ABCDEF\""), "origin id"},
      {variant("seq=\"1763766000000123\"", "seq=\"-1\""), "seq"},
      {variant("seq=\"1763766000000123\"", "seq=\"99999999999999999999999\""), "seq"},
      {variant("lease=\"120\"", "lease=\"1\""), "lease"},
      {variant("lease=\"120\"", ""), "lacks the attribute 'lease'"},
      {variant("port=\"3689\"", "port=\"65536\""), "port"},
      {variant("port=\"3689\"", "port=\"36a\""), "port"},
      {variant("type=\"_daap._tcp\"", "type=\"daap\""), "service type"},
      {variant("domain=\"local\"", "domain=\"example.com\""), "domain"},
      {variant("host=\"hosta.local\"", "host=\"..\""), "host"},
      {variant(kSampleName, "name=\"\""), "service name"},
      {variant(kSampleName, "name=\"" + std::string(64, 'x') + "\""), "service name"},
      {variant(kSampleName, "name=\"a&#9;b\""), "service name"},
      {variant("<address>198.18.1.2</address>", "<address>198.18.1.300</address>"), "198.18.1.300"},
      {variant("<address>198.18.1.2</address><address>fd00:1::2</address>", ""),
       "without an address"},
      {variant("<address>198.18.1.2</address>", "<addr>198.18.1.2</addr>"),
       "unknown element <addr>"},
      {variant("<address>198.18.1.2</address>", "<address x=\"1\">198.18.1.2</address>"),
       "unknown attribute"},
      {variant("<txt>VmVyc2lvbj0xOTY2MTM=</txt>", "<txt>not base64!</txt>"), "base64"},
      {variant("<txt>VmVyc2lvbj0xOTY2MTM=</txt>", "<txt></txt>"), "TXT"},
      {variant("<txt>VmVyc2lvbj0xOTY2MTM=</txt>", "<txt>VmVyc2lv<!-- x -->bj0xOTY2MTM=</txt>"),
       "only text"},
      {variant("<address>198.18.1.2</address>", "<address>198.18.1.2<x/></address>"), "only text"},
      {variant("port=\"3689\"", "port=\"3689\" port=\"80\""), "'port' twice"},
      {variant("</z2z>", "<origin id=\"0123456789abcdef\" seq=\"1\" lease=\"120\"/></z2z>"),
       "one <origin>"},
      {variant("</z2z>",
               "<service name=\"b\" type=\"_daap._tcp\" domain=\"local\" host=\"h.local\" "
               "port=\"1\"/></z2z>"),
       "service element"},
      {variant("</z2z>", "text</z2z>"), "non-element"},
      {"<!DOCTYPE z2z [<!ENTITY x \"y\">]>" + encodeRecord(sample()), ""},
  };
  std::string many;
  for (int i = 0; i < 17; ++i)
    many += "<address>198.18.1." + std::to_string(i + 1) + "</address>";
  cases.push_back({variant("<address>198.18.1.2</address>", many), "more than 16"});
  cases.push_back(
      {variant("<txt>VmVyc2lvbj0xOTY2MTM=</txt>", "<txt>" + std::string(344, 'A') + "</txt>"),
       "TXT"});
  cases.push_back({std::string(kMaxRecordSize + 1, ' '), "exceeds the limit"});

  for (const Case& c : cases) {
    CAPTURE(c.text);
    auto r = decodeRecord(c.text);
    if (c.mentions.empty()) {
      // A DOCTYPE is skipped, never expanded: the record itself is still fine.
      CHECK(r.ok());
      continue;
    }
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(r.error().find(c.mentions) != std::string::npos, r.error());
  }
}

TEST_CASE("import host names mark imports and stay valid DNS labels") {
  std::vector<Address> a = {*Address::parse("198.18.1.2"), *Address::parse("fd00:1::2")};
  std::vector<Address> reversed(a.rbegin(), a.rend());
  std::string name = importHostName("hosta.local", a);
  CHECK(name.starts_with("hosta-z2z-"));
  CHECK(name.ends_with(".local"));
  CHECK(name.size() == std::string("hosta-z2z-01234567.local").size());
  CHECK(importHostName("hosta.local", reversed) == name);  // the same host, whoever exported it
  CHECK(importHostName("hosta.local", {a[0]}) != name);    // another host of that name
  CHECK(importHostName("Tom\\'s\\032Mac.local", a).starts_with("tom-s-mac-z2z-"));
  CHECK(importHostName("---.local", a).starts_with("host-z2z-"));
  CHECK(isImportHost(name));
  CHECK(isImportHost("hosta-z2z-01234567.local"));
  CHECK(isImportHost("hosta-z2z-01234567-2.local"));
  CHECK_FALSE(isImportHost("hosta.local"));
  CHECK_FALSE(isImportHost("hosta-z2z-xyz.local"));
  std::string longHost(60, 'a');
  CHECK(importHostName(longHost + ".local", a).size() <= 63 + 6);
}

TEST_CASE("the DHT key of a key name is documented and stable") {
  CHECK(keyFor("columbia") == z2z::dht::Key::hash("z2z:v1:key:columbia"));
}
