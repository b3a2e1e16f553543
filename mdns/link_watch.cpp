// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/mdns/link_watch.hpp"

#include <dbus/dbus.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "z2z/config/guard.hpp"
#include "z2z/config/log.hpp"
#include "z2z/mdns/dns_wire.hpp"
#include "z2z/mdns/event_loop.hpp"
#include "z2z/mdns/mdns_socket.hpp"

namespace z2z::mdns {
namespace {

constexpr std::string_view kTag = "mdns";
// Datagrams read per readable event, so that one busy interface cannot hold the loop.
constexpr int kReadsPerEvent = 64;
// ... and per readPending() call: at most what a receive buffer holds.
constexpr int kReadsPending = 1024;
constexpr std::chrono::seconds kLossReport{60};

// At most this many services described at once (LinkWatch::describe), as many as a Link
// follows of one type, with at most kMaxDescribedBytes of TXT data among them.
constexpr std::size_t kMaxDescribed = 4096;
constexpr std::size_t kMaxDescribedBytes = 1 << 20;
// What was heard longer ago describes nothing: a new service is listed by the daemon moments
// after its announcement, and a change the socket missed must not come back later.
constexpr std::chrono::seconds kDescribedAge{10};

using wire::foldCase;
using wire::sameName;

// An instance name as DNS-SD has them (RFC 6763 section 4.1.1): UTF-8 without NUL. Older devices
// send Latin-1; avahi-daemon cannot list such a service, and libdbus aborts the process that
// passes one on. wire::parseMessage already stops at such a label, as avahi-daemon does; this
// is the guard at the edge to D-Bus.
bool usableInstanceName(const std::string& name) {
  return !name.empty() && name.find('\0') == std::string::npos &&
         dbus_validate_utf8(name.c_str(), nullptr);
}

}  // namespace

struct LinkWatch::Impl {
  struct Socket {
    Fd fd;
    std::unique_ptr<EventLoop::Watch> watch;
    std::uint32_t drops = 0;  // the kernel's count (SO_RXQ_OVFL) when last seen
  };

  // A described service: ASCII case does not count in names (RFC 6762 section 16). Over either
  // address family: a host announces the same records over both, and under load one family's
  // datagrams came a second after the other's (tests/bench/scale.sh).
  struct DescribedKey {
    int ifindex = 0;
    std::string name;  // lower case
    std::string type;  // lower case, "_daap._tcp"
    auto operator<=>(const DescribedKey&) const = default;
  };
  struct Heard {
    std::optional<std::pair<std::string, std::uint16_t>> srv;  // host, port
    std::optional<wire::Bytes> txt;                            // RDATA, checked when kept
    std::chrono::steady_clock::time_point at;                  // when last heard
    // Its PTR record came before its SRV and TXT (a responder fills a datagram with a burst's
    // records in order, and the last PTR's SRV and TXT go in the next one; avahi-daemon 0.8 sent
    // a burst's PTR records up to a second ahead): reported again once they are here.
    struct Ptr {
      std::string name;
      int family = 0;
      std::uint32_t ttl = 0;
    };
    std::optional<Ptr> ptr;
    bool complete() const { return srv && txt; }
  };

  EventLoop& loop;
  Seen seen;
  Lost lost;
  std::set<std::string> types;                    // "_daap._tcp"
  std::set<std::pair<int, int>> wanted;           // (ifindex, family)
  std::map<std::pair<int, int>, Socket> sockets;  // open while a type is watched or described
  std::set<std::pair<int, int>> failed;
  std::set<int> ipv6Too;  // interfaces listened to over IPv6 as well (listenIpv6Too())
  std::array<std::uint8_t, wire::kMaxMessage + 1> buffer{};
  unsigned long rejected = 0;
  std::chrono::steady_clock::time_point lastLossReport{};
  // Types described: by their lower-case names, as describe() was given them; what was heard of
  // their services.
  std::map<std::string, std::string> describing;
  std::map<DescribedKey, Heard> heard;
  std::size_t heardBytes = 0;              // of TXT data in `heard`
  std::set<std::pair<int, int>> reported;  // where a socket could not be opened, logged once
  std::unique_ptr<EventLoop::Timer> sweep;
  unsigned long notKept = 0;
  bool draining = false;

  Impl(EventLoop& l, Seen s, Lost d) : loop(l), seen(std::move(s)), lost(std::move(d)) {
    sweep = loop.timer([this] { guarded(kTag, "mDNS descriptions", [&] { sweepHeard(); }); });
  }

  bool active() const { return !types.empty() || !describing.empty(); }

  void openWanted() {
    auto w = wanted;  // open() forgets an interface that is gone
    for (auto [ifindex, family] : w)
      open(ifindex, family);
  }

  void closeIfIdle() {
    if (active())
      return;
    sockets.clear();  // nothing to follow: no wake-up for each packet on the link
    failed.clear();   // tried again at the next start
  }

  // Interfaces that are gone: their sockets would wait for nothing until avahi-daemon restarts.
  void forgetGone() {
    char name[IF_NAMESIZE];
    for (auto it = wanted.begin(); it != wanted.end();) {
      if (::if_indextoname(static_cast<unsigned>(it->first), name) != nullptr) {
        ++it;
        continue;
      }
      if (sockets.erase(*it) > 0)
        log::info(kTag, "not listening for mDNS on interface ", it->first, ": it is gone");
      failed.erase(*it);
      reported.erase(*it);
      ipv6Too.erase(it->first);
      it = wanted.erase(it);
    }
  }

  // What was heard too long ago to describe anything is forgotten.
  void sweepHeard() {
    auto now = std::chrono::steady_clock::now();
    forget([&](const DescribedKey&, const Heard& h) { return stale(h, now); });
    if (!heard.empty())
      sweep->arm(kDescribedAge);
  }

  template <typename Which>
  void forget(Which which) {
    for (auto it = heard.begin(); it != heard.end();) {
      if (which(it->first, it->second)) {
        heardBytes -= it->second.txt ? it->second.txt->size() : 0;
        it = heard.erase(it);
      } else {
        ++it;
      }
    }
  }

  // An SRV or TXT record of a described type's service ("Name._daap._tcp.local").
  void keep(const wire::ReceivedRecord& r, int ifindex) {
    if (r.name.size() != 4 || !sameName(r.name[3], "local"))
      return;
    auto type = describedType(r.name[1], r.name[2]);
    if (type == describing.end() || !usableInstanceName(r.name[0]))
      return;
    DescribedKey key{ifindex, foldCase(r.name[0]), type->first};
    if ((r.ttl & 0x80000000U) != 0 || r.ttl == 0) {  // a goodbye (RFC 2181 section 8)
      forget([&](const DescribedKey& k, const Heard&) { return k == key; });
      return;
    }
    auto now = std::chrono::steady_clock::now();
    auto it = heard.find(key);
    if (it != heard.end() && r.type == wire::kTypeTxt && it->second.txt == r.txt) {
      it->second.at = now;  // heard again (every answer to a query repeats it)
      return;
    }
    if (r.type == wire::kTypeTxt && !wire::parseTxtRdata(r.txt)) {
      ++rejected;
      log::debug(kTag, "TXT record of ", r.name[0], " on interface ", ifindex,
                 " ignored: a string runs past its end (", rejected, " rejected so far)");
      return;
    }
    std::size_t before = it != heard.end() && it->second.txt ? it->second.txt->size() : 0;
    std::size_t after = r.type == wire::kTypeTxt ? r.txt.size() : before;
    if (heardBytes - before + after <= kMaxDescribedBytes && it == heard.end())
      it = add(std::move(key), now);
    if (it == heard.end() || heardBytes - before + after > kMaxDescribedBytes) {
      ++notKept;
      log::debug(kTag, "SRV/TXT of ", r.name[0], " not kept: ", heard.size(), " services and ",
                 heardBytes, " bytes of TXT described already (", notKept, " so far)");
      return;
    }
    it->second.at = now;
    if (r.type == wire::kTypeSrv) {
      it->second.srv.emplace(wire::avahiName(r.target), r.port);
    } else {
      heardBytes = heardBytes - before + after;
      it->second.txt = r.txt;
    }
    if (it->second.complete() && it->second.ptr) {
      Heard::Ptr ptr = std::move(*it->second.ptr);
      it->second.ptr.reset();
      seen(ptr.name, describing.at(it->first.type), ifindex, ptr.family, ptr.ttl);
    }
  }

  // A new entry in `heard`, where there is room (stale entries make room), or heard.end().
  std::map<DescribedKey, Heard>::iterator add(DescribedKey key,
                                              std::chrono::steady_clock::time_point now) {
    if (heard.size() >= kMaxDescribed)
      forget([&](const DescribedKey&, const Heard& h) { return stale(h, now); });
    if (heard.size() >= kMaxDescribed)
      return heard.end();
    if (!sweep->armed())
      sweep->arm(kDescribedAge);
    auto it = heard.emplace(std::move(key), Heard{}).first;
    it->second.at = now;
    return it;
  }

  // A PTR record of a described type's service whose SRV and TXT have not all been heard: they
  // may follow in the next datagram.
  void awaitDescription(const std::string& name, const std::string& folded, int ifindex, int family,
                        std::uint32_t ttl) {
    DescribedKey key{ifindex, foldCase(name), folded};
    auto it = heard.find(key);
    if (ttl == 0) {
      if (it != heard.end())
        it->second.ptr.reset();
      return;
    }
    auto now = std::chrono::steady_clock::now();
    if (it != heard.end() && stale(it->second, now)) {
      // Heard too long ago to describe anything (described()): only fresh SRV and TXT will.
      forget([&](const DescribedKey& k, const Heard&) { return k == key; });
      it = heard.end();
    }
    if (it != heard.end() && it->second.complete())
      return;
    if (it == heard.end() && (it = add(std::move(key), now)) == heard.end())
      return;
    if (!it->second.srv && !it->second.txt)
      it->second.at = now;  // nothing heard yet that could be stale
    it->second.ptr = Heard::Ptr{name, family, ttl};
  }

  void open(int ifindex, int family) {
    auto where = std::make_pair(ifindex, family);
    if (ifindex <= 0 || sockets.contains(where) || failed.contains(where))
      return;
    // Only describing, one address family is enough: hosts announce the same records over both
    // (DescribedKey), and each datagram heard costs a wake-up and a parse. IPv4 where the daemon
    // uses it; IPv6 as well once a type is watched (its services are followed per family).
    // And IPv6 where a host announces over IPv6 only (listenIpv6Too()).
    auto v4 = std::make_pair(ifindex, AF_INET);
    if (family == AF_INET6 && types.empty() && !ipv6Too.contains(ifindex) && wanted.contains(v4) &&
        !failed.contains(v4)) {
      return;
    }
    std::string why;
    Fd fd = openMdnsSocket(family, ifindex, true, why);
    if (fd.fd < 0) {
      char name[IF_NAMESIZE];
      if (::if_indextoname(static_cast<unsigned>(ifindex), name) == nullptr) {
        // The interface went away (a USB adapter, a VPN): nothing to follow there.
        wanted.erase(where);
        log::info(kTag, "not listening for mDNS on interface ", ifindex, ": it is gone");
        return;
      }
      failed.insert(where);
      log::emit(reported.insert(where).second ? log::Level::Warning : log::Level::Debug, kTag,
                "cannot listen for mDNS on interface ", ifindex,
                family == AF_INET ? " (IPv4): " : " (IPv6): ", why,
                "; services there are known only through avahi-daemon");
      return;
    }
    int raw = fd.fd;
    Socket& s = sockets[where];
    s.fd = std::move(fd);
    s.watch = loop.watchReadable(
        raw, [this, where] { guarded(kTag, "mDNS listener", [&] { drain(where); }); });
    log::debug(kTag, "listening for mDNS on interface ", ifindex,
               family == AF_INET ? " (IPv4)" : " (IPv6)");
    if (family == AF_INET && types.empty() && !ipv6Too.contains(ifindex) && !draining)
      sockets.erase({ifindex, AF_INET6});  // opened first (above)
  }

  void drain(std::pair<int, int> where, int reads = kReadsPerEvent) {
    if (draining)
      return;  // reached again through a callback: the outer call reads on
    draining = true;
    struct Done {
      bool& flag;
      ~Done() { flag = false; }
    } done{draining};
    auto [ifindex, family] = where;
    for (int n = 0; n < reads; ++n) {
      auto it = sockets.find(where);
      if (it == sockets.end())
        return;
      sockaddr_storage from{};
      iovec data{buffer.data(), buffer.size()};
      alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(std::uint32_t))> control{};
      msghdr m{};
      m.msg_name = &from;
      m.msg_namelen = sizeof from;
      m.msg_iov = &data;
      m.msg_iovlen = 1;
      m.msg_control = control.data();
      m.msg_controllen = control.size();
      ssize_t got = ::recvmsg(it->second.fd.fd, &m, 0);
      if (got < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
          log::warning(kTag, "reading mDNS on interface ", ifindex, ": ", std::strerror(errno));
        return;
      }
      for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL)
          continue;
        std::uint32_t drops = 0;
        std::memcpy(&drops, CMSG_DATA(c), sizeof drops);
        if (drops != it->second.drops) {
          // Once per kLossReport at notice level: drops come in bursts.
          auto now = std::chrono::steady_clock::now();
          bool report = now - lastLossReport >= kLossReport;
          log::emit(report ? log::Level::Notice : log::Level::Debug, kTag, "the kernel dropped ",
                    drops - it->second.drops, " mDNS datagrams on interface ", ifindex,
                    " (receive buffer full) (", drops, " so far)");
          if (report)
            lastLossReport = now;
          it->second.drops = drops;
          // A change may have been missed: nothing heard so far describes a service any more.
          forget([](const DescribedKey&, const Heard&) { return true; });
          lost();
        }
      }
      std::uint16_t port = from.ss_family == AF_INET
                               ? ntohs(reinterpret_cast<sockaddr_in*>(&from)->sin_port)
                               : ntohs(reinterpret_cast<sockaddr_in6*>(&from)->sin6_port);
      if (port != kMdnsPort) {
        ++rejected;
        continue;
      }
      read(static_cast<std::size_t>(got), ifindex, family);
    }
  }

  void read(std::size_t size, int ifindex, int family) {
    auto message = wire::parseMessage(buffer.data(), size);
    if (!message) {
      ++rejected;
      log::debug(kTag, "mDNS message on interface ", ifindex, " rejected (", rejected,
                 " so far): ", message.error());
      return;
    }
    if (message->skipped > 0) {
      rejected += message->skipped;
      log::debug(kTag, message->skipped, " records of an mDNS message on interface ", ifindex,
                 " left out (", rejected, " rejected so far): ", message->whySkipped);
    }
    const std::vector<wire::ReceivedRecord>& records = message->records;
    // SRV and TXT records first: a PTR record reported below may be described by records
    // further on in the same message (an answer with them among its additional records).
    if (!describing.empty()) {
      for (const wire::ReceivedRecord& r : records) {
        if (r.type == wire::kTypeSrv || r.type == wire::kTypeTxt)
          keep(r, ifindex);
      }
    }
    for (const wire::ReceivedRecord& r : records) {
      // "_daap._tcp.local" PTR "Name._daap._tcp.local"
      if (r.type != wire::kTypePtr || r.name.size() != 3 || !sameName(r.name[2], "local") ||
          r.target.size() != 4) {
        continue;
      }
      bool sameOwner = true;
      for (std::size_t i = 0; i < 3; ++i)
        sameOwner = sameOwner && sameName(r.target[i + 1], r.name[i]);
      if (!sameOwner)
        continue;
      if (!usableInstanceName(r.target[0])) {
        ++rejected;
        log::debug(kTag, "PTR record on interface ", ifindex,
                   " ignored: its instance name is not UTF-8 (", rejected, " rejected so far)");
        continue;
      }
      // A TTL with its top bit set counts as 0 (RFC 2181 section 8).
      std::uint32_t ttl = (r.ttl & 0x80000000U) != 0 ? 0 : r.ttl;
      if (const std::string* type = watchedType(r.name[0], r.name[1])) {
        seen(r.target[0], *type, ifindex, family, ttl);
      } else if (auto d = describedType(r.name[0], r.name[1]); d != describing.end()) {
        awaitDescription(r.target[0], d->first, ifindex, family, ttl);
        seen(r.target[0], d->second, ifindex, family, ttl);
      }
    }
  }

  // The watched type "_daap._tcp" (as watch() was given it) of these labels, if any.
  const std::string* watchedType(std::string_view service, std::string_view proto) const {
    for (const std::string& type : types) {
      if (isType(type, service, proto))
        return &type;
    }
    return nullptr;
  }

  // The described type of these labels, if any: lower case, as describe() was given it.
  std::map<std::string, std::string>::const_iterator describedType(std::string_view service,
                                                                   std::string_view proto) const {
    return std::find_if(describing.begin(), describing.end(),
                        [&](const auto& d) { return isType(d.first, service, proto); });
  }

  // What was heard of a service, if it was heard recently enough to describe it.
  const Heard* fresh(const std::string& name, const std::string& type, int ifindex) const {
    auto it = heard.find(DescribedKey{ifindex, foldCase(name), foldCase(type)});
    if (it == heard.end() || stale(it->second, std::chrono::steady_clock::now()))
      return nullptr;
    return &it->second;
  }

  static bool stale(const Heard& h, std::chrono::steady_clock::time_point now) {
    return now - h.at > kDescribedAge;
  }

  // "_daap._tcp" is "_daap" and "_tcp" (RFC 6762 section 16: ASCII case does not count).
  static bool isType(std::string_view type, std::string_view service, std::string_view proto) {
    std::size_t dot = type.find('.');
    return dot != std::string_view::npos && sameName(service, type.substr(0, dot)) &&
           sameName(proto, type.substr(dot + 1));
  }
};

LinkWatch::LinkWatch(EventLoop& loop, Seen seen, Lost lost)
    : impl_(std::make_unique<Impl>(loop, std::move(seen), std::move(lost))) {}

LinkWatch::~LinkWatch() = default;

void LinkWatch::watch(const std::string& type) {
  impl_->types.insert(type);
  impl_->openWanted();
}

void LinkWatch::unwatch(const std::string& type) {
  impl_->types.erase(type);
  impl_->closeIfIdle();
}

void LinkWatch::listen(int ifindex, int family) {
  if (impl_->wanted.insert({ifindex, family}).second)
    impl_->forgetGone();  // a new interface may be what replaced one (a VPN, a USB adapter)
  if (impl_->active())
    impl_->open(ifindex, family);
}

void LinkWatch::forgetGoneInterfaces() {
  impl_->forgetGone();
}

void LinkWatch::describe(const std::string& type) {
  if (impl_->describing.try_emplace(foldCase(type), type).second)
    impl_->openWanted();
}

void LinkWatch::undescribe(const std::string& type) {
  std::string folded = foldCase(type);
  if (impl_->describing.erase(folded) == 0)
    return;
  impl_->forget([&](const Impl::DescribedKey& k, const Impl::Heard&) { return k.type == folded; });
  impl_->closeIfIdle();
}

void LinkWatch::readPending() {
  std::vector<std::pair<int, int>> where;
  for (const auto& [w, _] : impl_->sockets)
    where.push_back(w);
  for (auto w : where)
    impl_->drain(w, kReadsPending);
}

std::optional<LinkWatch::Description> LinkWatch::described(const std::string& name,
                                                           const std::string& type,
                                                           int ifindex) const {
  const Impl::Heard* h = impl_->fresh(name, type, ifindex);
  if (h == nullptr || !h->complete())
    return std::nullopt;
  auto txt = wire::parseTxtRdata(*h->txt);  // checked when kept
  if (!txt)
    return std::nullopt;
  return Description{h->srv->first, h->srv->second, std::move(*txt)};
}

bool LinkWatch::listening() const {
  return !impl_->sockets.empty() && impl_->failed.empty();
}

bool LinkWatch::listening(int ifindex, int family) const {
  return impl_->sockets.contains({ifindex, family});
}

void LinkWatch::listenIpv6Too(int ifindex) {
  if (!impl_->ipv6Too.insert(ifindex).second)
    return;
  log::info(kTag, "a host announces over IPv6 only on interface ", ifindex,
            ": listening there over IPv6 as well");
  if (impl_->active() && impl_->wanted.contains({ifindex, AF_INET6}))
    impl_->open(ifindex, AF_INET6);
}

bool LinkWatch::heardOf(const std::string& name, const std::string& type, int ifindex) const {
  return impl_->fresh(name, type, ifindex) != nullptr;
}

}  // namespace z2z::mdns
