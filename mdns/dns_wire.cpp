// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/mdns/dns_wire.hpp"

#include <strings.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "z2z/config/encoding.hpp"

namespace z2z::mdns::wire {

Result<Labels> splitPlain(std::string_view dotted) {
  Labels labels;
  while (!dotted.empty()) {
    auto dot = dotted.find('.');
    std::string_view label = dotted.substr(0, dot);
    if (label.empty())
      return fail("empty label in '" + std::string(dotted) + "'");
    labels.emplace_back(label);
    if (dot == std::string_view::npos)
      break;
    dotted.remove_prefix(dot + 1);
  }
  return labels;
}

Result<Labels> splitEscaped(std::string_view escaped) {
  Labels labels;
  std::string current;
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    char c = escaped[i];
    if (c == '.') {
      if (current.empty())
        return fail("empty label in '" + std::string(escaped) + "'");
      labels.push_back(std::move(current));
      current.clear();
    } else if (c == '\\') {
      if (i + 1 >= escaped.size())
        return fail("dangling '\\' in '" + std::string(escaped) + "'");
      char n = escaped[i + 1];
      if (n >= '0' && n <= '9') {
        if (i + 3 >= escaped.size())
          return fail("short \\DDD in '" + std::string(escaped) + "'");
        int value = 0;
        for (std::size_t k = 1; k <= 3; ++k) {
          char d = escaped[i + k];
          if (d < '0' || d > '9')
            return fail("bad \\DDD in '" + std::string(escaped) + "'");
          value = value * 10 + (d - '0');
        }
        if (value > 255)
          return fail("bad \\DDD in '" + std::string(escaped) + "'");
        current.push_back(static_cast<char>(value));
        i += 3;
      } else {
        current.push_back(n);
        i += 1;
      }
    } else {
      current.push_back(c);
    }
  }
  if (!current.empty())
    labels.push_back(std::move(current));
  return labels;
}

namespace {

// Labels joined with dots: '.' and '\' escaped with a backslash, bytes that `plain` refuses as
// \DDD.
template <typename Plain>
std::string joinEscaped(const Labels& labels, Plain plain) {
  std::string out;
  for (const std::string& label : labels) {
    if (!out.empty())
      out.push_back('.');
    for (unsigned char c : label) {
      if (c == '.' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (plain(c)) {
        out.push_back(static_cast<char>(c));
      } else {
        char digits[5];
        std::snprintf(digits, sizeof digits, "\\%03u", static_cast<unsigned>(c));
        out += digits;
      }
    }
  }
  return out;
}

}  // namespace

bool sameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string foldCase(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string avahiName(const Labels& labels) {
  return joinEscaped(labels, [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

std::string escapedName(const Labels& labels) {
  return joinEscaped(labels, [](unsigned char c) { return c >= 0x20 && c != 0x7f; });
}

Result<Bytes> encodeName(const Labels& labels) {
  Bytes out;
  for (const std::string& label : labels) {
    if (label.empty() || label.size() > 63) {
      return fail("label '" + label + "' must have 1 to 63 bytes");
    }
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
  }
  out.push_back(0);
  if (out.size() > 255)
    return fail("name longer than 255 bytes");
  return out;
}

Result<Bytes> srvRdata(std::uint16_t port, const Labels& target) {
  auto name = encodeName(target);
  if (!name)
    return fail(name.error());
  Bytes out = {
      0, 0, 0, 0, static_cast<std::uint8_t>(port >> 8), static_cast<std::uint8_t>(port & 0xff)};
  out.insert(out.end(), name->begin(), name->end());
  return out;
}

Result<Bytes> txtRdata(const std::vector<std::string>& strings) {
  Bytes out;
  for (const std::string& s : strings) {
    if (s.size() > 255)
      return fail("TXT string longer than 255 bytes");
    out.push_back(static_cast<std::uint8_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
  if (out.empty())
    out.push_back(0);
  return out;
}

Result<std::vector<std::string>> parseTxtRdata(const Bytes& rdata) {
  std::vector<std::string> strings;
  std::size_t i = 0;
  while (i < rdata.size()) {
    std::size_t len = rdata[i++];
    if (i + len > rdata.size())
      return fail("TXT string runs past the end of the record");
    if (len > 0)
      strings.emplace_back(rdata.begin() + static_cast<long>(i),
                           rdata.begin() + static_cast<long>(i + len));
    i += len;
  }
  return strings;
}

namespace {

std::uint16_t read16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

// What avahi-daemon 0.8 takes from a response is what its browsers can list, so a name is read
// as it reads one (avahi-core/dns.c, avahi-common/domain.c): at most 127 labels and pointers,
// pointers past the header, each label UTF-8 without NUL or noncharacters. (Its limit of 1013
// characters once escaped is not reached within 255 bytes: at most 1003, four labels of 250
// bytes among them, each byte written "\DDD".)
constexpr int kMaxNameSteps = 127;

bool refusedByAvahi(std::uint32_t cp) {
  return cp == 0 || (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe;
}

// Reads the name at `pos`; `next` is where the data after it starts. Each pointer must point
// before where the name, or the part reached by the previous pointer, began: the places jumped
// to only go down, so following them always ends.
// With `keep` false the labels are checked and skipped, not kept.
Result<Labels> readName(const std::uint8_t* data, std::size_t size, std::size_t pos,
                        std::size_t& next, bool keep = true) {
  Labels labels;
  if (keep)
    labels.reserve(4);   // "Name._daap._tcp.local"
  std::size_t wire = 1;  // the closing zero
  bool jumped = false;
  std::size_t bound = pos;
  for (int step = 0; step < kMaxNameSteps; ++step) {
    if (pos >= size)
      return fail("name at offset " + std::to_string(pos) + " runs past the end");
    std::uint8_t len = data[pos];
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= size)
        return fail("pointer at offset " + std::to_string(pos) + " runs past the end");
      std::size_t to = static_cast<std::size_t>(read16(data + pos) & 0x3FFF);
      if (to >= bound || to < 12)
        return fail("pointer at offset " + std::to_string(pos) + " does not point back");
      if (!jumped)
        next = pos + 2;
      jumped = true;
      pos = bound = to;
      continue;
    }
    if ((len & 0xC0) != 0)
      return fail("label type at offset " + std::to_string(pos) + " is not supported");
    if (len == 0) {
      if (!jumped)
        next = pos + 1;
      return labels;
    }
    if (pos + 1 + len > size)
      return fail("label at offset " + std::to_string(pos) + " runs past the end");
    wire += 1 + len;
    if (wire > 255)
      return fail("name at offset " + std::to_string(pos) + " is longer than 255 bytes");
    std::string_view label(reinterpret_cast<const char*>(data + pos + 1), len);
    if (!isUtf8(label, refusedByAvahi))
      return fail("label at offset " + std::to_string(pos) + " is not UTF-8 or holds a NUL");
    if (keep)
      labels.emplace_back(label);
    pos += 1 + len;
  }
  return fail("name at offset " + std::to_string(pos) + " has more than " +
              std::to_string(kMaxNameSteps) + " labels and pointers");
}

// Record types whose data avahi-daemon reads (and rejects the record if it cannot).
constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeNs = 2;
constexpr std::uint16_t kTypeCname = 5;
constexpr std::uint16_t kTypeHinfo = 13;
constexpr std::uint16_t kTypeAaaa = 28;
constexpr std::uint16_t kClassIn = 1;

// Reads the record at `pos` and moves `pos` past it. Checks what avahi-daemon checks of every
// record (its names, the data of the types it reads); returns an empty record (type 0) for one
// that is well-formed but not kept: any type but PTR, SRV and TXT, a class other than IN,
// which avahi-daemon's browsers never ask for, and a PTR record that says to flush (below).
Result<ReceivedRecord> readRecord(const std::uint8_t* data, std::size_t size, std::size_t& pos) {
  ReceivedRecord r;
  std::size_t start = pos;
  auto owner = readName(data, size, start, pos, false);
  if (!owner)
    return fail(owner.error());
  if (pos + 10 > size)
    return fail("record at offset " + std::to_string(pos) + " runs past the end");
  std::uint16_t type = read16(data + pos);
  std::uint16_t classField = read16(data + pos + 2);
  std::uint16_t cls = classField & 0x7FFF;  // without the cache-flush bit
  bool cacheFlush = (classField & 0x8000) != 0;
  r.ttl = (std::uint32_t{read16(data + pos + 4)} << 16) | read16(data + pos + 6);
  std::size_t length = read16(data + pos + 8);
  std::size_t rdata = pos + 10;
  std::size_t end = rdata + length;
  if (end > size)
    return fail("record data at offset " + std::to_string(rdata) + " runs past the end");
  pos = end;
  auto what = [&](const char* kind) {
    return std::string(kind) + " record at offset " + std::to_string(rdata);
  };
  // A name that must fill the record data from `at` on.
  auto nameToEnd = [&](const char* kind, std::size_t at) -> Result<Labels> {
    std::size_t after = 0;
    auto name = readName(data, end, at, after);
    if (!name)
      return fail(std::string(kind) + " record: " + name.error());
    if (after != end)
      return fail(what(kind) + " has data after its name");
    return name;
  };
  switch (type) {
    case kTypePtr:
    case kTypeNs:
    case kTypeCname: {
      auto target = nameToEnd(type == kTypePtr ? "PTR" : type == kTypeNs ? "NS" : "CNAME", rdata);
      if (!target)
        return fail(target.error());
      r.target = std::move(*target);
      break;
    }
    case kTypeSrv: {
      // Priority and weight, then the port and the target (RFC 2782).
      if (length < 7)
        return fail(what("SRV") + " is too short");
      r.port = read16(data + rdata + 4);
      auto target = nameToEnd("SRV", rdata + 6);
      if (!target)
        return fail(target.error());
      r.target = std::move(*target);
      break;
    }
    case kTypeTxt: {
      for (std::size_t i = rdata; i < end; i += 1 + data[i]) {
        if (i + 1 + data[i] > end)
          return fail(what("TXT") + ": a string runs past the end of the record");
      }
      r.txt.assign(data + rdata, data + end);
      break;
    }
    case kTypeHinfo: {
      std::size_t i = rdata;
      for (int k = 0; k < 2 && i <= end; ++k)
        i = i < end ? i + 1 + data[i] : end + 1;
      if (i != end)
        return fail(what("HINFO") + " is not two strings");
      break;
    }
    case kTypeA:
    case kTypeAaaa:
      if (length != (type == kTypeA ? 4U : 16U))
        return fail(what(type == kTypeA ? "A" : "AAAA") + " has " + std::to_string(length) +
                    " bytes of data");
      break;
    default:
      break;
  }
  if ((type != kTypePtr && type != kTypeSrv && type != kTypeTxt) || cls != kClassIn)
    return ReceivedRecord{};
  // A PTR record of DNS-SD is shared, never flushed (RFC 6762 section 10.2). One that says to
  // flush is a conflict to avahi-daemon wherever it publishes a PTR record of that type
  // itself (server.c, handle_conflict): not cached there, so not listed. Goodbyes are kept.
  if (type == kTypePtr && cacheFlush && r.ttl != 0)
    return ReceivedRecord{};
  auto name = readName(data, size, start, start);  // checked above: now kept
  if (!name)
    return fail(name.error());
  r.name = std::move(*name);
  r.type = type;
  return r;
}

}  // namespace

Result<ReceivedMessage> parseMessage(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxMessage)
    return fail("message of " + std::to_string(size) + " bytes exceeds " +
                std::to_string(kMaxMessage));
  if (size < 12)
    return fail("message of " + std::to_string(size) + " bytes is shorter than its header");
  ReceivedMessage message;
  if ((data[2] & 0x80) == 0)
    return message;  // a query
  // RFC 6762 section 18.3 and 18.11: a non-zero OPCODE or RCODE is silently ignored (as
  // avahi-daemon does), so nothing is taken from a message the daemon would not take.
  if ((data[2] & 0x78) != 0)
    return fail("OPCODE " + std::to_string((data[2] >> 3) & 0x0F) + " is not 0");
  if ((data[3] & 0x0F) != 0)
    return fail("RCODE " + std::to_string(data[3] & 0x0F) + " is not 0");
  // avahi-daemon also drops a response with questions (RFC 6762 section 6 has them ignored),
  // without answers, or with authority records (avahi-core/server.c, dispatch_packet).
  std::size_t questions = read16(data + 4);
  std::size_t answers = read16(data + 6);
  std::size_t authority = read16(data + 8);
  if (questions != 0)
    return fail("response with questions (QDCOUNT " + std::to_string(questions) + ")");
  if (answers == 0)
    return fail("response without answers (ANCOUNT 0)");
  if (authority != 0)
    return fail("response with authority records (NSCOUNT " + std::to_string(authority) + ")");
  std::size_t count = answers + read16(data + 10);
  std::size_t pos = 12;
  // Each record takes at least 11 bytes: a bound on what is reserved.
  message.records.reserve(std::min(count, (size - pos) / 11));
  for (std::size_t i = 0; i < count; ++i) {
    auto r = readRecord(data, size, pos);
    if (!r) {
      // avahi-daemon stops at a record it cannot read and keeps those before it.
      message.skipped = count - i;
      message.whySkipped = r.error();
      break;
    }
    if (r->type != 0)
      message.records.push_back(std::move(*r));
  }
  return message;
}

Response::Response(std::size_t limit)
    : bytes_{0, 0, 0x84, 0, 0, 0, 0, 0, 0, 0, 0, 0}, limit_(std::max<std::size_t>(limit, 12)) {}

Result<Response::Owner> Response::Owner::of(const Labels& labels) {
  Owner o{labels, std::vector<Bytes>(labels.size())};
  Bytes tail;
  for (std::size_t i = labels.size(); i-- > 0;) {
    const std::string& label = labels[i];
    if (label.empty() || label.size() > 63)
      return fail("label '" + label + "' must have 1 to 63 bytes");
    Bytes t{static_cast<std::uint8_t>(label.size())};
    t.insert(t.end(), label.begin(), label.end());
    t.insert(t.end(), tail.begin(), tail.end());
    tail = t;
    o.tails[i] = std::move(t);
  }
  if (tail.size() + 1 > 255)
    return fail("name longer than 255 bytes");  // RFC 1035 section 2.3.4
  return o;
}

bool Response::add(const Labels& owner, std::uint16_t type, bool unique, std::uint32_t ttl,
                   const Bytes& rdata) {
  auto o = Owner::of(owner);
  return o && add(*o, type, unique, ttl, rdata);
}

namespace {

// Where a record type's RDATA holds a name that may be compressed: RFC 1035's NS, CNAME and PTR
// from the start, and SRV after priority, weight and port (RFC 6762 section 18.14 allows it for
// SRV too). -1: none.
int rdataNameAt(std::uint16_t type) {
  switch (type) {
    case 2:   // NS
    case 5:   // CNAME
    case 12:  // PTR
      return 0;
    case 33:  // SRV
      return 6;
    default:
      return -1;
  }
}

// The labels of the uncompressed name that fills rdata from `at` to its end; nothing if that is
// not exactly one such name.
std::optional<Labels> rdataName(const Bytes& rdata, std::size_t at) {
  Labels labels;
  std::size_t i = at;
  while (i < rdata.size() && rdata[i] != 0) {
    std::size_t len = rdata[i];
    if (len > 63 || i + 1 + len >= rdata.size())
      return std::nullopt;  // a pointer, an extended label type, or running past the end
    labels.emplace_back(rdata.begin() + static_cast<long>(i + 1),
                        rdata.begin() + static_cast<long>(i + 1 + len));
    i += 1 + len;
  }
  if (i + 1 != rdata.size())
    return std::nullopt;
  return labels;
}

}  // namespace

bool Response::add(const Owner& o, std::uint16_t type, bool unique, std::uint32_t ttl,
                   const Bytes& rdata) {
  if (count_ == 0xffff || rdata.size() > 0xffff || o.tails.size() != o.labels.size())
    return false;
  std::optional<Owner> target;  // the name in the RDATA, if compressible
  int nameAt = rdataNameAt(type);
  if (nameAt >= 0) {
    if (auto labels = rdataName(rdata, static_cast<std::size_t>(nameAt))) {
      if (auto t = Owner::of(*labels))
        target = std::move(*t);
    }
  }
  std::size_t start = bytes_.size();
  Bytes out;
  std::vector<Bytes> added;  // suffixes this record adds to suffixes_, taken out if it fails
  // Writes a name: a pointer to its longest suffix already in the message, labels before that.
  auto putName = [&](const Owner& name) {
    for (std::size_t i = 0; i < name.tails.size(); ++i) {
      if (auto known = suffixes_.find(name.tails[i]); known != suffixes_.end()) {
        out.push_back(static_cast<std::uint8_t>(0xc0 | (known->second >> 8)));
        out.push_back(static_cast<std::uint8_t>(known->second & 0xff));
        return;
      }
      if (start + out.size() < 0x4000) {
        suffixes_.emplace(name.tails[i], static_cast<std::uint16_t>(start + out.size()));
        added.push_back(name.tails[i]);
      }
      out.push_back(static_cast<std::uint8_t>(name.labels[i].size()));
      out.insert(out.end(), name.labels[i].begin(), name.labels[i].end());
    }
    out.push_back(0);
  };
  auto put16 = [&out](std::uint32_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v & 0xff));
  };
  putName(o);
  put16(type);
  put16(unique ? 0x8001 : 0x0001);
  put16(ttl >> 16);
  put16(ttl & 0xffff);
  std::size_t lengthAt = out.size();
  put16(0);
  if (target) {
    out.insert(out.end(), rdata.begin(), rdata.begin() + nameAt);
    putName(*target);
  } else {
    out.insert(out.end(), rdata.begin(), rdata.end());
  }
  std::size_t length = out.size() - lengthAt - 2;
  out[lengthAt] = static_cast<std::uint8_t>(length >> 8);
  out[lengthAt + 1] = static_cast<std::uint8_t>(length & 0xff);
  if (start + out.size() > limit_) {
    for (const Bytes& suffix : added)
      suffixes_.erase(suffix);
    return false;
  }
  bytes_.insert(bytes_.end(), out.begin(), out.end());
  ++count_;
  bytes_[6] = static_cast<std::uint8_t>(count_ >> 8);
  bytes_[7] = static_cast<std::uint8_t>(count_ & 0xff);
  return true;
}

}  // namespace z2z::mdns::wire
