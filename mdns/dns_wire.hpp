// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "z2z/config/error.hpp"

/// DNS wire-format pieces for publishing raw mDNS records (RFC 1035 section 3, RFC 6763).
namespace z2z::mdns::wire {

using Labels = std::vector<std::string>;
using Bytes = std::vector<std::uint8_t>;

/// Splits "_daap._tcp" or "local" at dots into labels. Fails on an empty label.
Result<Labels> splitPlain(std::string_view dotted);

/// Splits an Avahi-escaped name ("Tom\.s.local") into unescaped labels.
Result<Labels> splitEscaped(std::string_view escaped);

/// The presentation form Avahi expects for a name: labels escaped ('.' and '\' with a backslash,
/// control bytes as \DDD) and joined with dots.
std::string escapedName(const Labels& labels);

/// A name as avahi-daemon writes the names it reports (avahi_escape_label): '.' and '\' with a
/// backslash, every byte other than letters, digits, '-' and '_' as \DDD ("My\032Printer.local").
/// Names of the link compare equal to the daemon's reports only in this form.
std::string avahiName(const Labels& labels);

/// mDNS names and labels compare without regard to ASCII case (RFC 6762 section 16): whether
/// two are the same, and a form in which the same ones are equal (ASCII letters in lower case).
bool sameName(std::string_view a, std::string_view b);
std::string foldCase(std::string s);

/// Uncompressed wire form of a name. Fails if a label exceeds 63 bytes or the name 255.
Result<Bytes> encodeName(const Labels& labels);

/// SRV RDATA: priority, weight, port, target.
Result<Bytes> srvRdata(std::uint16_t port, const Labels& target);

/// TXT RDATA: each string with a length byte; an empty set becomes one empty string (RFC 6763
/// section 6.1). Fails if a string exceeds 255 bytes.
Result<Bytes> txtRdata(const std::vector<std::string>& strings);

/// Parses TXT RDATA back into strings. Fails on a length running past the end.
Result<std::vector<std::string>> parseTxtRdata(const Bytes& rdata);

inline constexpr std::uint16_t kTypePtr = 12;
inline constexpr std::uint16_t kTypeTxt = 16;
inline constexpr std::uint16_t kTypeSrv = 33;

/// The largest mDNS message read (RFC 6762 section 17: 9000 bytes, a jumbo frame's payload).
inline constexpr std::size_t kMaxMessage = 9000;

/// One resource record of a received message, as far as the gateway reads it.
struct ReceivedRecord {
  Labels name;  // the owner, unescaped labels
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  Labels target;           // the name in a PTR or SRV record's RDATA; empty for every other type
  std::uint16_t port = 0;  // an SRV record's port
  Bytes txt;               // a TXT record's RDATA, as it came
};

/// A response's records that read, and those left out.
struct ReceivedMessage {
  std::vector<ReceivedRecord> records;
  std::size_t skipped = 0;  // records not read: the first that did not, and all after it
  std::string whySkipped;   // what was wrong with it, and where
};

/// Reads the answer and additional records of a DNS response message (QR set); a query yields
/// none. Takes from a message what avahi-daemon 0.8 takes, and nothing more, so that a service
/// heard here is one the daemon's browser lists: the daemon is what confirms an export.
/// Keeps the PTR, SRV and TXT records of class IN (the others are checked and skipped), but
/// not a PTR record with the cache-flush bit set, unless it is a goodbye (TTL 0).
/// Names may be compressed (RFC 1035 section 4.1.4); a pointer must point past the header and
/// before the name, or the part of it, that it ends, so pointers cannot loop.
/// Fails, saying what, on a message longer than kMaxMessage, a non-zero OPCODE or RCODE
/// (RFC 6762 sections 18.3 and 18.11), and on a response with questions, authority records or
/// no answers (the daemon drops such a response whole).
/// Stops at the first record that does not read, as the daemon does, keeping those before it:
/// one running past the end; a name with a label over 63 bytes, over 255 bytes, over 127 labels
/// and pointers, with a bad pointer, or with a label that is not UTF-8 or holds a NUL (or a
/// noncharacter); PTR, NS,
/// CNAME or SRV data that is not a name filling the rest of the record; TXT or HINFO data whose
/// strings do not fill it; A or AAAA data of another size.
Result<ReceivedMessage> parseMessage(const std::uint8_t* data, std::size_t size);

/// A Multicast DNS response message (RFC 6762 section 18) being filled with answers: ID 0, QR
/// and AA set, no questions. Owner names, and the names in the RDATA of NS, CNAME, PTR and SRV
/// records (RFC 6762 section 18.14), are compressed against the names already in the message
/// (RFC 1035 section 4.1.4), so the records of several services share one packet.
class Response {
 public:
  /// An owner name made ready for add(): its labels and the wire form of each of its suffixes
  /// (tails[i]: labels i and on, without the closing zero). Records announced again and again
  /// keep theirs.
  struct Owner {
    Labels labels;
    std::vector<Bytes> tails;
    /// Fails on an empty label, a label longer than 63 bytes or a name longer than 255.
    static Result<Owner> of(const Labels& labels);
  };

  /// A message of at most `limit` bytes (at least the 12-byte header).
  explicit Response(std::size_t limit);

  /// Appends one class-IN record, the cache-flush bit set if `unique`; `rdata` is uncompressed.
  /// Returns false and leaves the message as it was if the record does not fit, or if a label is
  /// empty or longer than 63 bytes.
  bool add(const Labels& owner, std::uint16_t type, bool unique, std::uint32_t ttl,
           const Bytes& rdata);
  bool add(const Owner& owner, std::uint16_t type, bool unique, std::uint32_t ttl,
           const Bytes& rdata);

  std::size_t count() const { return count_; }
  const Bytes& bytes() const { return bytes_; }

 private:
  Bytes bytes_;
  std::size_t limit_;
  std::uint16_t count_ = 0;
  // Each name suffix written so far, as its uncompressed wire form, and where it starts.
  std::map<Bytes, std::uint16_t> suffixes_;
};

}  // namespace z2z::mdns::wire
