// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "z2z/config/error.hpp"
#include "z2z/groups/document.hpp"

namespace z2z::groups {

/// A private group's shared secret, read from a --group-secret-file.
struct Secret {
  std::string locator;  ///< finds the group's documents (never published)
  std::string key;      ///< encrypts and authenticates them
};

/// Reads a secret file: lines "locator VALUE" and "key VALUE" (each value at least 16 bytes),
/// '#' comments and blank lines. Fails if the file is readable or writable by group or others
/// (mode must be 0600 or stricter), unreadable, or malformed; the message never contains the
/// secret.
Result<Secret> loadSecretFile(const std::string& path);

/// Where a group lives: every name, key and id derived from its name (and secret). The key
/// names are texts that bridge hashes into DHT keys.
struct GroupKeys {
  std::string name;
  bool isPrivate = false;
  std::uint32_t network = 0;   ///< the group overlay's network id (never 0 nor the main one's)
  std::string infoKeyName;     ///< main overlay: group-info documents
  std::string membersKeyName;  ///< group overlay: membership documents
  std::string recordsKeyName;  ///< group overlay: the gateway's service records (a --key name)
  std::string aeadKey;         ///< private groups: 32-byte AES-256-GCM key

  /// `mainNetwork` is the main overlay's network id, where the group-info is found: the group
  /// overlay's id depends on it (unless it is 0, the ids of old), so that deployments with
  /// different main networks never share a group overlay by accident (a stale endpoint, a
  /// reused address), and it differs from it.
  static GroupKeys derive(std::string_view name, const Secret* secret,
                          std::uint32_t mainNetwork = 0);
  /// The main-overlay key name an alias document of this group is stored under (and looked
  /// up by a gateway that joins by the alias).
  static std::string aliasKeyName(std::string_view alias, const Secret* secret);
};

/// Turns documents and records into DHT values and back. Public groups: documents are stored
/// as they are (signed). Private groups: every value is "Z2Z-SEALED:1\n" and AES-256-GCM data
/// whose additional data binds it to the key name it is stored under.
class ValueCodec {
 public:
  ValueCodec() = default;
  explicit ValueCodec(std::string aeadKey) : key_(std::move(aeadKey)) {}
  bool sealed() const { return !key_.empty(); }
  std::string encode(std::string_view plaintext, std::string_view keyName) const;
  /// Fails (naming why) if a sealed value does not authenticate, or a private group gets an
  /// unsealed value.
  Result<std::string> decode(std::string_view value, std::string_view keyName) const;

 private:
  std::string key_;
};

inline constexpr std::string_view kSealedHeader = "Z2Z-SEALED:1\n";

/// Decodes a value into a document of an expected type and name and checks its signature.
Result<Document> readDocument(const ValueCodec& codec, std::string_view value,
                              std::string_view keyName);

/// What a reader makes of one group-info document.
enum class Verdict {
  Accepted,   ///< the newest trusted document so far
  Known,      ///< the very document already accepted (a second copy)
  Replayed,   ///< older than (or as old as) the accepted one: a replay or a stale copy
  Expired,    ///< past its expiry
  Untrusted,  ///< a public group's document by a writer the accepted one does not list
  Future,     ///< versioned or expiring further ahead than a clock can be off (kMaxClockSkew)
};

/// How far ahead of this reader's clock a document may be dated. Versions are microseconds
/// and expiry times seconds since the epoch; a lease is at most kMaxLease (--ttl's limit).
/// Without a bound, one document versioned near 2^64 would be the newest for good, and every
/// later group-info (the last member's "removed" too) refused as replayed.
inline constexpr std::uint64_t kMaxClockSkew = 600;
inline constexpr std::uint64_t kMaxLease = 86400;

/// Whether `doc` is dated within reach of `now` (seconds since the epoch).
bool plausiblyDated(const Document& doc, std::uint64_t now);
const char* verdictName(Verdict v);

/// The trust state of a group's group-info as one reader sees it. Public groups pin writers
/// by chain: a newer document must be signed by a key the currently accepted (unexpired)
/// document lists as a member; with nothing accepted (first contact, or after expiry), the
/// first valid document is trusted. Private groups accept any member (the AEAD proves the
/// secret). Pure logic: no I/O, times are passed in.
class InfoTracker {
 public:
  explicit InfoTracker(bool chained) : chained_(chained) {}
  Verdict offer(const Document& doc, std::uint64_t nowSeconds);
  /// The accepted document if it is unexpired.
  const Document* current(std::uint64_t nowSeconds) const;
  /// True if the accepted document says the group was removed (and has not expired).
  bool removed(std::uint64_t nowSeconds) const;

 private:
  bool chained_;
  std::optional<Document> accepted_;
};

/// The members of a group as one member sees them from membership documents, and which of
/// them maintains the group-info: the one that joined first (smallest since, then key). A
/// maintainer that leaves writes a removed membership; one that crashes stops refreshing and
/// its membership expires; either way the next oldest member takes over.
class MemberView {
 public:
  /// Returns false if the document is older than the member's newest one, or dated further
  /// ahead of `nowSeconds` than clocks differ (plausiblyDated).
  bool offer(const Document& doc, std::uint64_t nowSeconds);
  std::vector<const Document*> live(std::uint64_t nowSeconds) const;
  /// Signer key of the maintainer among live members; empty if none.
  std::string maintainer(std::uint64_t nowSeconds) const;
  /// Endpoints of live members, oldest member first, at most kMaxEndpoints.
  std::vector<BootstrapEndpoint> endpoints(std::uint64_t nowSeconds) const;
  std::vector<std::string> keys(std::uint64_t nowSeconds) const;

 private:
  std::map<std::string, Document> bySigner_;
};

}  // namespace z2z::groups
