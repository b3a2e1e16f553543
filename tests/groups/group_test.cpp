// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/groups/group.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "z2z/groups/crypto.hpp"

using namespace z2z::groups;

namespace {

std::string tempPath(const char* name) {
  std::string dir = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
  return dir + "/z2z-groups-test-" + std::to_string(::getpid()) + "-" + name;
}

std::string writeFile(const char* name, const std::string& text, mode_t mode) {
  std::string path = tempPath(name);
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
  return path;
}

Document info(const Identity& who, std::uint64_t version, std::uint64_t expires,
              std::vector<std::string> keys) {
  Document d;
  d.name = "g";
  d.version = version;
  d.expires = expires;
  d.endpoints = {{"198.19.0.1", 4223}};
  d.memberKeys = std::move(keys);
  signDocument(d, who);
  return d;
}

Document member(const Identity& who, std::uint64_t since, std::uint64_t version,
                std::uint64_t expires, const char* address) {
  Document d;
  d.type = DocType::Membership;
  d.name = "g";
  d.since = since;
  d.version = version;
  d.expires = expires;
  d.endpoints = {{address, 4223}};
  signDocument(d, who);
  return d;
}

}  // namespace

TEST_CASE("secret files: format and mode 0600") {
  std::string good = writeFile(
      "good", "# comment\nlocator 0123456789abcdef0\nkey  fedcba9876543210fedcba\n", 0600);
  auto s = loadSecretFile(good);
  REQUIRE_MESSAGE(s.ok(), s.error());
  CHECK(s->locator == "0123456789abcdef0");
  CHECK(s->key == "fedcba9876543210fedcba");
  std::string open =
      writeFile("open", "locator 0123456789abcdef0\nkey fedcba9876543210fedcba\n", 0644);
  auto o = loadSecretFile(open);
  REQUIRE_FALSE(o.ok());
  CHECK(o.error().find("mode 0644") != std::string::npos);
  CHECK(o.error().find("fedcba") == std::string::npos);  // never the secret itself
  std::string shortKey = writeFile("short", "locator 0123456789abcdef0\nkey short\n", 0600);
  CHECK(loadSecretFile(shortKey).error().find(":2: 'key' needs at least 16 bytes") !=
        std::string::npos);
  std::string repeated =
      writeFile("repeated", "locator 0123456789abcdef0\nkey secret-secret-secret\n", 0600);
  CHECK(loadSecretFile(repeated).error().find(":2: 'key' has only 6 different characters") !=
        std::string::npos);
  std::string missing = writeFile("missing", "locator 0123456789abcdef0\n", 0600);
  CHECK_FALSE(loadSecretFile(missing).ok());
  std::string unknown = writeFile("unknown", "password 0123456789abcdef0\n", 0600);
  CHECK(loadSecretFile(unknown).error().find("unknown field 'password'") != std::string::npos);
  CHECK_FALSE(loadSecretFile(tempPath("absent")).ok());
  // A symbolic link is not followed (the file checked must be the file read).
  std::string link = tempPath("link");
  REQUIRE(::symlink(good.c_str(), link.c_str()) == 0);
  auto l = loadSecretFile(link);
  REQUIRE_FALSE(l.ok());
  CHECK(l.error().find("symbolic link") != std::string::npos);
  std::string huge = writeFile("huge", std::string(5000, '#') + "\n", 0600);
  CHECK(loadSecretFile(huge).error().find("over 4096 bytes") != std::string::npos);
  // A FIFO must not hold the caller in open() waiting for a writer.
  std::string fifo = tempPath("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(loadSecretFile(fifo).error().find("not a regular file") != std::string::npos);
  for (const auto& p : {good, open, shortKey, repeated, missing, unknown, link, huge, fifo})
    ::unlink(p.c_str());
}

TEST_CASE("key derivation separates groups and hides private ones") {
  Secret a{"locator-aaaaaaaaaaaa", "key-aaaaaaaaaaaaaaaa"};
  Secret b{"locator-aaaaaaaaaaaa", "key-bbbbbbbbbbbbbbbb"};
  GroupKeys pub = GroupKeys::derive("A", nullptr);
  GroupKeys pa = GroupKeys::derive("A", &a);
  GroupKeys pb = GroupKeys::derive("A", &b);
  CHECK(pub.infoKeyName == "z2z:v1:group:A");
  CHECK(pub.network != 0);
  CHECK(pub.network != GroupKeys::derive("B", nullptr).network);
  CHECK(pa.isPrivate);
  CHECK(pa.infoKeyName.find("A") == std::string::npos);
  CHECK(pa.infoKeyName != pub.infoKeyName);
  CHECK(pa.network != pub.network);
  // Same locator, different key: found at the same place, but cannot be read.
  CHECK(pa.infoKeyName == pb.infoKeyName);
  CHECK(pa.aeadKey != pb.aeadKey);
  CHECK(pa.aeadKey.size() == 32);
  CHECK(GroupKeys::aliasKeyName("A", &a) == pa.infoKeyName);
  // An alias document is sealed by its group and opened by a gateway that knows only the alias.
  CHECK(GroupKeys::derive("other", &a).aeadKey == pa.aeadKey);
}

TEST_CASE("group overlays' network ids depend on the main overlay's") {
  Secret a{"locator-aaaaaaaaaaaa", "key-aaaaaaaaaaaaaaaa"};
  auto first4 = [](const std::string& digest) {
    std::uint32_t n = 0;
    for (int i = 0; i < 4; ++i)
      n = n << 8 | static_cast<unsigned char>(digest[static_cast<std::size_t>(i)]);
    return n;
  };
  // Main network 0 (the default): the ids of old, so that groups of older gateways still meet.
  GroupKeys pub = GroupKeys::derive("A", nullptr);
  CHECK(pub.network == first4(sha256("z2z:v1:network:A")));
  CHECK(GroupKeys::derive("A", nullptr, 0).network == pub.network);
  CHECK(GroupKeys::derive("A", &a, 0).network == GroupKeys::derive("A", &a).network);
  // Another main network: other group overlays, the same documents' key names.
  GroupKeys pub7 = GroupKeys::derive("A", nullptr, 7);
  CHECK(pub7.network == first4(sha256("z2z:v1:network:7:A")));
  CHECK(pub7.network != pub.network);
  CHECK(pub7.network != GroupKeys::derive("A", nullptr, 8).network);
  CHECK(pub7.infoKeyName == pub.infoKeyName);
  CHECK(pub7.recordsKeyName == pub.recordsKeyName);
  GroupKeys pa7 = GroupKeys::derive("A", &a, 7);
  CHECK(pa7.network != GroupKeys::derive("A", &a).network);
  CHECK(pa7.infoKeyName == GroupKeys::derive("A", &a).infoKeyName);
  CHECK(pa7.aeadKey == GroupKeys::derive("A", &a).aeadKey);
  // Never the main overlay's id, nor 0.
  for (std::uint32_t main : {0U, 1U, 7U, pub.network, 0xffffffffU}) {
    CAPTURE(main);
    CHECK(GroupKeys::derive("A", nullptr, main).network != main);
    CHECK(GroupKeys::derive("A", &a, main).network != main);
    CHECK(GroupKeys::derive("A", nullptr, main).network != 0);
  }
}

TEST_CASE("sealed values authenticate, bind to their key and reject tampering") {
  Secret a{"locator-aaaaaaaaaaaa", "key-aaaaaaaaaaaaaaaa"};
  Secret b{"locator-aaaaaaaaaaaa", "key-bbbbbbbbbbbbbbbb"};
  ValueCodec ca(GroupKeys::derive("A", &a).aeadKey), cb(GroupKeys::derive("A", &b).aeadKey);
  std::string v = ca.encode("hello", "k1");
  CHECK(v.starts_with(kSealedHeader));
  CHECK(v.find("hello") == std::string::npos);
  CHECK(*ca.decode(v, "k1") == "hello");
  CHECK_FALSE(ca.decode(v, "k2").ok());
  CHECK_FALSE(cb.decode(v, "k1").ok());
  std::string t = v;
  t.back() = static_cast<char>(t.back() ^ 1);
  CHECK(ca.decode(t, "k1").error().find("authentication failed") != std::string::npos);
  CHECK_FALSE(ca.decode("hello", "k1").ok());
  CHECK_FALSE(ValueCodec().decode(v, "k1").ok());
  CHECK(*ValueCodec().decode("hello", "k1") == "hello");
}

TEST_CASE("readDocument checks signatures") {
  Identity id = Identity::generate();
  Document d = info(id, 5, 100, {id.publicKey()});
  std::string text = encodeDocument(d);
  CHECK(readDocument(ValueCodec(), text, "k").ok());
  auto at = text.find("4223");
  text.replace(at, 4, "4224");
  auto r = readDocument(ValueCodec(), text, "k");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("bad signature") != std::string::npos);
}

TEST_CASE("group-info trust: replays, expiry, chain of writers") {
  Identity m1 = Identity::generate(), m2 = Identity::generate(), outsider = Identity::generate();
  InfoTracker t(true);
  CHECK(t.offer(info(m1, 10, 100, {m1.publicKey()}), 50) == Verdict::Accepted);
  CHECK(t.offer(info(m1, 10, 100, {m1.publicKey()}), 50) == Verdict::Known);
  CHECK(t.offer(info(m1, 9, 100, {m1.publicKey()}), 50) == Verdict::Replayed);
  CHECK(t.offer(info(outsider, 20, 100, {outsider.publicKey()}), 50) == Verdict::Untrusted);
  CHECK(t.offer(info(m1, 11, 40, {m1.publicKey()}), 50) == Verdict::Expired);
  CHECK(t.offer(info(m1, 12, 100, {m1.publicKey(), m2.publicKey()}), 50) == Verdict::Accepted);
  CHECK(t.offer(info(m2, 13, 100, {m2.publicKey()}), 50) == Verdict::Accepted);
  CHECK(t.current(50)->version == 13);
  CHECK(t.current(100) == nullptr);
  // After expiry anyone is trusted again (first contact), but never an older document.
  CHECK(t.offer(info(outsider, 12, 300, {outsider.publicKey()}), 150) == Verdict::Replayed);
  CHECK(t.offer(info(outsider, 30, 300, {outsider.publicKey()}), 150) == Verdict::Accepted);
  InfoTracker priv(false);
  CHECK(priv.offer(info(m1, 10, 100, {m1.publicKey()}), 50) == Verdict::Accepted);
  CHECK(priv.offer(info(outsider, 20, 100, {outsider.publicKey()}), 50) == Verdict::Accepted);
}

TEST_CASE("documents dated beyond clock skew are refused and lock nothing") {
  Identity m1 = Identity::generate(), outsider = Identity::generate();
  const std::uint64_t now = 1'800'000'000;  // seconds
  const std::uint64_t us = now * 1'000'000;
  InfoTracker t(false);
  CHECK(t.offer(info(m1, us, now + 120, {m1.publicKey()}), now) == Verdict::Accepted);
  // A version near 2^64, or an expiry years ahead: refused, so later documents still count.
  CHECK(t.offer(info(outsider, ~std::uint64_t{0}, now + 120, {outsider.publicKey()}), now) ==
        Verdict::Future);
  CHECK(t.offer(info(outsider, us + 1, now + 10 * kMaxLease, {outsider.publicKey()}), now) ==
        Verdict::Future);
  CHECK(t.offer(info(m1, us + 2, now + 120, {m1.publicKey()}), now) == Verdict::Accepted);
  // Within the skew is fine (a clock a few minutes ahead).
  CHECK(t.offer(info(m1, us + (kMaxClockSkew - 10) * 1'000'000, now + kMaxLease, {m1.publicKey()}),
                now) == Verdict::Accepted);
  MemberView v;
  CHECK_FALSE(v.offer(member(outsider, 1, ~std::uint64_t{0}, now + 120, "198.19.0.9"), now));
  CHECK_FALSE(v.offer(member(outsider, 1, us, now + 10 * kMaxLease, "198.19.0.9"), now));
  CHECK(v.offer(member(m1, us, us, now + 120, "198.19.0.1"), now));
  CHECK(v.maintainer(now) == m1.publicKey());
}

TEST_CASE("members: the oldest live member maintains, the next takes over") {
  Identity a = Identity::generate(), b = Identity::generate(), c = Identity::generate();
  MemberView v;
  CHECK(v.maintainer(0).empty());
  CHECK(v.offer(member(b, 20, 21, 100, "198.19.0.2"), 50));
  CHECK(v.offer(member(a, 10, 11, 100, "198.19.0.1"), 50));
  CHECK(v.offer(member(c, 30, 31, 200, "198.19.0.3"), 50));
  CHECK_FALSE(v.offer(member(a, 10, 11, 100, "198.19.0.1"), 50));
  CHECK(v.maintainer(50) == a.publicKey());
  CHECK(v.endpoints(50).size() == 3);
  CHECK(v.endpoints(50).front().address == "198.19.0.1");
  CHECK(v.keys(50).size() == 3);
  Document left = member(a, 10, 12, 100, "198.19.0.1");
  left.status = DocStatus::Removed;
  left.endpoints.clear();
  signDocument(left, a);
  CHECK(v.offer(left, 50));
  CHECK(v.maintainer(50) == b.publicKey());   // a left
  CHECK(v.maintainer(150) == c.publicKey());  // b's membership expired (crash)
  CHECK(v.live(250).empty());
}

TEST_CASE("identities persist in the state directory with safe modes") {
  std::string dir = tempPath("state");
  std::string pub;
  {
    Identity id = Identity::loadOrCreate(dir);
    pub = id.publicKey();
    CHECK(verifySignature(pub, "m", id.sign("m")));
    CHECK_FALSE(verifySignature(pub, "n", id.sign("m")));
  }
  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat((dir + "/identity.pem").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(Identity::loadOrCreate(dir).publicKey() == pub);
  ::chmod((dir + "/identity.pem").c_str(), 0644);
  CHECK_THROWS_AS(Identity::loadOrCreate(dir), z2z::Error);
  ::unlink((dir + "/identity.pem").c_str());
  ::rmdir(dir.c_str());
}
