// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "z2z/config/error.hpp"

namespace z2z::groups {

/// Raw Ed25519 public key (32 bytes) and signature (64 bytes), as byte strings.
inline constexpr std::size_t kPublicKeySize = 32;
inline constexpr std::size_t kSignatureSize = 64;

/// A gateway's signing identity: an Ed25519 key pair. OpenDHT's own value signing is not used
/// (its EC identities fail silently, see OPENDHT.md); documents are signed at the application
/// level with this key instead.
class Identity {
 public:
  /// Loads DIR/identity.pem (or `keyFile` if given), or creates it (mode 0600) and DIR (mode
  /// 0700) if missing. Throws z2z::Error if the directory or key cannot be read or created, or
  /// the key file is readable by others.
  static Identity loadOrCreate(const std::string& stateDir, const std::string& keyFile = "");
  /// A fresh key that lives in memory only (tests, one-shot commands).
  static Identity generate();

  Identity(Identity&&) noexcept;
  Identity& operator=(Identity&&) noexcept;
  ~Identity();

  /// The raw 32-byte public key.
  const std::string& publicKey() const { return publicKey_; }
  /// Signs `message`; returns the raw 64-byte signature. Any thread.
  std::string sign(std::string_view message) const;

 private:
  struct Key;
  explicit Identity(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
  std::string publicKey_;
};

/// True if `signature` is a valid Ed25519 signature of `message` by raw `publicKey`.
bool verifySignature(std::string_view publicKey, std::string_view message,
                     std::string_view signature);

/// HKDF-SHA256 (RFC 5869) of `secret` with `salt` and `info`, `length` bytes.
std::string hkdf(std::string_view secret, std::string_view salt, std::string_view info,
                 std::size_t length);

/// SHA-256 digest (32 raw bytes).
std::string sha256(std::string_view data);

/// Lowercase hex of raw bytes.
std::string toHex(std::string_view bytes);

/// AES-256-GCM with a random 96-bit nonce: the result is nonce, ciphertext, 128-bit tag.
std::string seal(std::string_view key32, std::string_view plaintext, std::string_view aad);
/// The inverse of seal; fails if the data is short, or was not sealed with this key and `aad`
/// (the tag does not authenticate).
Result<std::string> open(std::string_view key32, std::string_view sealed, std::string_view aad);

}  // namespace z2z::groups
