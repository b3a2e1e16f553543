// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/read_cache.hpp"

#include <algorithm>

namespace z2z::bridge {

std::shared_ptr<ReadCache> ReadCache::create(const ReadCacheLimits& limits) {
  return std::shared_ptr<ReadCache>(new ReadCache(limits));
}

std::optional<std::vector<dht::Value>> ReadCache::find(const dht::Key& key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = keys_.find(key);
  if (it == keys_.end() || it->second->dropped || now - it->second->created > limits_.maxAge)
    return std::nullopt;
  it->second->lastRead = now;
  std::vector<dht::Value> values;
  values.reserve(it->second->values.size());
  for (const auto& [id, v] : it->second->values)
    values.push_back(v);
  return values;
}

void ReadCache::remember(dht::Overlay& overlay, const dht::Key& key,
                         const std::vector<dht::Value>& values, Clock::time_point now) {
  std::vector<Token> cancel;
  auto entry = std::make_shared<Entry>();
  {
    std::lock_guard lock(mutex_);
    std::size_t bytes = 0;
    for (const dht::Value& v : values)
      bytes += v.data.size();
    if (bytes > limits_.maxKeyBytes || bytes > limits_.maxBytes)
      return;  // a key this large is read afresh each time
    if (auto it = keys_.find(key); it != keys_.end())
      erase(it, cancel);
    // Bounded: every round erases a key.
    while (!keys_.empty() &&
           (keys_.size() >= limits_.maxKeys || bytes_ + bytes > limits_.maxBytes)) {
      auto oldest = std::min_element(keys_.begin(), keys_.end(), [](const auto& a, const auto& b) {
        return a.second->lastRead < b.second->lastRead;
      });
      erase(oldest, cancel);
    }
    entry->created = entry->lastRead = now;
    for (const dht::Value& v : values)
      add(*entry, v);
    keys_[key] = entry;
  }
  for (Token t : cancel)
    overlay.cancelListen(t);
  Token token = overlay.listen(key, [cache = weak_from_this(), weak = std::weak_ptr<Entry>(entry)](
                                        std::vector<dht::Value> update, bool expired) {
    auto c = cache.lock();
    auto e = weak.lock();
    if (c && e)
      c->apply(*e, update, expired);
  });
  bool kept = false;
  {
    std::lock_guard lock(mutex_);
    auto it = keys_.find(key);
    kept = it != keys_.end() && it->second == entry;
    if (kept)
      entry->token = token;
  }
  if (!kept)
    overlay.cancelListen(token);  // dropped meanwhile
}

void ReadCache::note(const dht::Key& key, const dht::Value& value) {
  std::lock_guard lock(mutex_);
  auto it = keys_.find(key);
  if (it != keys_.end() && !it->second->dropped)
    add(*it->second, value);
}

std::vector<ReadCache::Token> ReadCache::expire(Clock::time_point now, bool all) {
  std::vector<Token> cancel;
  std::lock_guard lock(mutex_);
  for (auto it = keys_.begin(); it != keys_.end();) {
    const Entry& e = *it->second;
    if (all || e.dropped || now - e.lastRead > limits_.idle || now - e.created > limits_.maxAge)
      it = erase(it, cancel);
    else
      ++it;
  }
  return cancel;
}

std::size_t ReadCache::keys() const {
  std::lock_guard lock(mutex_);
  return keys_.size();
}

std::size_t ReadCache::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

void ReadCache::add(Entry& e, const dht::Value& v) {
  auto [it, fresh] = e.values.try_emplace(v.id, v);
  if (!fresh) {
    e.bytes -= it->second.data.size();
    bytes_ -= it->second.data.size();
    it->second = v;
  }
  e.bytes += v.data.size();
  bytes_ += v.data.size();
}

ReadCache::Keys::iterator ReadCache::erase(Keys::iterator it, std::vector<Token>& cancel) {
  bytes_ -= it->second->bytes;
  if (it->second->token != 0)
    cancel.push_back(it->second->token);
  it->second->dropped = true;
  it->second->values.clear();
  it->second->bytes = 0;
  return keys_.erase(it);
}

void ReadCache::apply(Entry& e, const std::vector<dht::Value>& update, bool expired) {
  std::lock_guard lock(mutex_);
  if (e.dropped)
    return;
  for (const dht::Value& v : update) {
    auto it = e.values.find(v.id);
    if (expired && it != e.values.end()) {
      e.bytes -= it->second.data.size();
      bytes_ -= it->second.data.size();
      e.values.erase(it);
    } else if (!expired) {
      add(e, v);
    }
  }
  // Over the limit: the key stops answering now; expire() drops it and cancels its listen.
  if (bytes_ > limits_.maxBytes || e.bytes > limits_.maxKeyBytes) {
    bytes_ -= e.bytes;
    e.values.clear();
    e.bytes = 0;
    e.dropped = true;
  }
}

}  // namespace z2z::bridge
