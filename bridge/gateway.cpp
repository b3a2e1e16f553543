// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/gateway.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>

#include "z2z/bridge/record.hpp"
#include "z2z/config/log.hpp"
#include "z2z/config/values.hpp"
#include "z2z/mdns/dns_wire.hpp"
#include "z2z/mdns/link.hpp"

namespace z2z::bridge {
namespace {

constexpr std::string_view kTag = "bridge";
constexpr std::string_view kImportMarker = "-z2z-";
// A withdrawal that fails is put again, 2 s later and then twice as long each time up to a
// minute, until its service's value has surely expired from the DHT (kValueLifetime): after an
// uplink outage the origin is heard again, and a withdrawal given up on would let importers
// publish the service again.
constexpr std::chrono::milliseconds kPutRetry{2000};
constexpr std::chrono::milliseconds kPutRetryMax{60000};
constexpr int kWithdrawAttempts = 16;  // 2 + 4 + ... + 32 + 10 * 60 s: over kValueLifetime
// Anyone who can write under a key can invent gateways and services: what one importer keeps
// is bounded (ten times the 1,000 services of BENCHMARKS.md), and the excess is refused with a
// warning at most once a minute.
constexpr std::size_t kMaxOrigins = 1024;
constexpr std::size_t kMaxImports = 10000;
constexpr std::size_t kMaxSeqSeen = kMaxImports;  // services per origin, withdrawn ones too
constexpr std::chrono::seconds kRefusalReport{60};

using Clock = std::chrono::steady_clock;

std::string hex64(std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4)
    out[static_cast<std::size_t>(i)] = kDigits[v & 15];
  return out;
}

std::string serviceId(const mdns::ServiceKey& key) {
  return key.type + "/" + key.name;
}

}  // namespace

dht::Key keyFor(std::string_view keyName) {
  return dht::Key::hash("z2z:v1:key:" + std::string(keyName));
}

std::string importHostName(std::string_view originalHost,
                           const std::vector<mdns::Address>& addresses) {
  std::string label;
  auto labels = mdns::wire::splitEscaped(originalHost);
  if (labels && !labels->empty()) {
    for (unsigned char c : labels->front()) {
      if (std::isalnum(c)) {
        label.push_back(static_cast<char>(std::tolower(c)));
      } else if (!label.empty() && label.back() != '-') {
        label.push_back('-');
      }
    }
  }
  while (!label.empty() && label.back() == '-')
    label.pop_back();
  if (label.size() > 40)
    label.resize(40);
  if (label.empty())
    label = "host";
  std::vector<mdns::Address> sorted = addresses;
  std::sort(sorted.begin(), sorted.end());
  std::string text;
  for (const mdns::Address& a : sorted)
    text += a.toString() + " ";
  return label + std::string(kImportMarker) + dht::Key::hash(text).hex().substr(0, 8) + ".local";
}

bool isImportHost(std::string_view host) {
  auto labels = mdns::wire::splitEscaped(host);
  if (!labels || labels->empty())
    return false;
  std::string_view first = labels->front();
  // Avahi may append "-2" style suffixes on a host name conflict.
  auto marker = first.rfind(kImportMarker);
  if (marker == std::string_view::npos)
    return false;
  std::string_view id = first.substr(marker + kImportMarker.size(), 8);
  return id.size() == 8 && config::isLowerHex(id);
}

struct Gateway::Impl {
  struct Export {
    Record record;
    std::uint64_t valueId = 0;
    Clock::time_point at = Clock::now();  // when it was exported
  };
  struct Candidate {
    std::uint64_t seq = 0;
    mdns::Service service;
    Clock::time_point received = Clock::now();  // on this gateway's clock
  };
  struct Import {
    std::map<std::string, Candidate> candidates;  // by origin
    std::string publishedOrigin;
    mdns::Service published;
  };
  struct Origin {
    Clock::time_point lastSeen;
    std::chrono::seconds lease{};
    std::uint64_t maxSeq = 0;
    // Silent past its lease: its services are withdrawn from the link but kept, because its
    // values stay in the DHT and are not delivered again when it is heard from once more.
    bool silent = false;
  };

  mdns::EventLoop& loop;
  dht::Overlay& overlay;
  config::GatewayOptions options;
  RecordCodec codec;
  dht::Key key;
  std::string origin;
  std::mt19937_64 random;
  std::uint64_t lastSeq = 0;
  GatewayCounters counters;
  bool stopping = false;

  std::unique_ptr<mdns::Link> link;
  std::set<std::string> exportTypes;
  std::map<mdns::ServiceKey, Export> exports;
  std::map<mdns::ServiceKey, Import> imports;
  std::map<std::pair<std::string, mdns::ServiceKey>, std::uint64_t> lastSeqSeen;
  std::map<std::string, Origin> origins;
  std::map<std::string, std::size_t> seqSeenPerOrigin;  // entries of lastSeqSeen
  Clock::time_point lastRefusal{};
  std::map<mdns::ServiceKey, Candidate> ownExports;  // read back from the DHT (onOwnRecord)
  std::unique_ptr<mdns::EventLoop::Timer> heartbeat;
  std::unique_ptr<mdns::EventLoop::Timer> originSweep;
  std::map<std::uint64_t, std::unique_ptr<mdns::EventLoop::Timer>> retries;  // by value id
  std::map<std::uint64_t, mdns::ServiceKey> unconfirmed;  // withdrawals not yet acknowledged
  std::unique_ptr<mdns::EventLoop::Timer> shutdownDeadline;
  std::function<void()> shutdownDone;
  std::size_t shutdownPending = 0;
  dht::Overlay::ListenToken listenToken = 0;
  // Shared with DHT callbacks, which may outlive this object by a little.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  Impl(mdns::EventLoop& l, dht::Overlay& o, const config::GatewayOptions& opts,
       const std::string& originId, RecordCodec c)
      : loop(l),
        overlay(o),
        options(opts),
        codec(std::move(c)),
        key(keyFor(opts.key)),
        origin(originId),
        random(std::random_device{}()) {
    exportTypes.insert(options.exportTypes.begin(), options.exportTypes.end());
    log::notice(kTag, "gateway ", origin, ": key '", options.key, "' (DHT key ", key.hex(), ")",
                exportTypes.empty() ? "" : ", exporting", options.import ? ", importing" : "");
    link = std::make_unique<mdns::Link>(
        loop, mdns::LinkOptions{options.interfaces},
        mdns::LinkEvents{[this](const mdns::Service& s) { onFound(s); },
                         [this](const mdns::ServiceKey& k) { onRemoved(k); },
                         [this](bool up) { onDaemon(up); }});
    for (const std::string& type : exportTypes)
      link->browse(type);
    originSweep = loop.timer([this] { sweepOrigins(); });
    // Every gateway listens: importers to import, exporters to know which origins exist.
    // Runs on the DHT thread, also while opendht tears down after this object is gone (seen
    // under AddressSanitizer when a gateway stopped): it touches only the loop, which outlives
    // the overlay, and `this` only on the loop after the check.
    listenToken = overlay.listen(key, [&l = loop, this, alive = std::weak_ptr<bool>(alive)](
                                          std::vector<dht::Value> values, bool expired) {
      l.post([this, alive, values = std::move(values), expired]() mutable {
        if (alive.lock())
          onValues(std::move(values), expired);
      });
    });
    if (!exportTypes.empty()) {
      heartbeat = loop.timer([this] { beat(); });
      beat();
    }
  }

  ~Impl() {
    *alive = false;
    overlay.cancelListen(listenToken);
  }

  std::uint64_t nextSeq() {
    // Microseconds since the epoch: newer than anything an earlier run of this gateway wrote.
    auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    lastSeq = std::max(lastSeq + 1, static_cast<std::uint64_t>(now));
    return lastSeq;
  }

  // ---- export --------------------------------------------------------------------------------

  std::string encode(const Record& record) const {
    std::string text = encodeRecord(record);
    return codec.encode ? codec.encode(text) : text;
  }

  void put(const Record& record, std::uint64_t valueId, bool permanent, int attemptsLeft = 1) {
    if (record.kind == RecordKind::Withdrawn)
      unconfirmed[valueId] = record.service.key;
    std::string text = encode(record);
    overlay.put(key, dht::Value{valueId, dht::Bytes(text.begin(), text.end())}, permanent,
                [&l = loop, this, alive = std::weak_ptr<bool>(alive), record, valueId, permanent,
                 attemptsLeft](bool ok) {
                  l.post([=, this] {
                    if (alive.lock())
                      putDone(ok, record, valueId, permanent, attemptsLeft);
                  });
                });
  }

  void putDone(bool ok, const Record& record, std::uint64_t valueId, bool permanent,
               int attemptsLeft) {
    if (ok) {
      unconfirmed.erase(valueId);
      return;
    }
    ++counters.putsFailed;
    if (record.kind == RecordKind::Heartbeat) {
      log::info(kTag, "heartbeat not stored (no DHT peers yet?)");
      return;
    }
    const char* what = record.kind == RecordKind::Service ? "export" : "withdrawal";
    if (permanent) {
      // opendht keeps announcing a permanent value as nodes appear; just say so.
      log::info(kTag, what, " of ", mdns::describe(record.service.key),
                " not stored yet; the DHT node keeps announcing it");
      return;
    }
    if (attemptsLeft <= 1) {
      log::warning(kTag, what, " of ", mdns::describe(record.service.key), " failed; giving up");
      unconfirmed.erase(valueId);
      return;
    }
    if (stopping)
      return;  // shutdown() withdraws everything once more
    log::info(kTag, what, " of ", mdns::describe(record.service.key), " failed; retrying");
    auto& timer = retries[valueId];
    timer = loop.timer([this, record, valueId, attemptsLeft] {
      put(record, valueId, false, attemptsLeft - 1);
      // Not from inside the timer; the Gateway may be gone by the time the loop gets to it.
      loop.post([this, valueId, alive = std::weak_ptr<bool>(alive)] {
        if (alive.lock())
          retries.erase(valueId);
      });
    });
    int failed = std::min(kWithdrawAttempts - attemptsLeft, 10);
    timer->arm(std::min(kPutRetry * (1 << failed), kPutRetryMax));
  }

  void beat() {
    Record r;
    r.kind = RecordKind::Heartbeat;
    r.origin = origin;
    r.seq = nextSeq();
    r.lease = options.ttl;
    put(r, random(), false);
    heartbeat->arm(std::max<std::chrono::milliseconds>(std::chrono::seconds(1), options.ttl / 3));
  }

  // Which of the service's addresses other sites can use; says why the others are left out.
  mdns::Service reachable(const mdns::Service& s) {
    mdns::Service out = s;
    out.addresses.clear();
    for (const mdns::Address& a : s.addresses) {
      if (a.isLinkLocal() || a.isLoopback()) {
        log::info(kTag, "not exporting address ", a.toString(), " of ", mdns::describe(s.key), ": ",
                  a.isLinkLocal() ? "link-local addresses cannot be reached from another site"
                                  : "loopback");
        continue;
      }
      out.addresses.push_back(a);
    }
    return out;
  }

  void onFound(const mdns::Service& found) {
    if (stopping || !exportTypes.count(found.key.type))
      return;
    if (link->publishes(found.key) || isImportHost(found.host)) {
      log::debug(kTag, "not exporting ", mdns::describe(found.key), ": imported by a gateway");
      return;
    }
    mdns::Service s = reachable(found);
    auto it = exports.find(s.key);
    if (s.addresses.empty()) {
      log::warning(kTag, "not exporting ", mdns::describe(s.key),
                   ": its host has no address other sites can reach");
      if (it != exports.end())
        withdrawExport(it);
      return;
    }
    if (s.addresses.size() > kMaxAddresses) {
      log::info(kTag, "exporting ", kMaxAddresses, " of the ", s.addresses.size(), " addresses of ",
                mdns::describe(s.key), " (a record's limit)");
      s.addresses.resize(kMaxAddresses);
    }
    if (it != exports.end() && it->second.record.service == s)
      return;
    Record r;
    r.kind = RecordKind::Service;
    r.origin = origin;
    r.seq = nextSeq();
    r.lease = options.ttl;
    r.service = s;
    // What importers would refuse is not put (TXT data over a packet's worth, for instance).
    if (auto checked = decodeRecord(encodeRecord(r)); !checked) {
      log::warning(kTag, "not exporting ", mdns::describe(s.key), ": ", checked.error());
      if (it != exports.end())
        withdrawExport(it);
      return;
    }
    std::uint64_t valueId = random();
    if (it != exports.end())
      overlay.cancelPut(key, it->second.valueId);
    put(r, valueId, true);
    exports[s.key] = Export{r, valueId};
    ++counters.exported;
    log::info(kTag, "exported ", mdns::describe(s.key), " port ", s.port, " (", s.addresses.size(),
              " addresses, ", s.txt.size(), " TXT strings)");
  }

  void withdrawExport(std::map<mdns::ServiceKey, Export>::iterator it) {
    overlay.cancelPut(key, it->second.valueId);
    Record r;
    r.kind = RecordKind::Withdrawn;
    r.origin = origin;
    r.seq = nextSeq();
    r.lease = options.ttl;
    r.service.key = it->first;
    put(r, random(), false, kWithdrawAttempts);
    // Another gateway of this link may have exported it before us; we do not read our own
    // withdrawal back.
    dropOlderCopies(it->first,
                    Candidate{it->second.record.seq, it->second.record.service, it->second.at},
                    r.seq);
    ++counters.withdrawn;
    log::info(kTag, "withdrew ", mdns::describe(it->first));
    exports.erase(it);
  }

  void onRemoved(const mdns::ServiceKey& k) {
    if (stopping)
      return;
    auto it = exports.find(k);
    if (it != exports.end())
      withdrawExport(it);
  }

  void onDaemon(bool up) {
    if (up) {
      log::notice(kTag, "avahi-daemon is up: browsing ", exportTypes.size(), " types, ",
                  imports.size(), " imports to publish");
    } else {
      log::warning(kTag, "avahi-daemon went away; exports stay in the DHT until it returns");
    }
  }

  // ---- import --------------------------------------------------------------------------------

  void onValues(std::vector<dht::Value> values, bool expired) {
    for (dht::Value& v : values) {
      ++counters.recordsReceived;
      std::string_view raw(reinterpret_cast<const char*>(v.data.data()), v.data.size());
      Result<std::string> plain =
          codec.decode ? codec.decode(raw) : Result<std::string>(std::string(raw));
      if (!plain) {
        ++counters.recordsRejected;
        log::warning(kTag, "rejected DHT value ", hex64(v.id), " under key '", options.key,
                     "': ", plain.error());
        continue;
      }
      auto r = decodeRecord(*plain);
      if (!r) {
        ++counters.recordsRejected;
        log::warning(kTag, "rejected DHT value ", hex64(v.id), " under key '", options.key,
                     "': ", r.error());
        continue;
      }
      if (r->origin == origin) {
        if (!expired)
          onOwnRecord(*r);
        continue;
      }
      if (expired) {
        onExpired(*r);
        continue;
      }
      if (!touchOrigin(*r))
        continue;
      switch (r->kind) {
        case RecordKind::Heartbeat:
          break;
        case RecordKind::Service:
          onServiceRecord(*r);
          break;
        case RecordKind::Withdrawn:
          onWithdrawnRecord(*r);
          break;
      }
    }
  }

  // Our own records come back from the DHT; an exporting Gateway of this process wrote them
  // (the daemon runs export and import sections as Gateways of one origin). They are never
  // imported, but a withdrawal among them ends what other gateways of this link exported of
  // the same service (dropOlderCopies), and it names no host: the service record before it does.
  void onOwnRecord(const Record& r) {
    if (!options.import)
      return;
    if (r.kind == RecordKind::Service) {
      auto& own = ownExports[r.service.key];
      if (r.seq > own.seq)
        own = Candidate{r.seq, r.service};
    } else if (r.kind == RecordKind::Withdrawn) {
      auto own = ownExports.find(r.service.key);
      if (own != ownExports.end() && own->second.seq < r.seq) {
        Candidate gone = own->second;
        ownExports.erase(own);
        dropOlderCopies(r.service.key, gone, r.seq);
      }
    }
  }

  // Whether the record's origin is known, or now is.
  bool touchOrigin(const Record& r) {
    auto known = origins.find(r.origin);
    if (known == origins.end() && origins.size() >= kMaxOrigins) {
      refuse("gateway ", r.origin, ": ", kMaxOrigins, " gateways are known already");
      return false;
    }
    Origin& o = known != origins.end() ? known->second : origins[r.origin];
    // Old values arrive again when a listen starts: only newer ones prove the origin alive.
    if (r.seq <= o.maxSeq)
      return true;
    o.maxSeq = r.seq;
    o.lastSeen = Clock::now();
    o.lease = r.lease;
    if (o.silent) {
      o.silent = false;
      std::vector<mdns::ServiceKey> kept = candidatesOf(r.origin);
      log::notice(kTag, "gateway ", r.origin, " is heard again: publishing its ", kept.size(),
                  " services");
      for (const mdns::ServiceKey& k : kept)
        refreshImport(k);
    }
    armSweep();
    return true;
  }

  template <typename... Args>
  void refuse(const Args&... args) {
    ++counters.recordsRejected;
    auto now = Clock::now();
    if (now - lastRefusal < kRefusalReport)
      return;
    lastRefusal = now;
    log::warning(kTag, "refusing records under key '", options.key, "' from ", args...);
  }

  bool isLive(const std::string& from) const {
    auto o = origins.find(from);
    return o != origins.end() && !o->second.silent;
  }

  std::vector<mdns::ServiceKey> candidatesOf(const std::string& from) const {
    std::vector<mdns::ServiceKey> keys;
    for (const auto& [k, imp] : imports) {
      if (imp.candidates.contains(from))
        keys.push_back(k);
    }
    return keys;
  }

  // Records of one origin are taken in the order of their sequence numbers. The last one may
  // come again: after its DHT value expired here (the candidate went with it) and was stored
  // anew by its origin.
  bool newer(const Record& r) {
    auto seen = lastSeqSeen.find({r.origin, r.service.key});
    if (seen == lastSeqSeen.end()) {
      // Per origin: one origin inventing names must not stop the others' imports.
      std::size_t& tracked = seqSeenPerOrigin[r.origin];
      if (tracked >= kMaxSeqSeen) {
        refuse("gateway ", r.origin, ": the records of ", kMaxSeqSeen,
               " of its services are tracked already");
        return false;
      }
      ++tracked;
      seen = lastSeqSeen.emplace(std::make_pair(r.origin, r.service.key), 0).first;
    }
    std::uint64_t& last = seen->second;
    if (r.seq < last)
      return false;
    last = r.seq;
    return true;
  }

  void onServiceRecord(const Record& r) {
    if (!options.import)
      return;  // an exporting Gateway keeps no candidates
    if (!imports.contains(r.service.key) && imports.size() >= kMaxImports) {
      refuse("gateway ", r.origin, ": ", kMaxImports, " services are imported already");
      return;
    }
    if (!newer(r))
      return;
    auto known = imports.find(r.service.key);
    if (known != imports.end()) {
      auto c = known->second.candidates.find(r.origin);
      if (c != known->second.candidates.end() && c->second.seq == r.seq)
        return;  // delivered again, nothing new
    }
    if (isImportHost(r.service.host)) {
      ++counters.recordsRejected;
      log::warning(kTag, "ignoring ", mdns::describe(r.service.key), " from gateway ", r.origin,
                   ": it re-exports an import (host ", r.service.host, ")");
      return;
    }
    imports[r.service.key].candidates[r.origin] = Candidate{r.seq, r.service};
    refreshImport(r.service.key);
  }

  void onWithdrawnRecord(const Record& r) {
    if (!options.import || !newer(r))
      return;
    auto it = imports.find(r.service.key);
    if (it != imports.end()) {
      if (auto c = it->second.candidates.find(r.origin); c != it->second.candidates.end())
        dropOlderCopies(r.service.key, c->second, r.seq);
    }
    dropCandidate(r.service.key, r.origin);
  }

  // A service left its link: `gone` is the withdrawing origin's last record of it, `seq` the
  // withdrawal's. Another gateway of that link may have exported it earlier (a leader that
  // died, and the one that took over): without this, importers fell back to the dead leader's
  // record until its lease ran out. Such a copy has the same host and addresses, and its origin
  // has written nothing since `gone` was exported; another site's service of the same name on
  // a host of the same name (two "raspberrypi.local") keeps its own, as its heartbeats are newer.
  void dropOlderCopies(const mdns::ServiceKey& k, const Candidate& gone, std::uint64_t seq) {
    auto it = imports.find(k);
    if (it == imports.end())
      return;
    auto sameService = [&](const Candidate& c) {
      if (c.service.host != gone.service.host || c.seq >= seq)
        return false;
      return std::ranges::any_of(c.service.addresses, [&](const mdns::Address& a) {
        return std::ranges::find(gone.service.addresses, a) != gone.service.addresses.end();
      });
    };
    bool dropped = false;
    for (auto c = it->second.candidates.begin(); c != it->second.candidates.end();) {
      auto o = origins.find(c->first);
      // Quiet: last heard before this gateway got `gone` (its own clock), or, for records that
      // came in one batch at a listen's start, nothing newer by the origins' clocks.
      bool quiet =
          o == origins.end() || o->second.lastSeen < gone.received || o->second.maxSeq < gone.seq;
      if (quiet && sameService(c->second)) {
        // Delivered again, it must not come back (newer() takes an equal seq).
        std::uint64_t& last = lastSeqSeen[{c->first, k}];
        last = std::max(last, c->second.seq + 1);
        c = it->second.candidates.erase(c);
        dropped = true;
      } else {
        ++c;
      }
    }
    if (dropped)
      refreshImport(k);
  }

  void onExpired(const Record& r) {
    if (r.kind != RecordKind::Service)
      return;
    auto it = imports.find(r.service.key);
    if (it == imports.end())
      return;
    auto c = it->second.candidates.find(r.origin);
    if (c != it->second.candidates.end() && c->second.seq == r.seq) {
      dropCandidate(r.service.key, r.origin);
    }
  }

  void dropCandidate(const mdns::ServiceKey& k, const std::string& from) {
    auto it = imports.find(k);
    if (it == imports.end() || it->second.candidates.erase(from) == 0)
      return;
    refreshImport(k);
  }

  // Publishes the newest candidate of a service, or withdraws it when none is left.
  void refreshImport(const mdns::ServiceKey& k) {
    auto it = imports.find(k);
    if (it == imports.end())
      return;
    Import& imp = it->second;
    auto best = imp.candidates.end();
    for (auto c = imp.candidates.begin(); c != imp.candidates.end(); ++c) {
      if (isLive(c->first) && (best == imp.candidates.end() || c->second.seq > best->second.seq))
        best = c;
    }
    if (best == imp.candidates.end()) {
      if (!imp.publishedOrigin.empty()) {
        link->unpublish(serviceId(k));
        ++counters.importsWithdrawn;
        log::info(kTag, "import of ", mdns::describe(k), " withdrawn");
        imp.publishedOrigin.clear();
        imp.published = {};
      }
      if (imp.candidates.empty())
        imports.erase(it);
      return;
    }
    if (!options.import || stopping)
      return;
    mdns::Service s = best->second.service;
    s.key.domain = "local";
    s.addresses.clear();
    for (const mdns::Address& a : best->second.service.addresses) {
      if (!a.isLinkLocal() && !a.isLoopback())
        s.addresses.push_back(a);
    }
    s.host = importHostName(best->second.service.host, s.addresses);
    if (s.addresses.empty()) {
      log::warning(kTag, "not importing ", mdns::describe(k), ": no usable address");
      return;
    }
    if (imp.publishedOrigin == best->first && imp.published == s)
      return;
    if (imp.publishedOrigin.empty())
      ++counters.imported;
    imp.publishedOrigin = best->first;
    imp.published = s;
    log::info(kTag, "importing ", mdns::describe(k), " from gateway ", best->first, " port ",
              s.port, " host ", s.host);
    link->publish(serviceId(k), s, best->second.service.host);
  }

  // When an origin's lease runs out, or the DHT values of a silent one surely have.
  static Clock::time_point sweepTime(const Origin& o) {
    return o.lastSeen + o.lease + (o.silent ? dht::kValueLifetime : Clock::duration::zero());
  }

  void armSweep() {
    if (origins.empty()) {
      originSweep->disarm();
      return;
    }
    auto next = Clock::time_point::max();
    for (const auto& [id, o] : origins)
      next = std::min(next, sweepTime(o));
    auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now());
    originSweep->arm(std::max(delay, std::chrono::milliseconds(0)) + std::chrono::milliseconds(10));
  }

  // Withdraws the services of gateways that have been silent for longer than their lease, and
  // forgets them once their values have expired in the DHT as well.
  void sweepOrigins() {
    auto now = Clock::now();
    for (auto it = origins.begin(); it != origins.end();) {
      if (sweepTime(it->second) > now) {
        ++it;
        continue;
      }
      std::string gone = it->first;
      std::vector<mdns::ServiceKey> affected = candidatesOf(gone);
      if (!it->second.silent) {
        it->second.silent = true;
        ++it;
        ++counters.originsExpired;
        log::notice(kTag, "gateway ", gone, " silent past its lease: withdrawing its ",
                    affected.size(), " services until it is heard again");
        for (const mdns::ServiceKey& k : affected)
          refreshImport(k);
        continue;
      }
      it = origins.erase(it);
      for (const mdns::ServiceKey& k : affected)
        dropCandidate(k, gone);
      std::erase_if(lastSeqSeen, [&](const auto& e) { return e.first.first == gone; });
      seqSeenPerOrigin.erase(gone);
    }
    armSweep();
  }

  // ---- shutdown ------------------------------------------------------------------------------

  void shutdown(std::chrono::milliseconds wait, std::function<void()> done) {
    stopping = true;
    if (heartbeat)
      heartbeat->disarm();
    // Withdrawals not yet confirmed (on their way, or waiting for another try) go out now with
    // the others: given up, their services would stay on other sites until the values expired.
    std::set<mdns::ServiceKey> withdraw;
    for (const auto& [id, k] : unconfirmed)
      withdraw.insert(k);
    unconfirmed.clear();
    retries.clear();
    for (auto& [k, e] : exports) {
      overlay.cancelPut(key, e.valueId);
      withdraw.insert(k);
    }
    shutdownDone = std::move(done);
    shutdownPending = withdraw.size();
    log::notice(kTag, "withdrawing ", exports.size(), " exports and ", imports.size(), " imports");
    for (const mdns::ServiceKey& k : withdraw) {
      Record r;
      r.kind = RecordKind::Withdrawn;
      r.origin = origin;
      r.seq = nextSeq();
      r.lease = options.ttl;
      r.service.key = k;
      std::string text = encode(r);
      overlay.put(key, dht::Value{random(), dht::Bytes(text.begin(), text.end())}, false,
                  [&l = loop, this, alive = std::weak_ptr<bool>(alive)](bool) {
                    l.post([this, alive] {
                      if (alive.lock() && shutdownPending > 0 && --shutdownPending == 0) {
                        finishShutdown();
                      }
                    });
                  });
    }
    exports.clear();
    for (auto& [k, imp] : imports) {
      if (!imp.publishedOrigin.empty())
        link->unpublish(serviceId(k));
    }
    imports.clear();
    // Not from inside the timer, which finishing may destroy; by then the Gateway may be gone.
    shutdownDeadline = loop.timer([this] {
      loop.post([this, alive = std::weak_ptr<bool>(alive)] {
        if (alive.lock())
          finishShutdown();
      });
    });
    shutdownDeadline->arm(shutdownPending == 0 ? std::chrono::milliseconds(0) : wait);
  }

  // shutdownDone may lead to this Gateway's end: nothing of it is touched after the call.
  void finishShutdown() {
    if (shutdownDeadline)
      shutdownDeadline->disarm();
    if (shutdownDone)
      std::exchange(shutdownDone, nullptr)();
  }
};

std::string newOriginId() {
  std::random_device device;
  return hex64(static_cast<std::uint64_t>(device()) << 32 | device());
}

Gateway::Gateway(mdns::EventLoop& loop, dht::Overlay& overlay,
                 const config::GatewayOptions& options, const std::string& origin,
                 RecordCodec codec)
    : impl_(std::make_unique<Impl>(loop, overlay, options, origin, std::move(codec))) {}

GatewayStatus Gateway::status() const {
  GatewayStatus s;
  for (const auto& [k, e] : impl_->exports)
    s.exported.push_back(k);
  for (const auto& [k, imp] : impl_->imports) {
    if (imp.publishedOrigin.empty())
      continue;
    s.imported.push_back({k, impl_->link->publishedName(serviceId(k)), imp.publishedOrigin});
  }
  s.liveGateways = static_cast<std::size_t>(
      std::ranges::count_if(impl_->origins, [](const auto& o) { return !o.second.silent; }));
  s.counters = impl_->counters;
  return s;
}

Gateway::~Gateway() = default;

void Gateway::shutdown(std::chrono::milliseconds wait, std::function<void()> done) {
  impl_->shutdown(wait, std::move(done));
}

void Gateway::republish() {
  for (const auto& [k, e] : impl_->exports)
    impl_->put(e.record, e.valueId, true);
}

const std::string& Gateway::originId() const {
  return impl_->origin;
}
const GatewayCounters& Gateway::counters() const {
  return impl_->counters;
}

}  // namespace z2z::bridge
