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
  // As avahi-daemon reports names: everything but letters, digits, '-' and '_' escaped.
  CHECK(wire::avahiName({"My Printer\xc3\xa9'x.y", "local"}) ==
        "My\\032Printer\\195\\169\\039x\\.y.local");
  CHECK(wire::avahiName({"host-a_1", "local"}) == "host-a_1.local");
  // ASCII case only (RFC 6762 section 16).
  CHECK(wire::sameName("Toms Music", "toms MUSIC"));
  CHECK_FALSE(wire::sameName("Tom", "Toms"));
  CHECK(wire::foldCase("_DAAP._tcp \xc3\x89") == "_daap._tcp \xc3\x89");

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

namespace {

// A reader for what wire::Response writes: names with compression pointers (each pointing
// backwards), then type, class, TTL and RDATA.
struct ParsedRecord {
  wire::Labels owner;
  std::uint16_t type = 0;
  std::uint16_t cls = 0;
  std::uint32_t ttl = 0;
  wire::Bytes rdata;           // names in it expanded
  std::uint16_t rdlength = 0;  // as on the wire
};

std::uint16_t get16(const wire::Bytes& b, std::size_t at) {
  REQUIRE(at + 2 <= b.size());
  return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]);
}

wire::Labels readName(const wire::Bytes& b, std::size_t& at) {
  wire::Labels labels;
  std::size_t pos = at;
  bool jumped = false;
  for (int hops = 0; hops < 64; ++hops) {
    REQUIRE(pos < b.size());
    std::uint8_t len = b[pos];
    if ((len & 0xc0) == 0xc0) {
      std::size_t target = get16(b, pos) & 0x3fff;
      REQUIRE(target < pos);
      if (!jumped)
        at = pos + 2;
      jumped = true;
      pos = target;
      continue;
    }
    REQUIRE(len < 64);
    if (len == 0) {
      if (!jumped)
        at = pos + 1;
      return labels;
    }
    REQUIRE(pos + 1 + len <= b.size());
    labels.emplace_back(b.begin() + static_cast<long>(pos + 1),
                        b.begin() + static_cast<long>(pos + 1 + len));
    pos += 1 + len;
  }
  FAIL("compression loop");
  return labels;
}

std::vector<ParsedRecord> readResponse(const wire::Bytes& b) {
  REQUIRE(b.size() >= 12);
  CHECK(get16(b, 0) == 0);       // ID 0 (RFC 6762 section 18.1)
  CHECK(get16(b, 2) == 0x8400);  // QR, AA
  CHECK(get16(b, 4) == 0);       // no questions
  std::vector<ParsedRecord> out;
  std::size_t at = 12;
  for (std::uint16_t n = get16(b, 6); n > 0; --n) {
    ParsedRecord r;
    r.owner = readName(b, at);
    r.type = get16(b, at);
    r.cls = get16(b, at + 2);
    r.ttl = static_cast<std::uint32_t>(get16(b, at + 4)) << 16 | get16(b, at + 6);
    std::uint16_t len = get16(b, at + 8);
    at += 10;
    REQUIRE(at + len <= b.size());
    // NS, CNAME, PTR and SRV carry a name that may be compressed: expanded here.
    std::size_t nameAt = r.type == 33 ? 6 : 0;
    if (r.type == 2 || r.type == 5 || r.type == 12 || r.type == 33) {
      REQUIRE(len > nameAt);
      r.rdata.assign(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(at + nameAt));
      std::size_t pos = at + nameAt;
      auto name = wire::encodeName(readName(b, pos));
      REQUIRE(name);
      CHECK(pos == at + len);  // the name ends the RDATA
      r.rdata.insert(r.rdata.end(), name->begin(), name->end());
    } else {
      r.rdata.assign(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(at + len));
    }
    r.rdlength = len;
    at += len;
    out.push_back(std::move(r));
  }
  CHECK(at == b.size());
  return out;
}

}  // namespace

TEST_CASE("an mDNS response packs records under compressed owner names") {
  wire::Labels type = {"_daap", "_tcp", "local"};
  wire::Labels toms = {"Toms Music", "_daap", "_tcp", "local"};
  wire::Labels anns = {"Ann.s", "_daap", "_tcp", "local"};
  auto txt = wire::txtRdata({"Version=196613"});
  auto srv = wire::srvRdata(3689, {"hosta", "local"});
  REQUIRE(txt);
  REQUIRE(srv);

  wire::Response packet(1400);
  CHECK(packet.count() == 0);
  REQUIRE(packet.add(toms, 33, true, 120, *srv));
  REQUIRE(packet.add(toms, 16, true, 4500, *txt));
  REQUIRE(packet.add(type, 12, false, 4500, *wire::encodeName(toms)));
  REQUIRE(packet.add(anns, 16, true, 0, *txt));
  CHECK(packet.count() == 4);

  auto records = readResponse(packet.bytes());
  REQUIRE(records.size() == 4);
  CHECK(records[0].owner == toms);
  CHECK(records[0].type == 33);
  CHECK(records[0].cls == 0x8001);  // IN with the cache-flush bit
  CHECK(records[0].ttl == 120);
  CHECK(records[0].rdata == *srv);
  CHECK(records[1].owner == toms);
  CHECK(records[1].cls == 0x8001);
  CHECK(records[2].owner == type);
  CHECK(records[2].cls == 1);  // shared: no cache-flush bit
  CHECK(records[2].rdata == *wire::encodeName(toms));
  CHECK(records[3].owner == anns);
  CHECK(records[3].ttl == 0);

  // Repeated owners cost a two-byte pointer: the second record of Toms Music is its name's
  // pointer plus the 10-byte fixed part and the RDATA.
  wire::Response one(1400);
  REQUIRE(one.add(toms, 33, true, 120, *srv));
  std::size_t afterFirst = one.bytes().size();
  REQUIRE(one.add(toms, 16, true, 4500, *txt));
  CHECK(one.bytes().size() - afterFirst == 2 + 10 + txt->size());
}

TEST_CASE("an mDNS response compresses the names in PTR and SRV data") {
  wire::Labels type = {"_daap", "_tcp", "local"};
  wire::Labels toms = {"Toms Music", "_daap", "_tcp", "local"};
  auto srv = wire::srvRdata(3689, {"hosta", "local"});
  auto ptr = wire::encodeName(toms);
  REQUIRE(srv);
  REQUIRE(ptr);

  wire::Response packet(1400);
  REQUIRE(packet.add(toms, 33, true, 120, *srv));
  REQUIRE(packet.add(type, 12, false, 4500, *ptr));
  REQUIRE(packet.add({"hosta", "local"}, 1, true, 120, {198, 18, 1, 2}));
  auto records = readResponse(packet.bytes());
  REQUIRE(records.size() == 3);
  CHECK(records[0].rdata == *srv);
  // The target's "local" is a pointer into the owner name: "hosta" and a pointer.
  CHECK(records[0].rdlength == 6 + 1 + 5 + 2);
  CHECK(records[1].rdata == *ptr);
  CHECK(records[1].rdlength == 2);  // a pointer to the SRV record's owner name
  CHECK(records[2].owner == wire::Labels{"hosta", "local"});
  // The A record's owner is the SRV target written before it: a pointer.
  CHECK(packet.bytes().size() ==
        12 + (1 + 10 + 1 + 5 + 1 + 4 + 1 + 5 + 1) + 10 + 14 + (2 + 10 + 2) + (2 + 10 + 4));

  // RDATA that is not one uncompressed name goes as it is.
  wire::Bytes odd = {5, 'h', 'o', 's', 't', 'a', 0, 7};  // a byte after the name
  wire::Bytes pointer = {0xc0, 12};
  wire::Response verbatim(1400);
  REQUIRE(verbatim.add(type, 12, false, 10, odd));
  REQUIRE(verbatim.add(type, 12, false, 10, pointer));
  REQUIRE(verbatim.add(type, 33, false, 10, {0, 0, 0}));  // SRV shorter than its fixed part
  const wire::Bytes& v = verbatim.bytes();
  std::size_t at = 12 + 1 + 5 + 1 + 4 + 1 + 5 + 1 + 10;
  CHECK(wire::Bytes(v.begin() + static_cast<long>(at),
                    v.begin() + static_cast<long>(at + odd.size())) == odd);
  CHECK(get16(v, at - 2) == odd.size());
  at += odd.size() + 2 + 10;
  CHECK(get16(v, at - 2) == 2);
  CHECK(v[at] == 0xc0);
  CHECK(v[at + 1] == 12);
  at += 2 + 2 + 10;
  CHECK(get16(v, at - 2) == 3);
  CHECK(at + 3 == v.size());
}

TEST_CASE("an mDNS response keeps to its size limit") {
  wire::Labels name = {"svc", "_x", "_tcp", "local"};
  wire::Bytes rdata(100, 'x');
  wire::Response packet(300);
  int added = 0;
  while (packet.add(name, 16, true, 10, rdata))
    ++added;
  CHECK(added == 2);
  CHECK(packet.bytes().size() <= 300);
  wire::Bytes before = packet.bytes();
  CHECK_FALSE(packet.add(name, 16, true, 10, rdata));
  CHECK(packet.bytes() == before);  // a refused record leaves the message as it was
  CHECK(readResponse(packet.bytes()).size() == 2);
  // ... and its names: a later record under a name first written by the refused one spells it
  // out instead of pointing past the end.
  wire::Labels other = {"other", "_x", "_tcp", "local"};
  CHECK_FALSE(packet.add(other, 16, true, 10, rdata));
  REQUIRE(packet.add(other, 16, true, 10, {1, 'y'}));
  auto records = readResponse(packet.bytes());
  REQUIRE(records.size() == 3);
  CHECK(records[2].owner == other);

  wire::Response small(12);
  CHECK_FALSE(small.add({"a"}, 1, false, 1, {1, 2, 3, 4}));
  CHECK(small.bytes().size() == 12);
}

TEST_CASE("an mDNS response refuses names DNS cannot carry") {
  wire::Response packet(9000);
  CHECK_FALSE(packet.add({std::string(64, 'x'), "local"}, 1, false, 1, {1, 2, 3, 4}));
  CHECK_FALSE(packet.add({"a", "", "local"}, 1, false, 1, {1, 2, 3, 4}));
  CHECK_FALSE(packet.add(wire::Labels(5, std::string(60, 'x')), 1, false, 1, {1, 2, 3, 4}));
  CHECK(packet.count() == 0);
  CHECK(packet.add(wire::Labels{}, 1, false, 1, {1, 2, 3, 4}));  // the root name
  CHECK_FALSE(wire::Response::Owner::of({"a", std::string(64, 'x')}));
  auto owner = wire::Response::Owner::of({"b", "local"});
  REQUIRE(owner);
  CHECK(owner->tails[1] == wire::Bytes{5, 'l', 'o', 'c', 'a', 'l'});
  CHECK(packet.add(*owner, 1, false, 1, {1, 2, 3, 4}));
  CHECK(packet.add(*owner, 1, false, 1, {5, 6, 7, 8}));
  auto records = readResponse(packet.bytes());
  REQUIRE(records.size() == 3);
  CHECK(records[0].owner.empty());
  CHECK(records[2].owner == wire::Labels{"b", "local"});
  CHECK(records[2].rdata == wire::Bytes{5, 6, 7, 8});
}

TEST_CASE("a response reads back: compressed PTR and SRV targets, TXT data, goodbyes") {
  wire::Response r(1500);
  auto ptr = wire::encodeName({"Toms Music", "_daap", "_tcp", "local"});
  REQUIRE(ptr);
  REQUIRE(r.add(wire::Labels{"_daap", "_tcp", "local"}, wire::kTypePtr, false, 4500, *ptr));
  auto srv = wire::srvRdata(3689, {"hosta", "local"});
  REQUIRE(srv);
  REQUIRE(r.add(wire::Labels{"Toms Music", "_daap", "_tcp", "local"}, 33, true, 120, *srv));
  auto bye = wire::encodeName({"Gone", "_daap", "_tcp", "local"});
  REQUIRE(bye);
  REQUIRE(r.add(wire::Labels{"_daap", "_tcp", "local"}, wire::kTypePtr, false, 0, *bye));
  auto txt = wire::txtRdata({"Version=196613", "Machine Name=Tom's"});
  REQUIRE(txt);
  REQUIRE(r.add(wire::Labels{"Toms Music", "_daap", "_tcp", "local"}, wire::kTypeTxt, true, 4500,
                *txt));
  REQUIRE(r.add(wire::Labels{"hosta", "local"}, 1, true, 120, wire::Bytes{198, 18, 0, 1}));

  auto message = wire::parseMessage(r.bytes().data(), r.bytes().size());
  REQUIRE(message);
  CHECK(message->skipped == 0);
  const auto* records = &message->records;
  REQUIRE(records->size() == 4);
  CHECK((*records)[0].name == wire::Labels{"_daap", "_tcp", "local"});
  CHECK((*records)[0].ttl == 4500);
  CHECK((*records)[0].target == wire::Labels{"Toms Music", "_daap", "_tcp", "local"});
  CHECK((*records)[1].type == wire::kTypeSrv);
  CHECK((*records)[1].port == 3689);
  CHECK((*records)[1].target == wire::Labels{"hosta", "local"});
  CHECK((*records)[2].ttl == 0);
  CHECK((*records)[2].target == wire::Labels{"Gone", "_daap", "_tcp", "local"});
  CHECK((*records)[3].type == wire::kTypeTxt);
  CHECK((*records)[3].txt == *txt);
  // Records of other types (the A record) are left out.
  // The PTR and SRV targets were compressed against the names written before them.
  CHECK(r.bytes().size() < 200);
}

TEST_CASE("a query yields no records; a response with questions is rejected, as avahi does") {
  wire::Bytes query{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, '_', 'd', 'a', 'a', 'p', 0, 0, 12, 0, 1};
  auto none = wire::parseMessage(query.data(), query.size());
  REQUIRE(none);
  CHECK(none->records.empty());

  // A unicast response repeats the question: avahi-daemon drops such a response whole.
  wire::Bytes answer{0,    0,   0x84, 0,  0,  1, 0, 1, 0, 0,  0, 0,  // header
                     1,    'x', 0,    0,  12, 0, 1,                  // question x. PTR
                     0xC0, 12,  0,    12, 0,  1, 0, 0, 0, 10, 0, 4,  // x. PTR TTL 10
                     1,    'y', 0xC0, 12};                           // y.x.
  auto one = wire::parseMessage(answer.data(), answer.size());
  REQUIRE_FALSE(one);
  CHECK(one.error() == "response with questions (QDCOUNT 1)");
}

namespace {

const wire::Bytes kResponseHeader{0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0};

// A response of one answer, `record`.
wire::Bytes response(const wire::Bytes& record) {
  wire::Bytes m = kResponseHeader;
  m.insert(m.end(), record.begin(), record.end());
  return m;
}

// Parses `m`, which reads up to a record that stops it: none of its records kept, the first
// `count` left out, the reason containing `what`.
void stops(const wire::Bytes& m, std::size_t count, const std::string& what) {
  auto r = wire::parseMessage(m.data(), m.size());
  REQUIRE_MESSAGE(r, r.error());
  CHECK(r->records.empty());
  CHECK(r->skipped == count);
  CHECK_MESSAGE(r->whySkipped.find(what) != std::string::npos, r->whySkipped);
}

}  // namespace

TEST_CASE("malformed messages are rejected with where it went wrong") {
  auto reject = [](const wire::Bytes& m, const std::string& what) {
    auto r = wire::parseMessage(m.data(), m.size());
    REQUIRE_FALSE(r);
    CHECK_MESSAGE(r.error().find(what) != std::string::npos, r.error());
  };
  reject({0, 0, 0x84, 0}, "shorter than its header");
  // A response with OPCODE 1 (an inverse query), one with RCODE 3 (NXDOMAIN): ignored in mDNS.
  reject({0, 0, 0x8C, 0, 0, 0, 0, 1, 0, 0, 0, 0}, "OPCODE 1 is not 0");
  reject({0, 0, 0x84, 3, 0, 0, 0, 1, 0, 0, 0, 0}, "RCODE 3 is not 0");
  reject(wire::Bytes(wire::kMaxMessage + 1, 0), "exceeds 9000");
  // Without answers (only additional records), or with authority records: avahi-daemon drops it.
  reject({0, 0, 0x84, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 12, 0, 1, 0, 0, 0, 1, 0, 1, 0},
         "without answers (ANCOUNT 0)");
  reject({0, 0, 0x84, 0, 0, 0, 0, 1, 0, 1, 0, 0}, "authority records (NSCOUNT 1)");
}

TEST_CASE("a record that does not read stops the message, as it stops avahi-daemon") {
  // One answer announced, none there.
  stops(kResponseHeader, 1, "runs past the end");
  // A pointer to itself, one pointing forward, one into the header.
  stops(response({0xC0, 12}), 1, "does not point back");
  stops(response({0xC0, 20, 0, 0}), 1, "does not point back");
  stops(response({0xC0, 2}), 1, "does not point back");
  // A label and then a pointer back to it: a loop.
  stops(response({1, 'a', 0xC0, 12}), 1, "does not point back");
  // A label running past the end, and an unknown label type.
  stops(response({9, 'a'}), 1, "label at offset 12");
  stops(response({0x41, 'a'}), 1, "label type");
  // Record data longer than the message.
  stops(response({0, 0, 12, 0, 1, 0, 0, 0, 1, 0, 9, 0}), 1, "record data at offset 23");
  // A name of five 60-byte labels: more than 255 bytes.
  wire::Bytes longName;
  for (int i = 0; i < 5; ++i) {
    longName.push_back(60);
    longName.insert(longName.end(), 60, 'x');
  }
  longName.push_back(0);
  stops(response(longName), 1, "longer than 255 bytes");

  // Labels avahi-daemon cannot unescape (avahi_unescape_label): Latin-1, a NUL, a noncharacter,
  // an overlong form; in an A record's owner, which is not kept, too.
  auto a = [](const wire::Bytes& label) {
    wire::Bytes r{static_cast<std::uint8_t>(label.size())};
    r.insert(r.end(), label.begin(), label.end());
    r.insert(r.end(), {5, 'l', 'o', 'c', 'a', 'l', 0, 0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 1, 2, 3, 4});
    return r;
  };
  stops(response(a({'B', 0xFC, 'r', 'o'})), 1, "not UTF-8 or holds a NUL");
  stops(response(a({'a', 0, 'b'})), 1, "not UTF-8 or holds a NUL");
  stops(response(a({0xEF, 0xBF, 0xBE})), 1, "not UTF-8");        // U+FFFE
  stops(response(a({0xEF, 0xB7, 0x90})), 1, "not UTF-8");        // U+FDD0
  stops(response(a({0xC0, 0xAF})), 1, "not UTF-8");              // '/' written in two bytes
  stops(response(a({0xED, 0xA0, 0x80})), 1, "not UTF-8");        // a surrogate, U+D800
  stops(response(a({0xF0, 0x9F, 0xBF, 0xBF})), 1, "not UTF-8");  // U+1FFFF
  stops(response(a({0xF4, 0x90, 0x80, 0x80})), 1, "not UTF-8");  // past U+10FFFF
  stops(response(a({'a', 0xE2, 0x82})), 1, "not UTF-8");         // cut short
  // "é", and a control character (avahi-daemon writes it "\\001" and takes it).
  for (const wire::Bytes& label : {wire::Bytes{0xC3, 0xA9}, wire::Bytes{'a', 1}}) {
    wire::Bytes m = response(a(label));
    auto good = wire::parseMessage(m.data(), m.size());
    REQUIRE(good);
    CHECK(good->skipped == 0);
  }

  // At most 127 labels and pointers, the closing zero counted: 126 one-byte labels read.
  auto labels = [](int n) {
    wire::Bytes name;
    for (int i = 0; i < n; ++i)
      name.insert(name.end(), {1, 'x'});
    name.insert(name.end(), {0, 0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 1, 2, 3, 4});
    return response(name);
  };
  stops(labels(127), 1, "more than 127 labels and pointers");
  // Pointers count too: an A record's owner of 120 labels, then a PTR record whose owner is 5
  // labels and a pointer to those 120 (127 steps with the closing zero) read; 6 labels do not,
  // though their 126 labels alone, 253 bytes, would.
  auto chained = [&labels](int n) {
    wire::Bytes m = labels(120);
    m[7] = 2;  // two answers
    for (int i = 0; i < n; ++i)
      m.insert(m.end(), {1, 'y'});
    m.insert(m.end(), {0xC0, 12, 0, 12, 0, 1, 0, 0, 0, 120, 0, 2, 0xC0, 12});
    return m;
  };
  wire::Bytes five = chained(5);
  auto fiveRead = wire::parseMessage(five.data(), five.size());
  REQUIRE(fiveRead);
  CHECK(fiveRead->records.size() == 1);
  CHECK(fiveRead->skipped == 0);
  wire::Bytes six = chained(6);
  auto sixRead = wire::parseMessage(six.data(), six.size());
  REQUIRE(sixRead);
  CHECK(sixRead->records.empty());
  CHECK(sixRead->skipped == 1);
  CHECK_MESSAGE(sixRead->whySkipped.find("labels and pointers") != std::string::npos,
                sixRead->whySkipped);
  auto most = labels(126);
  auto read = wire::parseMessage(most.data(), most.size());
  REQUIRE(read);
  CHECK(read->skipped == 0);

  // Data of another size than its type has: A, AAAA; HINFO with one string of its two; TXT
  // whose string runs past the record; a PTR name with a byte after it.
  stops(response({0, 0, 1, 0, 1, 0, 0, 0, 120, 0, 5, 1, 2, 3, 4, 5}), 1,
        "A record at offset 23 has 5");
  stops(response({0, 0, 28, 0, 1, 0, 0, 0, 120, 0, 4, 1, 2, 3, 4}), 1, "AAAA record");
  stops(response({0, 0, 13, 0, 1, 0, 0, 0, 120, 0, 4, 3, 'c', 'p', 'u'}), 1, "not two strings");
  stops(response({0, 0, 16, 0, 1, 0, 0, 0, 120, 0, 3, 3, 'a', 'b'}), 1, "TXT record at offset 23");
  stops(response({0, 0, 12, 0, 1, 0, 0, 0, 120, 0, 4, 1, 'y', 0, 7}), 1, "data after its name");
  stops(response({0, 0, 5, 0, 1, 0, 0, 0, 120, 0, 4, 1, 'y', 0, 7}), 1, "CNAME record at");
  stops(response({0, 0, 33, 0, 1, 0, 0, 0, 120, 0, 10, 0, 0, 0, 0, 0, 1, 1, 'y', 0, 7}), 1,
        "SRV record at offset 23 has data after its name");
}

TEST_CASE("records before one that does not read are kept, those after it are not") {
  // Four answers: x. PTR y.x.; x. PTR "a" whose label leaves the record data; x. SRV; x. PTR z.x.
  wire::Bytes m{0,    0,   0x84, 0,  0,  0, 0,    4,  0, 0,  0,  0,     // header, 4 answers
                1,    'x', 0,    0,  12, 0, 1,    0,  0, 0,  10, 0, 4,  // x. PTR, TTL 10, 4 bytes:
                1,    'y', 0xC0, 12,                                    //   y.x.
                0xC0, 12,  0,    12, 0,  1, 0,    0,  0, 1,  0,  2,     // x. PTR, 2 bytes of data:
                3,    'a',                                              //   a label of 3 in 2 bytes
                0xC0, 12,  0,    33, 0,  1, 0,    0,  0, 1,  0,  8,     // x. SRV, 8 bytes:
                0,    0,   0,    0,  0,  1, 0xC0, 12,                   //   port 1, target x.
                0xC0, 12,  0,    12, 0,  1, 0,    0,  0, 10, 0,  4,     // x. PTR, TTL 10, 4 bytes:
                1,    'z', 0xC0, 12};                                   //   z.x.
  auto message = wire::parseMessage(m.data(), m.size());
  REQUIRE(message);
  REQUIRE(message->records.size() == 1);
  CHECK(message->records[0].target == wire::Labels{"y", "x"});
  CHECK(message->skipped == 3);
  CHECK(message->whySkipped == "PTR record: label at offset 41 runs past the end");

  // An SRV record too short for its target: said why, and where.
  stops(response({0, 0, 33, 0, 1, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 1}), 1,
        "SRV record at offset 23 is too short");
}

TEST_CASE(
    "records of a class other than IN, of other types, or PTR records that flush, are skipped") {
  // x. PTR y.x. in class CH (3), x. A, x. PTR w.x. with the cache-flush bit, the same as a
  // goodbye, x. SRV with the cache-flush bit, then x. PTR z.x.
  wire::Bytes m{0,    0,   0x84, 0,  0,    0, 0,    6,  0, 0,  0,  0,     // header, 6 answers
                1,    'x', 0,    0,  12,   0, 3,    0,  0, 0,  10, 0, 4,  // x. PTR CH, 4 bytes:
                1,    'y', 0xC0, 12,                                      //   y.x.
                0xC0, 12,  0,    1,  0,    1, 0,    0,  0, 10, 0,  4,     // x. A
                198,  18,  0,    1,                                       //   198.18.0.1
                0xC0, 12,  0,    12, 0x80, 1, 0,    0,  0, 10, 0,  4,     // x. PTR, flush, TTL 10:
                1,    'w', 0xC0, 12,                                      //   w.x.
                0xC0, 12,  0,    12, 0x80, 1, 0,    0,  0, 0,  0,  4,     // x. PTR, flush, TTL 0:
                1,    'w', 0xC0, 12,                                      //   w.x.
                0xC0, 12,  0,    33, 0x80, 1, 0,    0,  0, 10, 0,  8,     // x. SRV, flush, 8 bytes:
                0,    0,   0,    0,  0,    9, 0xC0, 12,                   //   port 9, target x.
                0xC0, 12,  0,    12, 0,    1, 0,    0,  0, 10, 0,  4,     // x. PTR IN, 4 bytes:
                1,    'z', 0xC0, 12};                                     //   z.x.
  auto message = wire::parseMessage(m.data(), m.size());
  REQUIRE(message);
  CHECK(message->skipped == 0);
  REQUIRE(message->records.size() == 3);
  CHECK(message->records[0].ttl == 0);
  CHECK(message->records[0].target == wire::Labels{"w", "x"});
  CHECK(message->records[1].type == wire::kTypeSrv);
  CHECK(message->records[1].port == 9);
  CHECK(message->records[2].target == wire::Labels{"z", "x"});
}
