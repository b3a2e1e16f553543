// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/read_cache.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>

using namespace z2z;
using bridge::ReadCache;
using bridge::ReadCacheLimits;
using namespace std::chrono_literals;

namespace {

// Records listens and their cancellations; delivers reports when told to.
class FakeOverlay final : public dht::Overlay {
 public:
  void put(const dht::Key&, dht::Value, bool, DoneCallback) override {}
  void cancelPut(const dht::Key&, std::uint64_t) override {}
  void get(const dht::Key&, std::function<void(std::vector<dht::Value>)>) override {}
  ListenToken listen(const dht::Key& key, ListenCallback callback) override {
    listens[++last] = {key, std::move(callback)};
    return last;
  }
  void cancelListen(ListenToken token) override {
    cancelled.push_back(token);
    listens.erase(token);
  }
  void bootstrap(const std::vector<config::Endpoint>&) override {}
  dht::OverlayStats stats() const override { return {}; }
  std::vector<config::Endpoint> knownNodes() const override { return {}; }
  std::vector<dht::NodeInfo> routingNodes() const override { return {}; }
  std::vector<config::Endpoint> publicEndpoints() const override { return {}; }
  dht::Key nodeId() const override { return {}; }
  std::uint16_t port() const override { return 0; }
  std::size_t permanentPuts() const override { return 0; }

  // The listen on `key`'s token, 0 if none.
  ListenToken tokenOf(const dht::Key& key) const {
    for (const auto& [t, l] : listens) {
      if (l.first == key)
        return t;
    }
    return 0;
  }
  void report(const dht::Key& key, std::vector<dht::Value> values, bool expired) {
    listens.at(tokenOf(key)).second(std::move(values), expired);
  }

  std::map<ListenToken, std::pair<dht::Key, ListenCallback>> listens;
  std::vector<ListenToken> cancelled;
  ListenToken last = 0;
};

dht::Key key(std::uint8_t n) {
  dht::Key k;
  k.bytes[0] = n;
  return k;
}

dht::Value value(std::uint64_t id, std::size_t size = 10) {
  return dht::Value{id, dht::Bytes(size, static_cast<std::uint8_t>(id))};
}

std::vector<std::uint64_t> ids(const std::optional<std::vector<dht::Value>>& values) {
  std::vector<std::uint64_t> out;
  for (const auto& v : values.value())
    out.push_back(v.id);
  std::sort(out.begin(), out.end());
  return out;
}

const ReadCache::Clock::time_point t0{};

}  // namespace

TEST_CASE("a remembered key answers, and its listen keeps it current") {
  FakeOverlay overlay;
  auto cache = ReadCache::create();
  CHECK_FALSE(cache->find(key(1), t0));
  cache->remember(overlay, key(1), {value(1), value(2)}, t0);
  REQUIRE(overlay.tokenOf(key(1)) != 0);
  CHECK(ids(cache->find(key(1), t0 + 1s)) == std::vector<std::uint64_t>{1, 2});
  overlay.report(key(1), {value(3)}, false);
  CHECK(ids(cache->find(key(1), t0 + 2s)) == std::vector<std::uint64_t>{1, 2, 3});
  overlay.report(key(1), {value(1)}, true);
  CHECK(ids(cache->find(key(1), t0 + 3s)) == std::vector<std::uint64_t>{2, 3});
  CHECK(cache->bytes() == 20);
  cache->note(key(1), value(4));
  cache->note(key(2), value(5));  // not cached: ignored
  CHECK(ids(cache->find(key(1), t0 + 4s)) == std::vector<std::uint64_t>{2, 3, 4});
  CHECK_FALSE(cache->find(key(2), t0 + 4s));
  CHECK(cache->keys() == 1);
}

TEST_CASE("an empty key is remembered too") {
  FakeOverlay overlay;
  auto cache = ReadCache::create();
  cache->remember(overlay, key(1), {}, t0);
  REQUIRE(cache->find(key(1), t0));
  CHECK(cache->find(key(1), t0)->empty());
  overlay.report(key(1), {value(7)}, false);
  CHECK(ids(cache->find(key(1), t0)) == std::vector<std::uint64_t>{7});
}

TEST_CASE("idle and old keys are dropped, with their listens") {
  FakeOverlay overlay;
  auto cache = ReadCache::create(ReadCacheLimits{60s, 600s});
  cache->remember(overlay, key(1), {value(1)}, t0);
  cache->remember(overlay, key(2), {value(2)}, t0);
  auto idle = overlay.tokenOf(key(1));
  // Key 2 is read every 50 s: it stays until it is 600 s old; key 1 goes after 60 s unread.
  std::vector<ReadCache::Token> gone;
  for (int s = 50; s <= 650; s += 50) {
    auto now = t0 + std::chrono::seconds(s);
    cache->find(key(2), now);
    for (auto t : cache->expire(now, false))
      gone.push_back(t);
    if (s == 100)
      CHECK(gone == std::vector<ReadCache::Token>{idle});
  }
  CHECK(gone.size() == 2);
  CHECK(cache->keys() == 0);
  CHECK(cache->bytes() == 0);
  CHECK_FALSE(cache->find(key(2), t0 + 650s));
}

TEST_CASE("at most maxKeys keys: the least recently read goes, its listen cancelled") {
  FakeOverlay overlay;
  ReadCacheLimits limits;
  limits.maxKeys = 2;
  auto cache = ReadCache::create(limits);
  cache->remember(overlay, key(1), {value(1)}, t0);
  cache->remember(overlay, key(2), {value(2)}, t0 + 1s);
  auto first = overlay.tokenOf(key(1));
  cache->find(key(2), t0 + 2s);
  cache->remember(overlay, key(3), {value(3)}, t0 + 3s);
  CHECK(cache->keys() == 2);
  CHECK_FALSE(cache->find(key(1), t0 + 3s));
  CHECK(overlay.cancelled == std::vector<ReadCache::Token>{first});
  CHECK(overlay.listens.size() == 2);
}

TEST_CASE("at most maxBytes: a key grown past it stops answering, then goes") {
  FakeOverlay overlay;
  ReadCacheLimits limits;
  limits.maxBytes = 100;
  limits.maxKeyBytes = 80;
  auto cache = ReadCache::create(limits);
  cache->remember(overlay, key(9), {value(1, 81)}, t0);  // over maxKeyBytes: not kept
  CHECK(cache->keys() == 0);
  CHECK(overlay.listens.empty());
  cache->remember(overlay, key(1), {value(1, 40)}, t0);
  cache->remember(overlay, key(2), {value(2, 40)}, t0 + 1s);
  cache->remember(overlay, key(3), {value(3, 40)}, t0 + 2s);  // evicts key 1 for room
  CHECK(cache->keys() == 2);
  CHECK(cache->bytes() == 80);
  overlay.report(key(2), {value(4, 30)}, false);  // 110 bytes in all: key 2 stops answering
  CHECK_FALSE(cache->find(key(2), t0 + 3s));
  CHECK(cache->bytes() == 40);
  auto token = overlay.tokenOf(key(2));
  CHECK(cache->expire(t0 + 3s, false) == std::vector<ReadCache::Token>{token});
  CHECK(ids(cache->find(key(3), t0 + 3s)) == std::vector<std::uint64_t>{3});
}

TEST_CASE("a listen report after the cache is gone does nothing") {
  FakeOverlay overlay;
  auto cache = ReadCache::create();
  cache->remember(overlay, key(1), {value(1)}, t0);
  cache.reset();
  overlay.report(key(1), {value(2)}, false);
  CHECK(overlay.listens.size() == 1);
}
