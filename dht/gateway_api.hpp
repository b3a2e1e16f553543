// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

// The classic OpenDHT (Bamboo) gateway API, as far as both its client backend and its served
// endpoint need it: limits, request validation, how a z2z value larger than the API's 1024 bytes
// travels as several API values ("chunks"), and how API puts and removals are stored in an
// overlay that has no remote delete. No xmlrpc-c here: these are plain data functions.

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "z2z/config/error.hpp"
#include "z2z/dht/overlay.hpp"

namespace z2z::dht::gateway {

inline constexpr std::size_t kKeySize = 20;
inline constexpr std::size_t kMaxValueSize = 1024;
inline constexpr std::int64_t kMaxTtl = 7 * 24 * 3600;  // one week, in seconds
inline constexpr std::size_t kMaxSecretSize = 40;
inline constexpr std::size_t kMaxApplicationSize = 255;
inline constexpr std::string_view kHashType = "SHA";  // SHA-1, the only type the API knows

/// The status a put, put_removable or rm returns.
enum class PutStatus : int { Success = 0, OverCapacity = 1, TryAgain = 2 };

/// SHA-1 of `data` (20 bytes).
Bytes sha1(std::span<const std::uint8_t> data);

// ---- request validation (each failure names the argument) ---------------------------------------

z2z::Status validateKey(std::span<const std::uint8_t> key);
z2z::Status validateValue(std::span<const std::uint8_t> value);
z2z::Status validateTtl(std::int64_t ttl);
z2z::Status validateHashType(std::string_view hashType);
z2z::Status validateSecretHash(std::span<const std::uint8_t> secretHash);
z2z::Status validateSecret(std::span<const std::uint8_t> secret);
z2z::Status validateApplication(std::string_view application);
/// maxvals must be positive; the server then caps it at its own limit.
z2z::Status validateMaxvals(std::int64_t maxvals);
/// A placemark is empty (first page) or one this API returned (20 bytes).
z2z::Status validatePlacemark(std::span<const std::uint8_t> placemark);

// ---- chunks: a z2z value as API values ----------------------------------------------------------
//
// A value of N bytes becomes ceil(N / 994) API values (at least one), each at most 1024 bytes:
//   "z2zd" | value id (8 bytes) | head (8) | next (8) | index (1 byte) | count (1 byte) | payload
// (numbers big endian). The payloads, in index order, concatenated, are the value's bytes. The
// chunks are chained: chunk i's link is the first 8 bytes of SHA-256(payload | next), its `next`
// is the link of chunk i + 1 (0 for the last), and every chunk carries the head, chunk 0's link.
//
// Anyone may put under a key, also chunks that copy another value's id and head with other
// bytes. A reader takes the chunks of one id, head and count, and at each index the one whose
// link is the `next` of the chunk before it (the head for the first): forged chunks, however
// many, cannot hide a value (that would take a 64-bit second preimage), and every chunk is
// hashed once. Chunks of an id with another head or count make a value of their own.

inline constexpr std::size_t kChunkHeaderSize = 30;
inline constexpr std::size_t kChunkPayloadSize = kMaxValueSize - kChunkHeaderSize;
inline constexpr std::size_t kMaxChunks = 64;

/// Splits `value` into chunks. Throws z2z::Error if it needs more than kMaxChunks (a bug: z2z's
/// own records are at most 16 KiB).
std::vector<Bytes> splitValue(const Value& value);

/// The head of the chunks of a value with these bytes (the link of its first chunk).
std::uint64_t chunkHead(std::span<const std::uint8_t> data);

struct Chunk {
  std::uint64_t id = 0;
  std::uint64_t head = 0;
  std::uint64_t next = 0;
  unsigned index = 0;
  unsigned count = 0;
  Bytes payload;
};

/// Parses one API value as a chunk; fails on anything else (a value of another application).
Result<Chunk> decodeChunk(std::span<const std::uint8_t> bytes);

struct Assembly {
  /// Complete values; two may share an id (someone else put one under it).
  std::vector<Value> values;
  std::size_t incomplete = 0;  ///< ids (with a head and count) whose chain has a gap
  std::size_t foreign = 0;     ///< API values that are no chunks, or not cut as splitValue cuts
};

/// Reassembles the values a set of API values carries.
Assembly assemble(const std::vector<Bytes>& apiValues);

/// Tells, for successive complete views of one key, which values are new and which are gone.
class ValueDiff {
 public:
  struct Change {
    std::vector<Value> added;
    std::vector<Value> gone;
  };
  Change update(const std::vector<Value>& current);
  std::size_t size() const { return known_.size(); }

 private:
  std::set<std::pair<std::uint64_t, Bytes>> known_;  // id and bytes: ids are not unique
};

// ---- stored form: API puts and removals in the overlay ------------------------------------------
//
// The served endpoint writes each API put and rm as one overlay value of its own:
//   "z2zg" | 1 (version) | kind (1 put, 2 rm) | expiry (8 bytes, big endian, Unix seconds) |
//   put: hash type (1 length byte + text) | secret hash (1 length byte + bytes) | value
//   rm:  value hash (20 bytes) | hash type (1 + text) | secret (1 length byte + bytes)
// An rm hides, until it expires, every put under the key whose value has the value hash and
// whose secret hash is the SHA-1 of the rm's secret: the API's removal, without remote delete.
// Overlay values without this prefix are "native" (what embedded-node gateways write).

struct StoredPut {
  Bytes value;
  std::string hashType;  ///< "SHA", or empty for a plain put
  Bytes secretHash;      ///< 20 bytes, or empty for a plain put
  std::int64_t expires = 0;
};

struct StoredRm {
  Bytes valueHash;
  std::string hashType;
  Bytes secret;
  std::int64_t expires = 0;
};

using Stored = std::variant<StoredPut, StoredRm>;

Bytes encodeStored(const Stored& stored);
/// Fails for native values and for malformed stored values (the message says which).
Result<Stored> decodeStored(std::span<const std::uint8_t> bytes);
bool isStored(std::span<const std::uint8_t> bytes);

/// One value as the API's get_details shows it.
struct Entry {
  Bytes value;
  std::int64_t ttlRemaining = 0;
  std::string hashType;
  Bytes secretHash;
  Bytes order;  ///< 20-byte sort key; placemarks are such keys
};

/// What the API shows of the overlay values under one key at Unix time `now`: live stored puts
/// not hidden by an rm (duplicates merged, keeping the longest TTL), and native values as
/// chunks (TTL: the z2z value type's lifetime, no secret), sorted by `order`.
std::vector<Entry> present(const std::vector<Value>& overlayValues, std::int64_t now);

/// The overlay values, as gateways see them, at Unix time `now`: native values as they are, and
/// the values the chunks in live, not removed stored puts carry.
std::vector<Value> reassembleStored(const std::vector<Value>& overlayValues, std::int64_t now);

/// Unix time now, in seconds.
std::int64_t unixNow();

/// Whether an XML-RPC request or response may be given to xmlrpc-c's parser. That parser (its
/// own Expat) expands the entities of a DTD without a limit, and XML-RPC has no DTD: a text
/// with <!DOCTYPE or <!ENTITY is refused, and so is one the search could miss, in another
/// encoding than UTF-8 (a NUL byte, as UTF-16 has, or a first character other than '<' after
/// an optional UTF-8 byte order mark and white space). The failure says which.
Status checkXmlrpcText(std::string_view xml);

}  // namespace z2z::dht::gateway
