// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/groups/document.hpp"

#include <doctest/doctest.h>

#include "z2z/groups/crypto.hpp"

using namespace z2z::groups;

namespace {

const Identity& identity() {
  static Identity id = Identity::generate();
  return id;
}

Document sampleInfo() {
  Document d;
  d.type = DocType::GroupInfo;
  d.name = "jolly";
  d.version = 1763766000000123;
  d.expires = 1763766120;
  d.endpoints = {{"12.34.56.78", 5080}, {"fd00:ff::1", 4223}};
  d.description = "The most jolly group! <&> \"ü\"";
  d.memberKeys = {identity().publicKey()};
  signDocument(d, identity());
  return d;
}

Document sampleMembership() {
  Document d;
  d.type = DocType::Membership;
  d.name = "jolly";
  d.version = 5;
  d.expires = 100;
  d.since = 3;
  d.endpoints = {{"198.19.0.1", 4223}};
  signDocument(d, identity());
  return d;
}

Document sampleAlias() {
  Document d;
  d.type = DocType::Alias;
  d.name = "merry";
  d.target = "jolly";
  d.version = 7;
  d.expires = 100;
  signDocument(d, identity());
  return d;
}

// The sample group-info with one substring replaced.
std::string variant(std::string_view from, std::string_view to, const Document& d = sampleInfo()) {
  std::string text = encodeDocument(d);
  auto at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  text.replace(at, from.size(), to);
  return text;
}

void rejects(const std::string& text, std::string_view why) {
  auto r = decodeDocument(text);
  CAPTURE(text);
  REQUIRE_FALSE(r.ok());
  CHECK_MESSAGE(r.error().find(why) != std::string::npos, r.error());
}

}  // namespace

TEST_CASE("documents round trip and verify") {
  for (const Document& d : {sampleInfo(), sampleMembership(), sampleAlias()}) {
    std::string text = encodeDocument(d);
    CHECK(text.starts_with("GROUP-MANAGEMENT:\n<group_management type=\""));
    auto back = decodeDocument(text);
    REQUIRE_MESSAGE(back.ok(), back.error());
    CHECK(*back == d);
    CHECK(verifyDocument(*back));
  }
}

TEST_CASE("the draft's layout parses with the header line and reads like the draft") {
  std::string text = encodeDocument(sampleInfo());
  CHECK(text.find("<bootstrap-address>12.34.56.78</bootstrap-address>") != std::string::npos);
  CHECK(text.find("<bootstrap-port>5080</bootstrap-port>") != std::string::npos);
  CHECK(text.find("<description>") != std::string::npos);
  // Whitespace between elements does not matter, and is not covered by the signature.
  std::string compact = text;
  std::erase(compact, '\n');
  compact.insert(std::string("GROUP-MANAGEMENT:").size(), "\n");
  auto r = decodeDocument(compact);
  REQUIRE_MESSAGE(r.ok(), r.error());
  CHECK(verifyDocument(*r));
}

TEST_CASE("header check") {
  std::string text = encodeDocument(sampleInfo());
  rejects(text.substr(std::string("GROUP-MANAGEMENT:\n").size()), "header");
  rejects("group-management:\n" + text.substr(18), "header");
  rejects("GROUP-MANAGEMENT: " + text.substr(17), "header");
  rejects("", "header");
  rejects("GROUP-MANAGEMENT:\n", "XML");
}

TEST_CASE("every schema violation is rejected with a reason") {
  Document info = sampleInfo();
  rejects(variant("type=\"group-info\"", "type=\"group\""), "unknown document type");
  rejects(variant("schema=\"1\"", "schema=\"2\""), "unsupported schema");
  rejects(variant("schema=\"1\"", "schema=\"1\" x=\"y\""), "unknown attribute");
  rejects(variant("<name>jolly</name>", "<name>jol ly</name>"), "not a group name");
  rejects(variant("<name>jolly</name>", "<name></name>"), "not a group name");
  rejects(variant("<name>jolly</name>", "<name>" + std::string(64, 'a') + "</name>"),
          "not a group name");
  rejects(variant("<name>jolly</name>", ""), "<name> expected");
  rejects(variant("<name>jolly</name>", "<name a=\"b\">jolly</name>"), "has attributes");
  rejects(variant("<name>jolly</name>", "<name><b/>jolly</name>"), "only text");
  rejects(variant("<version>1763766000000123</version>", "<version>0</version>"), "positive");
  rejects(variant("<version>1763766000000123</version>", "<version>-1</version>"), "not a number");
  rejects(variant("<version>1763766000000123</version>", "<version>0123</version>"),
          "not a number");
  rejects(variant("<version>1763766000000123</version>", "<version>99999999999999999999</version>"),
          "not a number");
  rejects(variant("<expires>1763766120</expires>", "<expires>soon</expires>"), "not a number");
  rejects(variant("<status>active</status>", "<status>alive</status>"), "not active or removed");
  rejects(variant("<status>active</status>", "<status>removed</status>"), "lists no endpoints");
  rejects(variant("<bootstrap-address>12.34.56.78</bootstrap-address>",
                  "<bootstrap-address>example.org</bootstrap-address>"),
          "not an IP address");
  rejects(variant("<bootstrap-port>5080</bootstrap-port>", "<bootstrap-port>0</bootstrap-port>"),
          "out of range");
  rejects(
      variant("<bootstrap-port>5080</bootstrap-port>", "<bootstrap-port>65536</bootstrap-port>"),
      "out of range");
  rejects(variant("<bootstrap-port>5080</bootstrap-port>", ""), "<bootstrap-port> expected");
  std::string many;
  for (int i = 0; i < 17; ++i) {
    many += "<bootstrap-address>1.2.3.4</bootstrap-address><bootstrap-port>1</bootstrap-port>";
  }
  rejects(variant("<bootstrap-address>12.34.56.78</bootstrap-address>",
                  many + "<bootstrap-address>12.34.56.78</bootstrap-address>"),
          "more than 16");
  rejects(variant("<description>", "<description></description><description>"), "1 to 256");
  rejects(variant("The most jolly group!", std::string(300, 'x')), "1 to 256");
  rejects(variant("<signer>", "<member-key>AAAA</member-key><signer>"), "base64 of 32 bytes");
  rejects(variant("<signature>", "<extra/><signature>"), "<signature> expected, found <extra>");
  rejects(variant("</group_management>", "<extra/></group_management>"), "after <signature>");
  rejects(variant("</group_management>", "text</group_management>"), "non-element content");
  rejects(variant("</group_management>", "<!-- c --></group_management>"), "non-element content");
  rejects(variant("</group_management>", "</group_management><x/>"), "single");
  rejects(variant("<group_management", "<z2z"), "not XML");  // mismatched end tag
  rejects(std::string(kHeader) + std::string(kMaxDocumentSize, ' '), "exceeds the limit");
  // Fields that belong to another type or status.
  Document removed = info;
  removed.status = DocStatus::Removed;
  removed.endpoints.clear();
  signDocument(removed, identity());
  auto r = decodeDocument(encodeDocument(removed));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("lists no members") != std::string::npos);
  removed.memberKeys.clear();
  signDocument(removed, identity());
  CHECK(decodeDocument(encodeDocument(removed)).ok());
  Document noKeys = info;
  noKeys.memberKeys.clear();
  rejects(encodeDocument(noKeys), "needs a <member-key>");
  Document m = sampleMembership();
  rejects(variant("<since>3</since>", "", m), "<since> expected");
  rejects(
      variant("<status>active</status>", "<status>active</status><description>x</description>", m),
      "<since> expected");
  m.description = "x";
  rejects(encodeDocument(m), "only group-info has a <description>");
  Document a = sampleAlias();
  rejects(variant("<target>jolly</target>", "<target>merry</target>", a), "cannot name itself");
  rejects(variant("<target>jolly</target>",
                  "<target>jolly</target><bootstrap-address>1.2.3.4</"
                  "bootstrap-address><bootstrap-port>1</bootstrap-port>",
                  a),
          "alias has no bootstrap");
  a.memberKeys = {identity().publicKey()};
  rejects(encodeDocument(a), "only group-info lists");
}

TEST_CASE("a changed field breaks the signature") {
  auto d = decodeDocument(
      variant("<bootstrap-port>5080</bootstrap-port>", "<bootstrap-port>5081</bootstrap-port>"));
  REQUIRE(d.ok());
  CHECK_FALSE(verifyDocument(*d));
  Document other = sampleInfo();
  other.signer = Identity::generate().publicKey();
  CHECK_FALSE(verifyDocument(other));
}
