// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "z2z/dht/overlay.hpp"

namespace z2z::bridge {

/// How much a ReadCache keeps, and for how long.
struct ReadCacheLimits {
  /// A key unread this long is dropped.
  std::chrono::steady_clock::duration idle = std::chrono::seconds(60);
  /// A key cached this long is dropped, and read afresh by its next get.
  std::chrono::steady_clock::duration maxAge = std::chrono::minutes(10);
  std::size_t maxKeys = 1024;                 ///< the least recently read key goes first
  std::size_t maxBytes = 8 * 1024 * 1024;     ///< of values, all keys together
  std::size_t maxKeyBytes = 2 * 1024 * 1024;  ///< a key holding more is not kept
};

/// The values of recently read DHT keys, kept current by a listen per key, for the served
/// gateway API: repeated gets of a key (a --gateway client's polls) are answered at once
/// instead of each running a DHT lookup, whose slowest percent wait about a second in
/// OpenDHT. Bounded by ReadCacheLimits. All methods are thread-safe; listen callbacks (DHT
/// thread) reach the cache through weak pointers, so a late one after the cache is gone finds
/// nothing, and they never call the overlay. The cache calls the overlay only without its lock.
class ReadCache : public std::enable_shared_from_this<ReadCache> {
 public:
  using Clock = std::chrono::steady_clock;
  using Token = dht::Overlay::ListenToken;

  static std::shared_ptr<ReadCache> create(const ReadCacheLimits& limits = {});

  /// The values of `key` if it is cached (and marks it read), else nothing.
  std::optional<std::vector<dht::Value>> find(const dht::Key& key, Clock::time_point now);
  /// Caches `values`, just read for `key` from `overlay`, and starts a listen there that keeps
  /// them current; evicts (and cancels the listens of) the least recently read keys to make
  /// room. `overlay` must outlive the listen: cancel what expire(now, true) returns first.
  void remember(dht::Overlay& overlay, const dht::Key& key, const std::vector<dht::Value>& values,
                Clock::time_point now);
  /// A value the caller stored under `key`: shown at once if the key is cached.
  void note(const dht::Key& key, const dht::Value& value);
  /// Drops the keys unread for `idle`, cached for `maxAge` or grown past `maxBytes` (all of
  /// them with `all`); returns their listens, for the caller to cancel.
  std::vector<Token> expire(Clock::time_point now, bool all);

  std::size_t keys() const;   ///< keys cached now
  std::size_t bytes() const;  ///< bytes of values cached now

 private:
  struct Entry {
    std::map<std::uint64_t, dht::Value> values;  // by value id
    std::size_t bytes = 0;
    Token token = 0;  // 0 until the listen is started
    Clock::time_point created;
    Clock::time_point lastRead;
    bool dropped = false;  // no longer answers; goes at the next expire
  };
  using Keys = std::map<dht::Key, std::shared_ptr<Entry>>;

  explicit ReadCache(const ReadCacheLimits& limits) : limits_(limits) {}
  void add(Entry& e, const dht::Value& v);                              // mutex_ held
  Keys::iterator erase(Keys::iterator it, std::vector<Token>& cancel);  // mutex_ held
  void apply(Entry& e, const std::vector<dht::Value>& update, bool expired);

  const ReadCacheLimits limits_;
  mutable std::mutex mutex_;
  Keys keys_;
  std::size_t bytes_ = 0;
};

}  // namespace z2z::bridge
