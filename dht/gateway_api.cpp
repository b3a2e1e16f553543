// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/dht/gateway_api.hpp"

#include <opendht/infohash.h>
#include <openssl/evp.h>

#include <algorithm>
#include <set>
#include <tuple>

namespace z2z::dht::gateway {
namespace {

constexpr std::uint8_t kChunkMagic[4] = {'z', '2', 'z', 'd'};
constexpr std::uint8_t kStoredMagic[4] = {'z', '2', 'z', 'g'};
constexpr std::uint8_t kStoredVersion = 1;
constexpr std::uint8_t kKindPut = 1;
constexpr std::uint8_t kKindRm = 2;

void putU64(Bytes& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(v >> shift));
}

std::uint64_t getU64(std::span<const std::uint8_t> in) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i)
    v = (v << 8) | in[i];
  return v;
}

bool hasPrefix(std::span<const std::uint8_t> bytes, const std::uint8_t (&magic)[4]) {
  return bytes.size() >= 4 && std::equal(magic, magic + 4, bytes.begin());
}

// A cursor over untrusted bytes: every read checks the length.
struct Reader {
  std::span<const std::uint8_t> in;
  bool ok = true;
  std::span<const std::uint8_t> take(std::size_t n) {
    if (!ok || in.size() < n) {
      ok = false;
      return {};
    }
    auto out = in.first(n);
    in = in.subspan(n);
    return out;
  }
  std::uint8_t byte() {
    auto b = take(1);
    return ok ? b[0] : 0;
  }
  Bytes lengthPrefixed() {
    std::size_t n = byte();
    auto b = take(n);
    return Bytes(b.begin(), b.end());
  }
};

void putLengthPrefixed(Bytes& out, std::span<const std::uint8_t> bytes) {
  out.push_back(static_cast<std::uint8_t>(bytes.size()));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

std::span<const std::uint8_t> asBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Puts that are live and not removed, merged by (value, hash type, secret hash).
std::vector<StoredPut> livePuts(const std::vector<Value>& overlayValues, std::int64_t now) {
  std::vector<StoredPut> puts;
  std::vector<StoredRm> rms;
  for (const Value& v : overlayValues) {
    auto s = decodeStored(v.data);
    if (!s)
      continue;
    if (auto* p = std::get_if<StoredPut>(&*s)) {
      if (p->expires > now)
        puts.push_back(std::move(*p));
    } else if (auto* r = std::get_if<StoredRm>(&*s)) {
      if (r->expires > now)
        rms.push_back(std::move(*r));
    }
  }
  std::set<std::pair<Bytes, Bytes>> removed;  // (value hash, secret hash)
  for (const StoredRm& r : rms)
    removed.insert({r.valueHash, sha1(r.secret)});
  std::map<std::tuple<Bytes, std::string, Bytes>, StoredPut> merged;
  for (StoredPut& p : puts) {
    if (!p.secretHash.empty() && removed.count({sha1(p.value), p.secretHash}))
      continue;
    auto k = std::make_tuple(p.value, p.hashType, p.secretHash);
    auto it = merged.find(k);
    if (it == merged.end()) {
      merged.emplace(std::move(k), std::move(p));
    } else {
      it->second.expires = std::max(it->second.expires, p.expires);
    }
  }
  std::vector<StoredPut> out;
  for (auto& [k, p] : merged)
    out.push_back(std::move(p));
  return out;
}

}  // namespace

Bytes sha1(std::span<const std::uint8_t> data) {
  auto h = ::dht::InfoHash::get(data.data(), data.size());
  return Bytes(h.begin(), h.end());
}

Status checkXmlrpcText(std::string_view xml) {
  if (xml.find('\0') != std::string_view::npos)
    return fail("a NUL byte: XML-RPC here is UTF-8");
  std::string_view rest = xml;
  if (rest.starts_with("\xEF\xBB\xBF"))
    rest.remove_prefix(3);
  std::size_t start = rest.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos || rest[start] != '<')
    return fail("not XML in UTF-8: it must begin with '<'");
  if (xml.find("<!DOCTYPE") != std::string_view::npos ||
      xml.find("<!ENTITY") != std::string_view::npos) {
    return fail("a DTD (<!DOCTYPE or <!ENTITY) is not XML-RPC");
  }
  return {};
}

std::int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- validation
// ----------------------------------------------------------------------------------

z2z::Status validateKey(std::span<const std::uint8_t> key) {
  if (key.size() != kKeySize) {
    return fail("key: " + std::to_string(key.size()) + " bytes, must be 20 (a SHA-1 digest)");
  }
  return {};
}

z2z::Status validateValue(std::span<const std::uint8_t> value) {
  if (value.size() > kMaxValueSize) {
    return fail("value: " + std::to_string(value.size()) + " bytes, at most 1024 allowed");
  }
  return {};
}

z2z::Status validateTtl(std::int64_t ttl) {
  if (ttl <= 0 || ttl > kMaxTtl) {
    return fail("ttl: " + std::to_string(ttl) + " s, must be 1 to 604800 (one week)");
  }
  return {};
}

z2z::Status validateHashType(std::string_view hashType) {
  if (hashType != kHashType)
    return fail("hash_type: '" + std::string(hashType) + "', only 'SHA'");
  return {};
}

z2z::Status validateSecretHash(std::span<const std::uint8_t> secretHash) {
  if (secretHash.size() != 20) {
    return fail("secret_hash: " + std::to_string(secretHash.size()) +
                " bytes, must be 20 (SHA-1 of the secret)");
  }
  return {};
}

z2z::Status validateSecret(std::span<const std::uint8_t> secret) {
  if (secret.size() > kMaxSecretSize) {
    return fail("secret: " + std::to_string(secret.size()) + " bytes, at most 40 allowed");
  }
  return {};
}

z2z::Status validateApplication(std::string_view application) {
  if (application.size() > kMaxApplicationSize) {
    return fail("application: " + std::to_string(application.size()) +
                " bytes, at most 255 allowed");
  }
  return {};
}

z2z::Status validateMaxvals(std::int64_t maxvals) {
  if (maxvals <= 0)
    return fail("maxvals: " + std::to_string(maxvals) + ", must be positive");
  return {};
}

z2z::Status validatePlacemark(std::span<const std::uint8_t> placemark) {
  if (!placemark.empty() && placemark.size() != 20) {
    return fail("placemark: " + std::to_string(placemark.size()) +
                " bytes, must be empty or one a get returned");
  }
  return {};
}

// ---- chunks
// --------------------------------------------------------------------------------------

namespace {

// A chunk's link: the first 8 bytes of SHA-256(payload | next).
std::uint64_t chunkLink(std::span<const std::uint8_t> payload, std::uint64_t next) {
  Bytes in(payload.begin(), payload.end());
  putU64(in, next);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(in.data(), in.size(), md, &len, EVP_sha256(), nullptr) != 1 || len < 8)
    throw std::bad_alloc();  // only an allocation can fail here
  return getU64(std::span<const std::uint8_t>(md, 8));
}

// The value's bytes in chunk payloads (at least one, maybe empty).
std::vector<std::span<const std::uint8_t>> payloads(std::span<const std::uint8_t> data) {
  std::vector<std::span<const std::uint8_t>> out;
  for (std::size_t at = 0; at == 0 || at < data.size(); at += kChunkPayloadSize)
    out.push_back(data.subspan(at, std::min(kChunkPayloadSize, data.size() - at)));
  return out;
}

// The links of the chunks, first to last: each over its payload and the next one's link.
std::vector<std::uint64_t> chainLinks(const std::vector<std::span<const std::uint8_t>>& parts) {
  std::vector<std::uint64_t> links(parts.size());
  std::uint64_t next = 0;
  for (std::size_t i = parts.size(); i-- > 0;)
    next = links[i] = chunkLink(parts[i], next);
  return links;
}

}  // namespace

std::uint64_t chunkHead(std::span<const std::uint8_t> data) {
  return chainLinks(payloads(data)).front();
}

std::vector<Bytes> splitValue(const Value& value) {
  auto parts = payloads(value.data);
  if (parts.size() > kMaxChunks) {
    throw Error("a value of " + std::to_string(value.data.size()) +
                " bytes does not fit the gateway API's 64 chunks");
  }
  std::vector<std::uint64_t> links = chainLinks(parts);
  std::vector<Bytes> chunks;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    Bytes c(kChunkMagic, kChunkMagic + 4);
    putU64(c, value.id);
    putU64(c, links.front());
    putU64(c, i + 1 < links.size() ? links[i + 1] : 0);
    c.push_back(static_cast<std::uint8_t>(i));
    c.push_back(static_cast<std::uint8_t>(parts.size()));
    c.insert(c.end(), parts[i].begin(), parts[i].end());
    chunks.push_back(std::move(c));
  }
  return chunks;
}

Result<Chunk> decodeChunk(std::span<const std::uint8_t> bytes) {
  if (!hasPrefix(bytes, kChunkMagic))
    return fail("not a z2z chunk");
  if (bytes.size() < kChunkHeaderSize)
    return fail("truncated chunk header");
  if (bytes.size() > kMaxValueSize)
    return fail("chunk larger than 1024 bytes");
  Chunk c;
  c.id = getU64(bytes.subspan(4));
  c.head = getU64(bytes.subspan(12));
  c.next = getU64(bytes.subspan(20));
  c.index = bytes[28];
  c.count = bytes[29];
  if (c.count == 0 || c.count > kMaxChunks || c.index >= c.count) {
    return fail("chunk " + std::to_string(c.index) + " of " + std::to_string(c.count));
  }
  c.payload.assign(bytes.begin() + kChunkHeaderSize, bytes.end());
  return c;
}

Assembly assemble(const std::vector<Bytes>& apiValues) {
  Assembly out;
  struct Linked {
    Chunk chunk;
    std::uint64_t link;
  };
  // By id, head and count; then by index, every chunk seen there.
  std::map<std::tuple<std::uint64_t, std::uint64_t, unsigned>, std::vector<std::vector<Linked>>>
      sets;
  for (const Bytes& b : apiValues) {
    auto c = decodeChunk(b);
    if (!c) {
      ++out.foreign;
      continue;
    }
    // Only as splitValue cuts a value: full payloads but the last, which is empty only when
    // alone. So one value has one head.
    bool last = c->index + 1 == c->count;
    bool cut =
        last ? (!c->payload.empty() || c->count == 1) : c->payload.size() == kChunkPayloadSize;
    if (!cut) {
      ++out.foreign;
      continue;
    }
    auto& set = sets[{c->id, c->head, c->count}];
    if (set.size() <= c->index)
      set.resize(c->index + 1);
    std::uint64_t link = chunkLink(c->payload, c->next);
    set[c->index].push_back(Linked{std::move(*c), link});
  }
  for (const auto& [key, set] : sets) {
    const auto& [id, head, count] = key;
    Value v{id, {}};
    std::uint64_t expected = head;
    bool complete = set.size() == count;
    for (std::size_t i = 0; complete && i < set.size(); ++i) {
      const auto& candidates = set[i];
      auto it = std::find_if(candidates.begin(), candidates.end(),
                             [&](const Linked& l) { return l.link == expected; });
      if (it == candidates.end()) {
        complete = false;
        break;
      }
      v.data.insert(v.data.end(), it->chunk.payload.begin(), it->chunk.payload.end());
      expected = it->chunk.next;
    }
    if (!complete || expected != 0) {
      ++out.incomplete;
      continue;
    }
    out.values.push_back(std::move(v));
  }
  return out;
}

ValueDiff::Change ValueDiff::update(const std::vector<Value>& current) {
  Change change;
  std::set<std::pair<std::uint64_t, Bytes>> next;
  for (const Value& v : current)
    next.emplace(v.id, v.data);
  for (const auto& [id, data] : known_) {
    if (!next.contains({id, data}))
      change.gone.push_back(Value{id, data});
  }
  for (const auto& [id, data] : next) {
    if (!known_.contains({id, data}))
      change.added.push_back(Value{id, data});
  }
  known_ = std::move(next);
  return change;
}

// ---- stored form
// ---------------------------------------------------------------------------------

bool isStored(std::span<const std::uint8_t> bytes) {
  return hasPrefix(bytes, kStoredMagic);
}

Bytes encodeStored(const Stored& stored) {
  Bytes out(kStoredMagic, kStoredMagic + 4);
  out.push_back(kStoredVersion);
  if (auto* p = std::get_if<StoredPut>(&stored)) {
    out.push_back(kKindPut);
    putU64(out, static_cast<std::uint64_t>(p->expires));
    putLengthPrefixed(out, asBytes(p->hashType));
    putLengthPrefixed(out, p->secretHash);
    out.insert(out.end(), p->value.begin(), p->value.end());
  } else {
    const auto& r = std::get<StoredRm>(stored);
    out.push_back(kKindRm);
    putU64(out, static_cast<std::uint64_t>(r.expires));
    out.insert(out.end(), r.valueHash.begin(), r.valueHash.end());
    putLengthPrefixed(out, asBytes(r.hashType));
    putLengthPrefixed(out, r.secret);
  }
  return out;
}

Result<Stored> decodeStored(std::span<const std::uint8_t> bytes) {
  if (!isStored(bytes))
    return fail("not a stored gateway API value");
  Reader in{bytes.subspan(4)};
  std::uint8_t version = in.byte();
  std::uint8_t kind = in.byte();
  auto expiresBytes = in.take(8);
  if (!in.ok)
    return fail("truncated stored value");
  if (version != kStoredVersion)
    return fail("stored value version " + std::to_string(version));
  auto expires = static_cast<std::int64_t>(getU64(expiresBytes));
  if (kind == kKindPut) {
    StoredPut p;
    p.expires = expires;
    Bytes type = in.lengthPrefixed();
    p.secretHash = in.lengthPrefixed();
    if (!in.ok)
      return fail("truncated stored put");
    p.hashType.assign(type.begin(), type.end());
    p.value.assign(in.in.begin(), in.in.end());
    if (p.value.size() > kMaxValueSize)
      return fail("stored put larger than 1024 bytes");
    if (!p.secretHash.empty() && p.secretHash.size() != 20)
      return fail("bad secret hash");
    return Stored{std::move(p)};
  }
  if (kind == kKindRm) {
    StoredRm r;
    r.expires = expires;
    auto hash = in.take(20);
    Bytes type = in.lengthPrefixed();
    r.secret = in.lengthPrefixed();
    if (!in.ok || !in.in.empty())
      return fail("malformed stored rm");
    r.valueHash.assign(hash.begin(), hash.end());
    r.hashType.assign(type.begin(), type.end());
    return Stored{std::move(r)};
  }
  return fail("stored value of unknown kind " + std::to_string(kind));
}

std::vector<Entry> present(const std::vector<Value>& overlayValues, std::int64_t now) {
  std::vector<Entry> entries;
  auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(kValueLifetime).count();
  for (const Value& v : overlayValues) {
    if (isStored(v.data))
      continue;
    // A native value too large for 64 chunks (opendht stores up to 64 KiB) is not served,
    // rather than failing every get of its key.
    if (v.data.size() > kMaxChunks * kChunkPayloadSize)
      continue;
    for (Bytes& c : splitValue(v)) {
      Entry e;
      e.value = std::move(c);
      e.ttlRemaining = lifetime;
      entries.push_back(std::move(e));
    }
  }
  for (StoredPut& p : livePuts(overlayValues, now)) {
    Entry e;
    e.value = std::move(p.value);
    e.ttlRemaining = p.expires - now;
    e.hashType = std::move(p.hashType);
    e.secretHash = std::move(p.secretHash);
    entries.push_back(std::move(e));
  }
  for (Entry& e : entries) {
    Bytes all = e.value;
    all.insert(all.end(), e.hashType.begin(), e.hashType.end());
    all.insert(all.end(), e.secretHash.begin(), e.secretHash.end());
    e.order = sha1(all);
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.order < b.order; });
  // Identical native values stored twice (same id and bytes) show once.
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const Entry& a, const Entry& b) { return a.order == b.order; }),
                entries.end());
  return entries;
}

std::vector<Value> reassembleStored(const std::vector<Value>& overlayValues, std::int64_t now) {
  std::vector<Value> out;
  for (const Value& v : overlayValues) {
    if (!isStored(v.data))
      out.push_back(v);
  }
  std::vector<Bytes> apiValues;
  for (StoredPut& p : livePuts(overlayValues, now))
    apiValues.push_back(std::move(p.value));
  for (Value& v : assemble(apiValues).values)
    out.push_back(std::move(v));
  return out;
}

}  // namespace z2z::dht::gateway
