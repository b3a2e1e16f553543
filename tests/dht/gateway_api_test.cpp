// SPDX-License-Identifier: GPL-3.0-or-later
// The gateway API's data rules: request validation, chunking of z2z values over the 1024-byte
// limit, and how stored puts and removals are shown.
#include <doctest/doctest.h>

#include "z2z/dht/gateway_api.hpp"

using namespace z2z::dht;
namespace gw = z2z::dht::gateway;

namespace {

Bytes filled(std::size_t n, std::uint8_t seed = 1) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::uint8_t>(seed + i * 7);
  return b;
}

Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

}  // namespace

TEST_CASE("request validation names the argument") {
  CHECK(gw::validateKey(filled(20)));
  auto k = gw::validateKey(filled(19));
  REQUIRE_FALSE(k);
  CHECK(k.error().find("key: 19 bytes") != std::string::npos);
  CHECK_FALSE(gw::validateKey(filled(21)));
  CHECK(gw::validateValue(filled(1024)));
  CHECK(gw::validateValue(Bytes{}));
  CHECK(gw::validateValue(filled(1025)).error().find("value: 1025") != std::string::npos);
  CHECK(gw::validateTtl(1));
  CHECK(gw::validateTtl(604800));
  CHECK_FALSE(gw::validateTtl(0));
  CHECK_FALSE(gw::validateTtl(-5));
  CHECK_FALSE(gw::validateTtl(604801));
  CHECK(gw::validateHashType("SHA"));
  CHECK_FALSE(gw::validateHashType("MD5"));
  CHECK_FALSE(gw::validateHashType(""));
  CHECK(gw::validateSecretHash(filled(20)));
  CHECK_FALSE(gw::validateSecretHash(filled(8)));
  CHECK(gw::validateSecret(filled(40)));
  CHECK_FALSE(gw::validateSecret(filled(41)));
  CHECK(gw::validateApplication(std::string(255, 'a')));
  CHECK_FALSE(gw::validateApplication(std::string(256, 'a')));
  CHECK(gw::validateMaxvals(1));
  CHECK_FALSE(gw::validateMaxvals(0));
  CHECK(gw::validatePlacemark(Bytes{}));
  CHECK(gw::validatePlacemark(filled(20)));
  CHECK_FALSE(gw::validatePlacemark(filled(3)));
}

TEST_CASE("values split into chunks of at most 1024 bytes and reassemble") {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, gw::kChunkPayloadSize,
                           gw::kChunkPayloadSize + 1, std::size_t{16 * 1024}}) {
    CAPTURE(size);
    Value v{0x0123456789abcdefULL, filled(size)};
    auto chunks = gw::splitValue(v);
    CHECK(chunks.size() == std::max<std::size_t>(1, (size + 993) / 994));
    for (const Bytes& c : chunks)
      CHECK(c.size() <= gw::kMaxValueSize);
    // Order does not matter, duplicates do no harm, foreign values are counted.
    std::vector<Bytes> shuffled(chunks.rbegin(), chunks.rend());
    shuffled.push_back(chunks.front());
    shuffled.push_back(text("someone else's value"));
    auto a = gw::assemble(shuffled);
    REQUIRE(a.values.size() == 1);
    CHECK(a.values[0].id == v.id);
    CHECK(a.values[0].data == v.data);
    CHECK(a.foreign == 1);
    CHECK(a.incomplete == 0);
  }
  CHECK_THROWS_AS(gw::splitValue(Value{1, filled(gw::kMaxChunks * gw::kChunkPayloadSize + 1)}),
                  z2z::Error);
}

TEST_CASE("incomplete chunk sets and malformed chunks are not used") {
  auto chunks = gw::splitValue(Value{7, filled(3000)});
  REQUIRE(chunks.size() == 4);
  auto missing = gw::assemble({chunks[0], chunks[2], chunks[3]});
  CHECK(missing.values.empty());
  CHECK(missing.incomplete == 1);

  Bytes forged = chunks[1];
  forged.back() ^= 0xff;  // the same id, head and index with other bytes: not in the chain
  auto broken = gw::assemble({chunks[0], forged, chunks[2], chunks[3]});
  CHECK(broken.values.empty());
  CHECK(broken.incomplete == 1);

  auto chunk = gw::decodeChunk(chunks[1]);
  REQUIRE(chunk);
  CHECK(chunk->id == 7);
  CHECK(chunk->head == gw::chunkHead(filled(3000)));
  CHECK(chunk->index == 1);
  CHECK(chunk->count == 4);
  CHECK(gw::decodeChunk(chunks[3])->next == 0);
  Bytes badCount = chunks[0];
  badCount[29] = 0;
  CHECK_FALSE(gw::decodeChunk(badCount));
  Bytes badIndex = chunks[0];
  badIndex[28] = 5;
  CHECK_FALSE(gw::decodeChunk(badIndex));
  CHECK_FALSE(gw::decodeChunk(Bytes(chunks[0].begin(), chunks[0].begin() + 29)));
  Bytes tooBig = chunks[0];
  tooBig.resize(gw::kMaxValueSize + 1);
  CHECK_FALSE(gw::decodeChunk(tooBig));
}

TEST_CASE("chunks put by someone else under a value's id do not hide it") {
  Value v{7, filled(3000)};
  auto chunks = gw::splitValue(v);
  REQUIRE(chunks.size() == 4);
  auto only = [&](const std::vector<Bytes>& values) {
    auto a = gw::assemble(values);
    return a.values.size() == 1 && a.values[0].id == v.id && a.values[0].data == v.data;
  };
  // Other bytes (or another next) for every index, with the value's id and head, ten of each,
  // before the real ones.
  std::vector<Bytes> values;
  for (const Bytes& c : chunks) {
    for (std::uint8_t x = 1; x <= 10; ++x) {
      Bytes other = c;
      other.at(gw::kChunkHeaderSize) ^= x;
      values.push_back(other);
      Bytes otherNext = c;
      otherNext.at(27) ^= x;
      values.push_back(otherNext);
    }
  }
  values.insert(values.end(), chunks.begin(), chunks.end());
  CHECK(only(values));
  // A different count, or a whole value of someone else under the same id: both are there.
  Bytes otherCount = chunks[0];
  otherCount[29] = 2;
  CHECK(only({otherCount, chunks[0], chunks[1], chunks[2], chunks[3]}));
  auto theirs = gw::splitValue(Value{7, filled(100, 3)});
  std::vector<Bytes> both = theirs;
  both.insert(both.end(), chunks.begin(), chunks.end());
  auto a = gw::assemble(both);
  REQUIRE(a.values.size() == 2);
  CHECK(std::count_if(a.values.begin(), a.values.end(),
                      [&](const Value& x) { return x.data == v.data; }) == 1);
}

TEST_CASE("ValueDiff reports new, changed and vanished values once") {
  gw::ValueDiff diff;
  auto c1 = diff.update({Value{1, text("a")}, Value{2, text("b")}});
  CHECK(c1.added.size() == 2);
  CHECK(c1.gone.empty());
  CHECK(diff.update({Value{1, text("a")}, Value{2, text("b")}}).added.empty());
  auto c2 = diff.update({Value{2, text("B")}});
  CHECK(c2.added.size() == 1);
  CHECK(c2.gone.size() == 2);  // 1 vanished, 2 changed
  // Two values under one id (someone else put one) are two values.
  auto c3 = diff.update({Value{2, text("B")}, Value{2, text("mine")}});
  REQUIRE(c3.added.size() == 1);
  CHECK(c3.added[0].data == text("mine"));
  CHECK(c3.gone.empty());
  CHECK(diff.size() == 2);
}

TEST_CASE("stored puts and removals round-trip and reject malformed bytes") {
  gw::StoredPut p{text("blue"), "SHA", gw::sha1(text("donttell")), 1000};
  Bytes encoded = gw::encodeStored(p);
  auto d = gw::decodeStored(encoded);
  REQUIRE(d);
  auto& q = std::get<gw::StoredPut>(*d);
  CHECK(q.value == p.value);
  CHECK(q.hashType == "SHA");
  CHECK(q.secretHash == p.secretHash);
  CHECK(q.expires == 1000);

  gw::StoredRm r{gw::sha1(text("blue")), "SHA", text("donttell"), 2000};
  auto dr = gw::decodeStored(gw::encodeStored(r));
  REQUIRE(dr);
  CHECK(std::get<gw::StoredRm>(*dr).secret == text("donttell"));

  CHECK_FALSE(gw::decodeStored(text("<z2z version=\"1\"/>")));
  for (std::size_t n = 0; n < encoded.size() - 4; ++n) {  // every truncation of the header
    Bytes cut(encoded.begin(), encoded.begin() + static_cast<std::ptrdiff_t>(n));
    if (n < 18)
      CHECK_FALSE(gw::decodeStored(cut));
  }
}

TEST_CASE("present: live puts, removals with the right secret, native values as chunks") {
  std::int64_t now = 5000;
  auto stored = [](const gw::Stored& s, std::uint64_t id) {
    return Value{id, gw::encodeStored(s)};
  };
  Bytes secret = text("donttell");
  std::vector<Value> overlay = {
      stored(gw::StoredPut{text("red"), "", {}, now + 100}, 1),
      stored(gw::StoredPut{text("red"), "", {}, now + 300}, 2),  // same put again, longer
      stored(gw::StoredPut{text("old"), "", {}, now - 1}, 3),    // expired
      stored(gw::StoredPut{text("blue"), "SHA", gw::sha1(secret), now + 100}, 4),
      stored(gw::StoredPut{text("green"), "SHA", gw::sha1(secret), now + 100}, 5),
      stored(gw::StoredRm{gw::sha1(text("blue")), "SHA", secret, now + 200}, 6),
      stored(gw::StoredRm{gw::sha1(text("green")), "SHA", text("wrong"), now + 200}, 7),
      Value{8, filled(1500)},  // a native z2z record: two chunks
  };
  auto entries = gw::present(overlay, now);
  std::vector<Bytes> values;
  for (const auto& e : entries)
    values.push_back(e.value);
  CHECK(entries.size() == 4);  // red, green, and the record's two chunks
  auto find = [&](const Bytes& v) {
    return std::find_if(entries.begin(), entries.end(),
                        [&](const gw::Entry& e) { return e.value == v; });
  };
  REQUIRE(find(text("red")) != entries.end());
  CHECK(find(text("red"))->ttlRemaining == 300);
  CHECK(find(text("red"))->hashType.empty());
  CHECK(find(text("blue")) == entries.end());
  REQUIRE(find(text("green")) != entries.end());
  CHECK(find(text("green"))->hashType == "SHA");
  CHECK(find(text("old")) == entries.end());
  for (std::size_t i = 1; i < entries.size(); ++i)
    CHECK(entries[i - 1].order < entries[i].order);
  auto a = gw::assemble(values);
  REQUIRE(a.values.size() == 1);
  CHECK(a.values[0].id == 8);
  CHECK(a.values[0].data == filled(1500));

  // What gateways with a node see: the native value and values carried in chunks.
  auto chunks = gw::splitValue(Value{99, filled(2500, 9)});
  std::vector<Value> withChunks = {Value{8, filled(10)}};
  std::uint64_t id = 100;
  for (const Bytes& c : chunks)
    withChunks.push_back(stored(gw::StoredPut{c, "SHA", gw::sha1(secret), now + 50}, id++));
  auto seen = gw::reassembleStored(withChunks, now);
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].id == 99);
  CHECK(seen[1].data == filled(2500, 9));
  // Removing one chunk removes the value.
  withChunks.push_back(stored(gw::StoredRm{gw::sha1(chunks[0]), "SHA", secret, now + 700}, 200));
  CHECK(gw::reassembleStored(withChunks, now).size() == 1);
}

TEST_CASE("XML-RPC text with a DTD, or not in UTF-8, is refused before parsing") {
  using z2z::dht::gateway::checkXmlrpcText;
  CHECK(checkXmlrpcText("<?xml version=\"1.0\"?><methodCall/>").ok());
  CHECK(checkXmlrpcText("\xEF\xBB\xBF\r\n <methodResponse/>").ok());
  auto dtd = checkXmlrpcText("<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY a \"b\">]><m/>");
  REQUIRE_FALSE(dtd.ok());
  CHECK(dtd.error().find("DTD") != std::string::npos);
  CHECK_FALSE(checkXmlrpcText("<m><!ENTITY a \"b\"></m>").ok());
  // The same in UTF-16: the byte search for "<!DOCTYPE" would not see it.
  std::string utf16("\xFF\xFE<\0!\0D\0O\0C\0T\0Y\0P\0E\0", 20);
  auto wide = checkXmlrpcText(utf16);
  REQUIRE_FALSE(wide.ok());
  CHECK(wide.error().find("NUL") != std::string::npos);
  CHECK(checkXmlrpcText("hello").error().find("must begin with '<'") != std::string::npos);
  CHECK_FALSE(checkXmlrpcText("").ok());
}
