// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/groups/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace z2z::groups {
namespace {

constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

const unsigned char* u8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string rawPublicKey(EVP_PKEY* key) {
  std::string out(kPublicKeySize, '\0');
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
      len != kPublicKeySize) {
    throw Error("cannot read the identity's public key");
  }
  return out;
}

PkeyPtr generateKey() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr)
    throw Error("cannot generate an Ed25519 key");
  return PkeyPtr(key);
}

}  // namespace

struct Identity::Key {
  PkeyPtr pkey;
};

Identity::Identity(std::unique_ptr<Key> key) : key_(std::move(key)) {
  publicKey_ = rawPublicKey(key_->pkey.get());
}
Identity::Identity(Identity&&) noexcept = default;
Identity& Identity::operator=(Identity&&) noexcept = default;
Identity::~Identity() = default;

Identity Identity::generate() {
  return Identity(std::make_unique<Key>(Key{generateKey()}));
}

Identity Identity::loadOrCreate(const std::string& stateDir, const std::string& keyFile) {
  if (::mkdir(stateDir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw Error("cannot create the state directory " + stateDir + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::stat(stateDir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw Error("the state directory " + stateDir + " is not a directory");
  }
  std::string path = keyFile.empty() ? stateDir + "/identity.pem" : keyFile;
  if (::stat(path.c_str(), &st) == 0) {
    if ((st.st_mode & 077) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      throw Error(path + " has mode " + mode +
                  ": group and others must have no access (chmod 600)");
    }
    FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr)
      throw Error("cannot read " + path + ": " + std::strerror(errno));
    EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (key == nullptr || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
      EVP_PKEY_free(key);
      throw Error(path + " does not hold an Ed25519 private key");
    }
    return Identity(std::make_unique<Key>(Key{PkeyPtr(key)}));
  }
  PkeyPtr key = generateKey();
  std::string tmp = path + ".new";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    throw Error("cannot create " + tmp + ": " + std::strerror(errno));
  FILE* f = ::fdopen(fd, "w");
  bool ok = f != nullptr &&
            PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  ok = (f != nullptr && std::fclose(f) == 0) && ok;
  if (f == nullptr)
    ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw Error("cannot write " + path);
  }
  return Identity(std::make_unique<Key>(Key{std::move(key)}));
}

std::string Identity::sign(std::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  std::string sig(kSignatureSize, '\0');
  std::size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_->pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, u8(message),
                     message.size()) != 1 ||
      len != kSignatureSize) {
    throw Error("Ed25519 signing failed");
  }
  return sig;
}

bool verifySignature(std::string_view publicKey, std::string_view message,
                     std::string_view signature) {
  if (publicKey.size() != kPublicKeySize || signature.size() != kSignatureSize)
    return false;
  PkeyPtr key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, u8(publicKey), publicKey.size()));
  if (!key)
    return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), u8(signature), signature.size(), u8(message),
                          message.size()) == 1;
}

std::string hkdf(std::string_view secret, std::string_view salt, std::string_view info,
                 std::size_t length) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr)
    throw Error("HKDF is not available");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == nullptr)
    throw Error("HKDF context");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_octet_string(
                             OSSL_KDF_PARAM_KEY, const_cast<char*>(secret.data()), secret.size()),
                         OSSL_PARAM_construct_octet_string(
                             OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size()),
                         OSSL_PARAM_construct_octet_string(
                             OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
                         OSSL_PARAM_construct_end()};
  std::string out(length, '\0');
  int rc = EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), out.size(), params);
  EVP_KDF_CTX_free(ctx);
  if (rc != 1)
    throw Error("HKDF derivation failed");
  return out;
}

std::string sha256(std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
                 EVP_sha256(), nullptr) != 1) {
    throw Error("SHA-256 failed");
  }
  return out;
}

std::string toHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::string seal(std::string_view key32, std::string_view plaintext, std::string_view aad) {
  if (key32.size() != 32)
    throw Error("AES-256-GCM needs a 32-byte key");
  std::string out(kNonceSize + plaintext.size() + kTagSize, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (RAND_bytes(o, kNonceSize) != 1)
    throw Error("no random bytes for a nonce");
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u8(key32), o) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, u8(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), o + kNonceSize, &len, u8(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), o + kNonceSize + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize,
                          o + kNonceSize + plaintext.size()) != 1) {
    throw Error("AES-256-GCM encryption failed");
  }
  return out;
}

Result<std::string> open(std::string_view key32, std::string_view sealed, std::string_view aad) {
  if (key32.size() != 32)
    return fail("AES-256-GCM needs a 32-byte key");
  if (sealed.size() < kNonceSize + kTagSize)
    return fail("sealed data too short");
  std::size_t ctLen = sealed.size() - kNonceSize - kTagSize;
  std::string out(ctLen, '\0');
  std::string tag(sealed.substr(kNonceSize + ctLen));
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u8(key32), u8(sealed)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, u8(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), o, &len, u8(sealed.substr(kNonceSize)),
                        static_cast<int>(ctLen)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), o + len, &len) != 1) {
    return fail("authentication failed (wrong group secret, or the data was altered)");
  }
  return out;
}

}  // namespace z2z::groups
