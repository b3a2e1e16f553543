// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/group_session.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>

#include "z2z/bridge/gateway.hpp"
#include "z2z/config/log.hpp"
#include "z2z/groups/document.hpp"
#include "z2z/groups/group.hpp"

namespace z2z::bridge {
namespace {

constexpr std::string_view kTag = "groups";
// How long a group whose documents fail authentication waits before it is looked up again.
constexpr std::chrono::seconds kRelookup{60};

std::uint64_t nowSeconds() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::uint64_t nowMicros() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

dht::Bytes bytesOf(std::string_view s) {
  return dht::Bytes(s.begin(), s.end());
}
std::string_view textOf(const dht::Bytes& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// The first 8 hex digits of a public key: enough to tell members apart in logs.
std::string shortKey(const std::string& raw) {
  return groups::toHex(raw).substr(0, 8);
}

std::string describe(const groups::BootstrapEndpoint& ep) {
  bool v6 = ep.address.find(':') != std::string::npos;
  return (v6 ? "[" + ep.address + "]" : ep.address) + ":" + std::to_string(ep.port);
}

}  // namespace

struct GroupSession::Impl {
  GroupContext& ctx;
  config::GroupOptions opts;
  std::uint16_t port;
  std::optional<groups::Secret> secret;
  groups::GroupKeys keys;
  groups::ValueCodec codec;
  groups::InfoTracker tracker;
  groups::MemberView members;
  std::mt19937_64 random{std::random_device{}()};

  std::unique_ptr<dht::Overlay> overlay;
  std::unique_ptr<Gateway> gateway;
  std::unique_ptr<mdns::EventLoop::Timer> tick;
  std::unique_ptr<mdns::EventLoop::Timer> relookup;  // after documents that fail authentication
  dht::Overlay::ListenToken infoListen = 0;
  dht::Overlay::ListenToken membersListen = 0;
  std::uint64_t lastVersion = 0;
  std::uint64_t since = 0;
  bool created = false;
  bool seenOther = false;
  bool followedAlias = false;
  bool stopping = false;
  std::set<std::string> bootstrapped;

  std::function<void()> shutdownDone;
  std::size_t shutdownPending = 0;
  std::unique_ptr<mdns::EventLoop::Timer> shutdownDeadline;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  Impl(GroupContext& c, config::GroupOptions g, std::uint16_t p)
      : ctx(c), opts(std::move(g)), port(p), tracker(true) {
    if (!opts.secretFile.empty()) {
      auto s = groups::loadSecretFile(opts.secretFile);
      if (!s)
        throw Error(s.error());
      secret = *s;
    }
    resolve(opts.name);
    log::notice(kTag, "group '", opts.name, "': looking it up in the main overlay",
                secret ? " (private)" : "");
    lookup();
  }

  ~Impl() {
    *alive = false;
    if (infoListen != 0)
      ctx.main.cancelListen(infoListen);
    if (overlay && membersListen != 0)
      overlay->cancelListen(membersListen);
    gateway.reset();
    overlay.reset();
  }

  void resolve(const std::string& name) {
    keys = groups::GroupKeys::derive(name, secret ? &*secret : nullptr, ctx.options.dhtNetwork);
    codec = secret ? groups::ValueCodec(keys.aeadKey) : groups::ValueCodec();
    tracker = groups::InfoTracker(!keys.isPrivate);
  }

  const std::string& me() const { return ctx.identity.publicKey(); }

  std::uint64_t nextVersion() {
    lastVersion = std::max(lastVersion + 1, nowMicros());
    return lastVersion;
  }

  std::chrono::milliseconds period() const {
    return std::max<std::chrono::milliseconds>(std::chrono::seconds(1), ctx.options.ttl / 3);
  }

  // Runs `f` on the loop thread if this session still exists.
  template <typename F>
  auto onLoop(F f) {
    // The loop outlives every session; `this` is touched only on the loop, after the check.
    return [loop = &ctx.loop, a = std::weak_ptr<bool>(alive), f = std::move(f)](auto&&... args) {
      loop->post([a, f, args...]() mutable {
        if (a.lock())
          f(std::move(args)...);
      });
    };
  }

  // ---- lookup: create or join ------------------------------------------------------------

  void lookup() {
    ctx.main.get(dht::Key::hash(keys.infoKeyName),
                 onLoop([this](std::vector<dht::Value> values) { onLookup(std::move(values)); }));
  }

  void onLookup(std::vector<dht::Value> values) {
    if (stopping)
      return;
    std::uint64_t now = nowSeconds();
    std::size_t authFailures = 0, valid = 0;
    std::vector<groups::Document> infos;
    std::optional<groups::Document> alias;
    for (const dht::Value& v : values) {
      auto doc = groups::readDocument(codec, textOf(v.data), keys.infoKeyName);
      if (!doc) {
        if (codec.sealed() && textOf(v.data).starts_with(groups::kSealedHeader))
          ++authFailures;
        log::warning(kTag, "group '", keys.name,
                     "': rejected a value under its key: ", doc.error());
        continue;
      }
      ++valid;
      if (doc->name != keys.name)
        continue;
      if (doc->type == groups::DocType::GroupInfo) {
        infos.push_back(*doc);
      } else if (doc->type == groups::DocType::Alias && doc->expires > now &&
                 (!alias || doc->version > alias->version)) {
        alias = *doc;
      }
    }
    // Oldest first, so that a chain of maintainers is followed in order.
    std::sort(infos.begin(), infos.end(),
              [](const auto& a, const auto& b) { return a.version < b.version; });
    std::size_t future = 0;
    for (const groups::Document& d : infos) {
      groups::Verdict v = tracker.offer(d, now);
      if (v == groups::Verdict::Untrusted || v == groups::Verdict::Future) {
        log::warning(kTag, "group '", keys.name, "': rejected group-info version ", d.version, ": ",
                     groups::verdictName(v), " (", shortKey(d.signer), ")");
      }
      if (v == groups::Verdict::Future) {
        ++future;
        log::warning(
            kTag, "group '", keys.name, "': it is versioned ",
            static_cast<std::int64_t>(d.version / 1000000) - static_cast<std::int64_t>(now),
            " s and expires ",
            static_cast<std::int64_t>(d.expires) - static_cast<std::int64_t>(now),
            " s from this clock's now: is the clock right?");
      }
    }
    const groups::Document* info = tracker.current(now);
    if (info != nullptr && info->status == groups::DocStatus::Active) {
      std::vector<config::Endpoint> eps;
      for (const auto& ep : info->endpoints)
        eps.push_back(config::Endpoint{ep.address, ep.port});
      log::notice(kTag, "group '", keys.name, "': joining through ", eps.size(),
                  " bootstrap endpoints (group-info version ", info->version, " by ",
                  shortKey(info->signer), ")");
      tryStart(eps, false);
      return;
    }
    if (alias && alias->status == groups::DocStatus::Active && !followedAlias) {
      followedAlias = true;
      log::notice(kTag, "'", keys.name, "' is an alias of group '", alias->target, "'");
      resolve(alias->target);
      lookup();
      return;
    }
    // Sealed documents under the key that this secret cannot open: the secret is wrong, or
    // someone wrote them there (anyone can write under a key). Creating the group would make a
    // second one beside the real; exiting would let anyone stop this gateway. Neither: the
    // group is left out, the rest of the gateway goes on, and the key is looked at again.
    if (keys.isPrivate && authFailures > 0 && valid == 0) {
      log::error(kTag, "group '", keys.name, "': wrong group secret, or values forged under its ",
                 "key: its ", authFailures, " documents fail authentication with the key in ",
                 opts.secretFile, "; not joining or creating it, looking again in ",
                 kRelookup.count(), " s");
      if (!relookup)
        relookup = ctx.loop.timer([this] { lookup(); });
      relookup->arm(kRelookup);
      return;
    }
    // Group-info from the future: this clock is probably behind (not set yet after a boot).
    // Creating the group would make a second one beside the real.
    if (future > 0) {
      log::error(kTag, "group '", keys.name, "': its group-info is dated ahead of this clock; ",
                 "not creating it, looking again in ", kRelookup.count(), " s");
      if (!relookup)
        relookup = ctx.loop.timer([this] { lookup(); });
      relookup->arm(kRelookup);
      return;
    }
    log::notice(kTag, "group '", keys.name, "': no live group-info",
                tracker.removed(now) ? " (it was removed)" : "", ": creating it");
    tryStart({}, true);
  }

  // A group overlay that cannot start (its UDP port taken, say) is tried again later, not
  // left for good in its lookup.
  void tryStart(const std::vector<config::Endpoint>& eps, bool creating) {
    try {
      start(eps, creating);
    } catch (const std::exception& e) {
      log::error(kTag, "group '", keys.name, "': cannot start its overlay: ", e.what(),
                 "; trying again in ", kRelookup.count(), " s");
      gateway.reset();  // before the overlay it uses
      overlay.reset();
      if (!relookup)
        relookup = ctx.loop.timer([this] { lookup(); });
      relookup->arm(kRelookup);
    }
  }

  void start(const std::vector<config::Endpoint>& eps, bool creating) {
    created = creating;
    overlay = dht::startOpendht(dht::NodeOptions{port, ctx.options.dhtBind, keys.network, eps});
    for (const auto& ep : eps)
      bootstrapped.insert(ep.host + ":" + std::to_string(ep.port));
    since = nextVersion();
    config::GatewayOptions g = ctx.options;
    g.key = keys.recordsKeyName;
    g.groups.clear();
    RecordCodec rc;
    if (codec.sealed()) {
      rc.encode = [c = codec, k = keys.recordsKeyName](std::string_view xml) {
        return c.encode(xml, k);
      };
      rc.decode = [c = codec, k = keys.recordsKeyName](std::string_view value) {
        return c.decode(value, k);
      };
    }
    gateway = std::make_unique<Gateway>(ctx.loop, *overlay, g, ctx.origin, std::move(rc));
    membersListen = overlay->listen(dht::Key::hash(keys.membersKeyName),
                                    onLoop([this](std::vector<dht::Value> values, bool expired) {
                                      if (!expired)
                                        onMembers(std::move(values));
                                    }));
    infoListen = ctx.main.listen(dht::Key::hash(keys.infoKeyName),
                                 onLoop([this](std::vector<dht::Value> values, bool expired) {
                                   if (!expired)
                                     onInfo(std::move(values));
                                 }));
    log::notice(kTag, "group '", keys.name, "': ", creating ? "created" : "joined",
                ", overlay network ", keys.network, " on UDP port ", overlay->port(), ", member ",
                shortKey(me()), " at ", ctx.advertise);
    tick = ctx.loop.timer([this] { maintain(); });
    maintain();
  }

  // ---- maintenance -----------------------------------------------------------------------

  bool isMaintainer(std::uint64_t now) const {
    if (members.maintainer(now) != me())
      return false;
    const groups::Document* info = tracker.current(now);
    // A joiner that has not heard of the others yet must not take the group over.
    return created || seenOther || info == nullptr || info->signer == me();
  }

  void maintain() {
    if (stopping)
      return;
    std::uint64_t now = nowSeconds();
    publishMembership(groups::DocStatus::Active);
    if (isMaintainer(now))
      publishInfo(groups::DocStatus::Active);
    for (const std::string& a : opts.aliases)
      publishAlias(a, groups::DocStatus::Active);
    tick->arm(period());
  }

  void put(dht::Overlay& o, const std::string& keyName, const groups::Document& doc, bool counted) {
    std::string value = codec.encode(groups::encodeDocument(doc), keyName);
    if (counted)
      ++shutdownPending;
    o.put(dht::Key::hash(keyName), dht::Value{random(), bytesOf(value)}, false,
          onLoop([this, counted, type = doc.type](bool ok) {
            if (!ok) {
              log::info(kTag, "group '", keys.name, "': ", groups::typeName(type),
                        " not stored (no peers yet?)");
            }
            if (counted && shutdownPending > 0 && --shutdownPending == 0)
              finishShutdown();
          }));
  }

  void publishMembership(groups::DocStatus status) {
    groups::Document m;
    m.type = groups::DocType::Membership;
    m.name = keys.name;
    m.version = nextVersion();
    m.expires = nowSeconds() + static_cast<std::uint64_t>(ctx.options.ttl.count());
    m.status = status;
    m.since = since;
    if (status == groups::DocStatus::Active)
      m.endpoints = {{ctx.advertise, overlay->port()}};
    groups::signDocument(m, ctx.identity);
    members.offer(m, nowSeconds());
    put(*overlay, keys.membersKeyName, m, stopping);
  }

  void publishInfo(groups::DocStatus status) {
    std::uint64_t now = nowSeconds();
    groups::Document g;
    g.type = groups::DocType::GroupInfo;
    g.name = keys.name;
    g.version = nextVersion();
    g.expires = now + static_cast<std::uint64_t>(ctx.options.ttl.count());
    g.status = status;
    if (status == groups::DocStatus::Active) {
      g.endpoints = members.endpoints(now);
      g.memberKeys = members.keys(now);
      const groups::Document* cur = tracker.current(now);
      g.description = !opts.description.empty() ? opts.description
                      : cur != nullptr          ? cur->description
                                                : std::string();
    }
    groups::signDocument(g, ctx.identity);
    tracker.offer(g, now);
    put(ctx.main, keys.infoKeyName, g, stopping);
    if (!keys.isPrivate)
      put(ctx.main, std::string(kGroupDirectoryKey), g, stopping);
  }

  void publishAlias(const std::string& alias, groups::DocStatus status) {
    groups::Document a;
    a.type = groups::DocType::Alias;
    a.name = alias;
    a.target = keys.name;
    a.version = nextVersion();
    a.expires = nowSeconds() + static_cast<std::uint64_t>(ctx.options.ttl.count());
    a.status = status;
    groups::signDocument(a, ctx.identity);
    std::string keyName = groups::GroupKeys::aliasKeyName(alias, secret ? &*secret : nullptr);
    put(ctx.main, keyName, a, stopping);
    if (!keys.isPrivate)
      put(ctx.main, std::string(kGroupDirectoryKey), a, stopping);
  }

  // ---- what others write -----------------------------------------------------------------

  void onInfo(std::vector<dht::Value> values) {
    if (stopping)
      return;
    std::uint64_t now = nowSeconds();
    for (const dht::Value& v : values) {
      auto doc = groups::readDocument(codec, textOf(v.data), keys.infoKeyName);
      if (!doc) {
        log::warning(kTag, "group '", keys.name, "': rejected group-info value ", v.id, ": ",
                     doc.error());
        continue;
      }
      if (doc->type != groups::DocType::GroupInfo || doc->name != keys.name)
        continue;
      std::uint64_t had = tracker.current(now) ? tracker.current(now)->version : 0;
      groups::Verdict verdict = tracker.offer(*doc, now);
      switch (verdict) {
        case groups::Verdict::Accepted:
          log::info(kTag, "group '", keys.name, "': group-info version ", doc->version, " by ",
                    shortKey(doc->signer), ", ", doc->endpoints.size(), " endpoints");
          break;
        case groups::Verdict::Known:
        case groups::Verdict::Expired:
          break;
        case groups::Verdict::Replayed:
          log::info(kTag, "group '", keys.name, "': ignoring group-info version ", doc->version,
                    ": replayed or stale (have version ", had, ")");
          break;
        case groups::Verdict::Untrusted:
        case groups::Verdict::Future:
          log::warning(kTag, "group '", keys.name, "': rejected group-info version ", doc->version,
                       ": ", groups::verdictName(verdict), " (", shortKey(doc->signer), ")");
          break;
      }
      if ((verdict == groups::Verdict::Accepted || verdict == groups::Verdict::Untrusted) &&
          doc->status == groups::DocStatus::Active) {
        merge(*doc, now);
      }
    }
  }

  // Another gateway advertises the group with members this one does not know (two created
  // it at the same moment): join their overlay too; one overlay results, one maintainer.
  void merge(const groups::Document& doc, std::uint64_t now) {
    auto known = members.keys(now);
    if (std::find(known.begin(), known.end(), doc.signer) != known.end())
      return;
    std::vector<config::Endpoint> fresh;
    for (const auto& ep : doc.endpoints) {
      if (ep.address == ctx.advertise && ep.port == overlay->port())
        continue;
      if (bootstrapped.insert(ep.address + ":" + std::to_string(ep.port)).second) {
        fresh.push_back(config::Endpoint{ep.address, ep.port});
      }
    }
    if (fresh.empty())
      return;
    log::notice(kTag, "group '", keys.name, "': another overlay of the group (by ",
                shortKey(doc.signer), "): merging through ", describe(doc.endpoints.front()));
    overlay->bootstrap(fresh);
  }

  void onMembers(std::vector<dht::Value> values) {
    if (stopping)
      return;
    std::uint64_t now = nowSeconds();
    bool changed = false;
    for (const dht::Value& v : values) {
      auto doc = groups::readDocument(codec, textOf(v.data), keys.membersKeyName);
      if (!doc) {
        log::warning(kTag, "group '", keys.name, "': rejected membership value ", v.id, ": ",
                     doc.error());
        continue;
      }
      if (doc->type != groups::DocType::Membership || doc->name != keys.name)
        continue;
      if (doc->signer == me())
        continue;
      auto before = members.keys(now);
      bool wasLive = std::find(before.begin(), before.end(), doc->signer) != before.end();
      if (!members.offer(*doc, now))
        continue;
      seenOther = true;
      auto after = members.keys(now);
      bool isLive = std::find(after.begin(), after.end(), doc->signer) != after.end();
      if (wasLive != isLive) {
        changed = true;
        log::info(kTag, "group '", keys.name, "': member ", shortKey(doc->signer),
                  isLive ? " is here" : " left", " (", after.size(), " members)");
      }
    }
    if (changed && isMaintainer(now))
      publishInfo(groups::DocStatus::Active);
  }

  // ---- leave -------------------------------------------------------------------------------

  void shutdown(std::chrono::milliseconds wait, std::function<void()> done) {
    stopping = true;
    if (relookup)
      relookup->disarm();
    shutdownDone = std::move(done);
    if (!gateway) {
      ctx.loop.post([this, a = std::weak_ptr<bool>(alive)] {
        if (a.lock())
          finishShutdown();
      });
      return;
    }
    tick->disarm();
    ++shutdownPending;  // the gateway's own withdrawals
    gateway->shutdown(wait, [this] {
      if (shutdownPending > 0 && --shutdownPending == 0)
        finishShutdown();
    });
    std::uint64_t now = nowSeconds();
    publishMembership(groups::DocStatus::Removed);
    if (members.live(now).empty()) {
      log::notice(kTag, "group '", keys.name, "': last member leaving: removing the group");
      publishInfo(groups::DocStatus::Removed);
      for (const std::string& a : opts.aliases)
        publishAlias(a, groups::DocStatus::Removed);
    } else {
      log::notice(kTag, "group '", keys.name, "': leaving (", members.live(now).size(),
                  " members stay)");
    }
    shutdownDeadline = ctx.loop.timer([this] {
      ctx.loop.post([this, a = std::weak_ptr<bool>(alive)] {
        if (a.lock())
          finishShutdown();
      });
    });
    shutdownDeadline->arm(wait + std::chrono::milliseconds(500));
  }

  void finishShutdown() {
    if (shutdownDone)
      std::exchange(shutdownDone, nullptr)();
  }
};

GroupSession::GroupSession(GroupContext& context, config::GroupOptions group, std::uint16_t port)
    : impl_(std::make_unique<Impl>(context, std::move(group), port)) {}

GroupSession::~GroupSession() = default;

void GroupSession::shutdown(std::chrono::milliseconds wait, std::function<void()> done) {
  impl_->shutdown(wait, std::move(done));
}

bool GroupSession::joined() const {
  return impl_->gateway != nullptr;
}

std::vector<std::string> listGroups(dht::Overlay& main) {
  // Shared with the callback, which may come after the wait has given up.
  struct Wait {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::vector<dht::Value> values;
  };
  auto w = std::make_shared<Wait>();
  main.get(dht::Key::hash(kGroupDirectoryKey), [w](std::vector<dht::Value> found) {
    std::lock_guard lock(w->m);
    w->values = std::move(found);
    w->done = true;
    w->cv.notify_all();
  });
  std::vector<dht::Value> values;
  {
    std::unique_lock lock(w->m);
    w->cv.wait_for(lock, std::chrono::seconds(15), [&] { return w->done; });
    values = w->values;
  }
  std::uint64_t now = nowSeconds();
  std::map<std::string, groups::Document> newest;
  groups::ValueCodec plain;
  for (const dht::Value& v : values) {
    auto doc = groups::readDocument(plain, textOf(v.data), kGroupDirectoryKey);
    if (!doc) {
      log::info(kTag, "directory: rejected a value: ", doc.error());
      continue;
    }
    if (doc->type == groups::DocType::Membership || !groups::plausiblyDated(*doc, now))
      continue;
    std::string id = doc->name;
    auto it = newest.find(id);
    if (it == newest.end() || it->second.version < doc->version)
      newest[id] = *doc;
  }
  std::vector<std::string> lines;
  for (const auto& [name, d] : newest) {
    if (d.status != groups::DocStatus::Active || d.expires <= now)
      continue;
    if (d.type == groups::DocType::Alias) {
      lines.push_back(name + "\talias of " + d.target);
      continue;
    }
    std::string eps;
    for (const auto& ep : d.endpoints)
      eps += (eps.empty() ? "" : ",") + describe(ep);
    lines.push_back(name + "\t" + std::to_string(d.memberKeys.size()) + " members\t" + eps + "\t" +
                    d.description);
  }
  return lines;
}

std::string advertiseAddress(const config::GatewayOptions& options) {
  if (!options.dhtBind.empty() && options.dhtBind != "0.0.0.0" && options.dhtBind != "::") {
    return options.dhtBind;
  }
  char buf[INET6_ADDRSTRLEN] = {};
  for (const config::Endpoint& ep : options.bootstrap) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(ep.host.c_str(), std::to_string(ep.port).c_str(), &hints, &res) != 0)
      continue;
    std::string found;
    for (addrinfo* a = res; a != nullptr && found.empty(); a = a->ai_next) {
      int fd = ::socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0)
        continue;
      sockaddr_storage local{};
      socklen_t len = sizeof local;
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
        const void* addr =
            local.ss_family == AF_INET
                ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr)
                : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr);
        if (inet_ntop(local.ss_family, addr, buf, sizeof buf) != nullptr)
          found = buf;
      }
      ::close(fd);
    }
    freeaddrinfo(res);
    if (!found.empty())
      return found;
  }
  ifaddrs* ifs = nullptr;
  std::string found;
  if (getifaddrs(&ifs) == 0) {
    for (ifaddrs* i = ifs; i != nullptr && found.empty(); i = i->ifa_next) {
      if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET)
        continue;
      auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      std::uint32_t a = ntohl(sin->sin_addr.s_addr);
      if ((a >> 24) == 127 || (a >> 16) == 0xa9fe)
        continue;
      if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf) != nullptr)
        found = buf;
    }
    freeifaddrs(ifs);
  }
  return found.empty() ? "127.0.0.1" : found;
}

}  // namespace z2z::bridge
