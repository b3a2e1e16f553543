// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/groups/group.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "z2z/groups/crypto.hpp"

namespace z2z::groups {
namespace {

constexpr std::string_view kSalt = "z2z-groups-v1";
constexpr std::size_t kMinSecret = 16;
constexpr std::size_t kMinDistinct = 10;
// A secret file holds two lines; anything much larger is not one.
constexpr std::size_t kMaxSecretFile = 4096;

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}

// The first 4 bytes of a digest as a network id that is neither 0 (the public network's) nor
// the main overlay's.
std::uint32_t networkFrom(std::string_view digest, std::uint32_t mainNetwork) {
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i)
    n = n << 8 | static_cast<unsigned char>(digest[static_cast<std::size_t>(i)]);
  if (n == 0)
    n = 1;
  if (n == mainNetwork)
    n = n == 0xffffffffU ? 1 : n + 1;
  return n;
}

// What the group overlay's network id is derived from: the group's name and, unless it is 0
// (ids stay as they were before the main network id was configurable), the main overlay's
// network id. Group names have no ':', so the two forms cannot meet.
std::string networkLabel(std::string_view name, std::uint32_t mainNetwork) {
  if (mainNetwork == 0)
    return std::string(name);
  return std::to_string(mainNetwork) + ":" + std::string(name);
}

std::string secretLabel(const Secret& s, std::string_view what, std::string_view name) {
  return toHex(hkdf(s.locator, kSalt, std::string(what) + ":" + std::string(name), 20));
}

}  // namespace

Result<Secret> loadSecretFile(const std::string& path) {
  // Opened once, without following a symbolic link, and checked on the descriptor: the file
  // read is the file checked.
  // O_NONBLOCK: a FIFO at the path must not hold the daemon in open(); fstat refuses it next.
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    return fail("group secret file " + path + ": " +
                (errno == ELOOP ? std::string("is a symbolic link") : std::strerror(errno)));
  }
  struct stat st {};
  std::string content;
  Status checked = [&]() -> Status {
    if (::fstat(fd, &st) != 0)
      return fail("group secret file " + path + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode))
      return fail("group secret file " + path + " is not a regular file");
    if (st.st_uid != ::geteuid()) {
      return fail("group secret file " + path + " is owned by uid " + std::to_string(st.st_uid) +
                  ", not by this process's user (uid " + std::to_string(::geteuid()) + ")");
    }
    if ((st.st_mode & 077) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return fail("group secret file " + path + " has mode " + mode +
                  ": group and others must have no access (chmod 600)");
    }
    if (static_cast<std::uint64_t>(st.st_size) > kMaxSecretFile)
      return fail("group secret file " + path + " is over " + std::to_string(kMaxSecretFile) +
                  " bytes");
    char buffer[kMaxSecretFile];
    std::size_t have = 0;
    for (int i = 0; i < 64 && have < sizeof buffer; ++i) {  // bounded: short reads, EINTR
      ssize_t got = ::read(fd, buffer + have, sizeof buffer - have);
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        return fail("cannot read group secret file " + path + ": " + std::strerror(errno));
      if (got == 0)
        break;
      have += static_cast<std::size_t>(got);
    }
    content.assign(buffer, have);
    return {};
  }();
  ::close(fd);
  if (!checked)
    return fail(checked.error());
  std::istringstream in(content);
  Secret s;
  std::string line;
  int lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#')
      continue;
    auto space = t.find_first_of(" \t");
    std::string field = t.substr(0, space);
    std::string value = space == std::string::npos ? "" : trim(t.substr(space + 1));
    std::string where = path + ":" + std::to_string(lineNo) + ": ";
    std::string* slot = field == "locator" ? &s.locator : field == "key" ? &s.key : nullptr;
    if (slot == nullptr)
      return fail(where + "unknown field '" + field + "' (want locator or key)");
    if (!slot->empty())
      return fail(where + "'" + field + "' given twice");
    if (value.size() < kMinSecret)
      return fail(where + "'" + field + "' needs at least 16 bytes");
    // Keys are derived with HKDF, which is fast: a guessable value can be tried offline against
    // any sealed value of the group. Catch the obvious ones (a word repeated, a short phrase).
    std::set<char> distinct(value.begin(), value.end());
    if (distinct.size() < kMinDistinct) {
      return fail(where + "'" + field + "' has only " + std::to_string(distinct.size()) +
                  " different characters and is easy to guess; make it random, for example "
                  "with 'openssl rand -hex 32'");
    }
    *slot = value;
  }
  if (s.locator.empty() || s.key.empty()) {
    return fail("group secret file " + path + " needs a 'locator' and a 'key' line");
  }
  return s;
}

GroupKeys GroupKeys::derive(std::string_view name, const Secret* secret,
                            std::uint32_t mainNetwork) {
  GroupKeys k;
  k.name = name;
  std::string n(name);
  if (secret == nullptr) {
    k.network = networkFrom(sha256("z2z:v1:network:" + networkLabel(n, mainNetwork)), mainNetwork);
    k.infoKeyName = "z2z:v1:group:" + n;
    k.membersKeyName = "z2z:v1:members:" + n;
    k.recordsKeyName = "group:" + n;
    return k;
  }
  k.isPrivate = true;
  // Everything that locates the group comes from the locator, everything that protects it from
  // the key (and the locator): a wrong key with the right locator is detected, not forked.
  k.network = networkFrom(
      hkdf(secret->locator, kSalt, "network:" + networkLabel(n, mainNetwork), 4), mainNetwork);
  k.infoKeyName = "z2z:v1:private:" + secretLabel(*secret, "info", n);
  k.membersKeyName = "z2z:v1:private:" + secretLabel(*secret, "members", n);
  k.recordsKeyName = "private:" + secretLabel(*secret, "records", n);
  // One key per secret (not per name), so that a private alias, sealed by its group, opens with
  // the same secret; every value is bound to its DHT key name by the AEAD's additional data.
  k.aeadKey = hkdf(secret->locator + "\n" + secret->key, kSalt, "aead", 32);
  return k;
}

std::string GroupKeys::aliasKeyName(std::string_view alias, const Secret* secret) {
  if (secret == nullptr)
    return "z2z:v1:group:" + std::string(alias);
  return "z2z:v1:private:" + secretLabel(*secret, "info", alias);
}

std::string ValueCodec::encode(std::string_view plaintext, std::string_view keyName) const {
  if (key_.empty())
    return std::string(plaintext);
  std::string aad = std::string(kSealedHeader) + std::string(keyName);
  return std::string(kSealedHeader) + seal(key_, plaintext, aad);
}

Result<std::string> ValueCodec::decode(std::string_view value, std::string_view keyName) const {
  bool isSealed = value.starts_with(kSealedHeader);
  if (key_.empty()) {
    if (isSealed)
      return fail("a sealed value in a public group");
    return std::string(value);
  }
  if (!isSealed)
    return fail("an unsealed value in a private group");
  std::string aad = std::string(kSealedHeader) + std::string(keyName);
  return open(key_, value.substr(kSealedHeader.size()), aad);
}

Result<Document> readDocument(const ValueCodec& codec, std::string_view value,
                              std::string_view keyName) {
  auto plain = codec.decode(value, keyName);
  if (!plain)
    return fail(plain.error());
  auto doc = decodeDocument(*plain);
  if (!doc)
    return fail(doc.error());
  if (!verifyDocument(*doc))
    return fail("bad signature (altered document?)");
  return doc;
}

const char* verdictName(Verdict v) {
  switch (v) {
    case Verdict::Accepted:
      return "accepted";
    case Verdict::Known:
      return "known";
    case Verdict::Replayed:
      return "replayed or stale";
    case Verdict::Expired:
      return "expired";
    case Verdict::Untrusted:
      return "signed by a key the group does not list";
    case Verdict::Future:
      return "dated further ahead than clocks differ";
  }
  return "?";
}

bool plausiblyDated(const Document& doc, std::uint64_t now) {
  std::uint64_t ahead = now + kMaxClockSkew;
  return doc.version / 1000000 <= ahead && doc.expires <= ahead + kMaxLease &&
         doc.since / 1000000 <= ahead;
}

Verdict InfoTracker::offer(const Document& doc, std::uint64_t now) {
  if (accepted_ && doc == *accepted_)
    return Verdict::Known;
  if (!plausiblyDated(doc, now))
    return Verdict::Future;
  if (accepted_ && doc.version <= accepted_->version) {
    // Once the accepted document has expired, older ones are no better.
    return Verdict::Replayed;
  }
  if (doc.expires <= now)
    return Verdict::Expired;
  const Document* cur = current(now);
  if (chained_ && cur != nullptr && cur->status == DocStatus::Active) {
    const auto& keys = cur->memberKeys;
    if (std::find(keys.begin(), keys.end(), doc.signer) == keys.end())
      return Verdict::Untrusted;
  }
  accepted_ = doc;
  return Verdict::Accepted;
}

const Document* InfoTracker::current(std::uint64_t now) const {
  if (!accepted_ || accepted_->expires <= now)
    return nullptr;
  return &*accepted_;
}

bool InfoTracker::removed(std::uint64_t now) const {
  const Document* d = current(now);
  return d != nullptr && d->status == DocStatus::Removed;
}

bool MemberView::offer(const Document& doc, std::uint64_t now) {
  if (!plausiblyDated(doc, now))
    return false;
  auto it = bySigner_.find(doc.signer);
  if (it != bySigner_.end() && it->second.version >= doc.version)
    return false;
  bySigner_[doc.signer] = doc;
  return true;
}

std::vector<const Document*> MemberView::live(std::uint64_t now) const {
  std::vector<const Document*> out;
  for (const auto& [k, d] : bySigner_) {
    if (d.status == DocStatus::Active && d.expires > now)
      out.push_back(&d);
  }
  std::sort(out.begin(), out.end(), [](const Document* a, const Document* b) {
    return std::tie(a->since, a->signer) < std::tie(b->since, b->signer);
  });
  return out;
}

std::string MemberView::maintainer(std::uint64_t now) const {
  auto l = live(now);
  return l.empty() ? std::string() : l.front()->signer;
}

std::vector<BootstrapEndpoint> MemberView::endpoints(std::uint64_t now) const {
  std::vector<BootstrapEndpoint> out;
  for (const Document* d : live(now)) {
    for (const BootstrapEndpoint& ep : d->endpoints) {
      if (out.size() < kMaxEndpoints && std::find(out.begin(), out.end(), ep) == out.end()) {
        out.push_back(ep);
      }
    }
  }
  return out;
}

std::vector<std::string> MemberView::keys(std::uint64_t now) const {
  std::vector<std::string> out;
  for (const Document* d : live(now)) {
    if (out.size() < kMaxMemberKeys)
      out.push_back(d->signer);
  }
  return out;
}

}  // namespace z2z::groups
