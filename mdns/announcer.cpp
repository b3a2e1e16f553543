// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/mdns/announcer.hpp"

#include <avahi-common/address.h>
#include <avahi-common/defs.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>

#include "z2z/config/guard.hpp"
#include "z2z/config/log.hpp"
#include "z2z/mdns/dns_wire.hpp"
#include "z2z/mdns/event_loop.hpp"
#include "z2z/mdns/mdns_socket.hpp"

namespace z2z::mdns {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kTag = "mdns";
constexpr std::uint16_t kTypeA = 1;
// A packet's DNS message fits a 1500-byte link MTU under an IPv6 and a UDP header. A record too
// big for that goes alone, up to the 9000 bytes RFC 6762 section 17 allows (wire::kMaxMessage).
constexpr std::size_t kPacketLimit = 1400;
// The gaps between the three announcements: at least 1 s, doubling (RFC 6762 section 8.3), as
// avahi-daemon does.
constexpr std::chrono::milliseconds kRepeatGaps[] = {std::chrono::milliseconds(1000),
                                                     std::chrono::milliseconds(2000)};
// A goodbye goes twice, the second time 1.5 s after the first. The daemon may still send an
// answer to a query that came before the group's Free (avahi-daemon defers multicast answers by
// up to 120 ms), and a receiver caches that answer again over the first goodbye; the second
// takes it out. It comes only after receivers have dropped the record (1 s after the first
// goodbye): avahi-daemon restarts that second for every goodbye it hears, so a goodbye repeated
// sooner would keep the record listed for longer.
constexpr std::chrono::milliseconds kGoodbyeGaps[] = {std::chrono::milliseconds(1500)};
// Pacing, first announcements and goodbyes before repeats: at most 100 packets a second, about
// 20 services to a packet (names compressed, RDATA too), so a burst of a thousand services is
// 50 packets per family. Every receiving daemon reads them through one socket buffer (208 KiB
// by default, ~90 full-size datagrams), and avahi-daemon's work grows with the square of the
// services per fraction of a second: it keeps the records it receives, and the queries its
// browsers post for each new service, in lists that it scans for every new one (`perf` on the
// receiving daemon in a burst: three quarters of its samples in strcasecmp). Faster is slower.
constexpr int kPacketsPerTick = 1;
constexpr std::size_t kRepeatBatch = 64;  // records, a few packets
constexpr std::chrono::milliseconds kTick{10};
// Repeats go slower still, one packet in kRepeatSpacing, so that in a burst a receiver hears
// each new service about once, as through a reflector, and the repeats come after.
constexpr std::chrono::milliseconds kRepeatSpacing{40};
// Records published within this long share packets: imports arrive from the DHT a few at a
// time.
constexpr std::chrono::milliseconds kGather{20};
constexpr std::chrono::seconds kInterfacesMaxAge{1};
// How often the interfaces are listed while imports are held, to find those that came up or
// came back (getifaddrs(), a netlink dump, and if_nametoindex() per address: well under a
// millisecond on a router's few interfaces); the kernel's reports of changes make it sooner.
constexpr std::chrono::seconds kInterfacesCheck{2};
// How long an interface must be listed before its records are announced there.
constexpr std::chrono::milliseconds kSettle{1500};
// How long after the kernel reports a change the interfaces are listed.
constexpr std::chrono::milliseconds kChangeDelay{100};
constexpr std::chrono::seconds kFlushLimit{2};

}  // namespace

struct Announcer::Impl {
  struct Key {
    int iface;
    std::string name;
    std::uint16_t type;
    std::vector<std::uint8_t> rdata;
    auto operator<=>(const Key&) const = default;
  };

  struct Target {
    int ifindex;
    int family;
    auto operator<=>(const Target&) const = default;
  };

  struct Item {
    Key key;
    wire::Response::Owner owner;
    bool unique;
    std::uint32_t ttl;
    bool goodbye;
    std::optional<Target> only = {};  // sent there only (an interface that appeared later)
  };

  struct Packet {
    Target target;
    wire::Bytes bytes;
    bool goodbye;
  };

  struct Sender {
    Fd fd;
    bool loop = false;  // IP_MULTICAST_LOOP as set now
  };

  struct Repeat {
    Clock::time_point due;
    std::span<const std::chrono::milliseconds> gaps;  // kRepeatGaps or kGoodbyeGaps
    std::size_t next;  // index into gaps of the gap after this one, or its size
    std::vector<Item> items;
  };

  EventLoop& loop;
  bool usable = false;
  struct Hold {
    int count = 0;
    bool unique = false;
    std::uint32_t ttl = 0;
  };
  std::map<Key, Hold> held;
  std::vector<Item> ready;     // for the next tick
  std::deque<Repeat> repeats;  // announcements and goodbyes, in order of `due`
  std::deque<Packet> packets;
  // Repeated announcements and goodbyes wait as records and become packets a few at a time when
  // nothing else is queued: first announcements and goodbyes go first, and a repeat is built
  // only while it is still wanted (an announcement while its record is held, a goodbye while it
  // is not), after anything queued before it.
  std::deque<Item> readyRepeats;
  std::map<Target, Sender> senders;
  std::set<Target> warned;
  std::set<Target> targets;
  std::set<Target> daemonUses;
  std::set<Target> appeared;                    // new targets, to announce the held records on
  std::map<Target, Clock::time_point> pending;  // listed since, not yet kSettle
  std::set<Target> taken;                       // added to daemonUses since the last listing
  bool listed = false;  // the targets were listed once (nothing "appears" the first time)
  std::unique_ptr<EventLoop::Timer> interfacesTimer;
  Clock::time_point checkDue{};
  Fd netlink;
  std::unique_ptr<EventLoop::Watch> netlinkWatch;
  Clock::time_point targetsAt{};
  Clock::time_point repeatsFrom{};  // no repeat packet is built before
  std::unique_ptr<EventLoop::Timer> timer;
  bool gathering = false;  // the timer waits for more records to share the next packets

  explicit Impl(EventLoop& l) : loop(l) {
    std::string why;
    usable = openMdnsSocket(AF_INET, 0, false, why).fd >= 0;
    if (!usable) {
      log::warning(kTag, "cannot send from the mDNS port (", why,
                   "); avahi-daemon announces the imports itself, more slowly in bursts");
    }
    timer = loop.timer([this] { guarded(kTag, "announcer", [this] { tick(); }); });
    interfacesTimer = loop.timer([this] { checkInterfaces(); });
    netlink = Fd{::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE)};
    sockaddr_nl groups{};
    groups.nl_family = AF_NETLINK;
    groups.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
    if (netlink.fd >= 0 &&
        ::bind(netlink.fd, reinterpret_cast<sockaddr*>(&groups), sizeof groups) == 0) {
      netlinkWatch = loop.watchReadable(netlink.fd, [this] { linksChanged(); });
    } else {
      log::debug(kTag, "no netlink reports of interface changes (", std::strerror(errno),
                 "); the interfaces are listed every ", kInterfacesCheck.count(), " s");
    }
  }

  static Key keyOf(const Record& r) { return {r.iface, r.name, r.type, r.rdata}; }

  static Result<wire::Response::Owner> ownerOf(const std::string& name) {
    auto labels = wire::splitEscaped(name);
    if (!labels)
      return fail(labels.error());
    return wire::Response::Owner::of(*labels);
  }

  void hold(const std::vector<Record>& records) {
    for (const Record& r : records) {
      Hold& h = held[keyOf(r)];
      ++h.count;
      h.unique = (r.flags & AVAHI_PUBLISH_UNIQUE) != 0;
      h.ttl = r.ttl;
    }
    if (!held.empty() && !interfacesTimer->armed()) {
      appeared.clear();  // from listings while nothing was held
      pending.clear();
      armCheck(kInterfacesCheck);
    }
  }

  void release(const std::vector<Record>& records) {
    for (const Record& r : records) {
      auto it = held.find(keyOf(r));
      if (it != held.end() && --it->second.count <= 0)
        held.erase(it);
    }
  }

  std::vector<Item> items(const std::vector<Record>& records, bool goodbye) const {
    std::vector<Item> out;
    out.reserve(records.size());
    for (const Record& r : records) {
      auto owner = ownerOf(r.name);
      if (!owner)
        continue;  // the daemon refused it too
      out.push_back({keyOf(r), std::move(*owner), (r.flags & AVAHI_PUBLISH_UNIQUE) != 0,
                     goodbye ? 0 : r.ttl, goodbye});
    }
    return out;
  }

  void announce(const std::vector<Record>& records) {
    std::vector<Item> it = items(records, false);
    if (it.empty())
      return;
    queue(std::move(it), kRepeatGaps);
  }

  void goodbye(const std::vector<Record>& records) {
    std::vector<Item> it = items(records, true);
    std::erase_if(it, [this](const Item& i) { return !wanted(i); });
    if (!it.empty())
      queue(std::move(it), kGoodbyeGaps);
  }

  // Queues items for the next tick and their repeats after `gaps`.
  void queue(std::vector<Item> it, std::span<const std::chrono::milliseconds> gaps) {
    ready.insert(ready.end(), it.begin(), it.end());
    scheduleRepeat(Clock::now() + gaps[0], gaps, 1, std::move(it));
    wake();
  }

  // Repeats are queued in order of their due times (most are scheduled in that order already).
  void scheduleRepeat(Clock::time_point due, std::span<const std::chrono::milliseconds> gaps,
                      std::size_t next, std::vector<Item> items) {
    auto pos = repeats.end();
    while (pos != repeats.begin() && std::prev(pos)->due > due)
      --pos;
    repeats.insert(pos, Repeat{due, gaps, next, std::move(items)});
  }

  // Every held record as an announcement, or as a goodbye; `only` there (where the record's
  // interface allows).
  std::vector<Item> heldItems(bool goodbye, std::optional<Target> only = {}) const {
    std::vector<Item> out;
    for (const auto& [key, hold] : held) {
      if (only && key.iface != AVAHI_IF_UNSPEC && key.iface != only->ifindex)
        continue;
      if (auto owner = ownerOf(key.name))
        out.push_back({key, std::move(*owner), hold.unique, goodbye ? 0 : hold.ttl, goodbye, only});
    }
    return out;
  }

  void withdrawAll() {
    std::vector<Item> byes = heldItems(true);
    held.clear();
    std::erase_if(repeats, [](const Repeat& r) { return !r.items.front().goodbye; });
    std::erase_if(readyRepeats, [](const Item& i) { return !i.goodbye; });
    std::erase_if(ready, [](const Item& i) { return !i.goodbye; });
    if (!byes.empty())
      queue(std::move(byes), kGoodbyeGaps);
  }

  // What is queued still goes out, paced, for at most kFlushLimit: the goodbyes of a gateway
  // going down.
  ~Impl() {
    if (!ready.empty())
      build(std::exchange(ready, {}));
    auto deadline = Clock::now() + kFlushLimit;
    while (!packets.empty() && Clock::now() < deadline) {
      drain();
      if (!packets.empty())
        std::this_thread::sleep_for(kTick);
    }
    if (!packets.empty())
      log::warning(kTag, packets.size(), " mDNS goodbye packets not sent at exit");
  }

  void wake() {
    if (packets.empty() && !gathering) {
      gathering = true;
      timer->arm(kGather);
    }
  }

  void tick() {
    gathering = false;
    auto now = Clock::now();
    while (!repeats.empty() && repeats.front().due <= now) {
      Repeat r = std::move(repeats.front());
      repeats.pop_front();
      // Drop what has changed since: no announcement after a goodbye, nor the reverse.
      std::erase_if(r.items, [this](const Item& i) { return !wanted(i); });
      if (r.items.empty())
        continue;
      if (r.next < r.gaps.size()) {
        readyRepeats.insert(readyRepeats.end(), r.items.begin(), r.items.end());
        scheduleRepeat(now + r.gaps[r.next], r.gaps, r.next + 1, std::move(r.items));
      } else {
        readyRepeats.insert(readyRepeats.end(), std::make_move_iterator(r.items.begin()),
                            std::make_move_iterator(r.items.end()));
      }
    }
    if (!ready.empty())
      build(std::exchange(ready, {}));
    if (packets.empty() && !readyRepeats.empty() && now >= repeatsFrom) {
      std::size_t n = std::min(readyRepeats.size(), kRepeatBatch);
      std::vector<Item> batch(std::make_move_iterator(readyRepeats.begin()),
                              std::make_move_iterator(readyRepeats.begin() + static_cast<long>(n)));
      readyRepeats.erase(readyRepeats.begin(), readyRepeats.begin() + static_cast<long>(n));
      build(batch);
      repeatsFrom = now + kRepeatSpacing * static_cast<long>(packets.size());
    }
    drain();
    auto until = [now](Clock::time_point t) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(t - now) +
             std::chrono::milliseconds(1);
    };
    if (!packets.empty())
      timer->arm(kTick);
    else if (!readyRepeats.empty())
      timer->arm(std::max(kTick, until(repeatsFrom)));
    else if (!repeats.empty())
      timer->arm(until(repeats.front().due));
  }

  // The interfaces and families that avahi-daemon uses and that are fit for mDNS now (as in
  // avahi-core/iface-linux.c with the daemon's default settings).
  const std::set<Target>& currentTargets() {
    auto now = Clock::now();
    if (now - targetsAt < kInterfacesMaxAge && targetsAt != Clock::time_point{})
      return targets;
    targetsAt = now;
    std::set<Target> before = std::exchange(targets, {});
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) < 0) {
      log::warning(kTag, "cannot list the interfaces to announce on: ", std::strerror(errno));
      targets = std::move(before);  // as last listed: nothing appears or goes
      return targets;
    }
    for (ifaddrs* a = list; a; a = a->ifa_next) {
      if (a->ifa_addr == nullptr ||
          (a->ifa_addr->sa_family != AF_INET && a->ifa_addr->sa_family != AF_INET6)) {
        continue;
      }
      unsigned flags = a->ifa_flags;
      if (!(flags & IFF_UP) || !(flags & IFF_MULTICAST) || (flags & IFF_LOOPBACK) ||
          (flags & IFF_POINTOPOINT)) {
        continue;
      }
      unsigned index = ::if_nametoindex(a->ifa_name);
      Target t{static_cast<int>(index), a->ifa_addr->sa_family};
      if (index != 0 && daemonUses.contains(t))
        targets.insert(t);
    }
    ::freeifaddrs(list);
    // The socket of a target no longer listed (its interface down or gone) is closed; one that
    // comes back gets a new socket with its next packet. A gone interface is forgotten.
    std::erase_if(senders, [this](const auto& s) { return !targets.contains(s.first); });
    std::erase_if(daemonUses, [](const Target& t) {
      char name[IF_NAMESIZE];
      return ::if_indextoname(static_cast<unsigned>(t.ifindex), name) == nullptr;
    });
    // A target counts as new once it has been listed for kSettle (an IPv6 address is tentative
    // for a second or two after it appears, avahi-daemon ignores it meanwhile, and sending
    // from it fails), or at once where the daemon has just taken it up.
    for (auto it = pending.begin(); it != pending.end();) {
      if (!targets.contains(it->first)) {
        it = pending.erase(it);
      } else if (now - it->second >= kSettle) {
        appeared.insert(it->first);
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
    if (listed) {
      for (const Target& t : targets) {
        if (before.contains(t))
          continue;
        if (taken.contains(t))
          appeared.insert(t);
        else
          pending.emplace(t, now);
      }
    }
    taken.clear();
    listed = true;
    return targets;
  }

  void useInterface(int ifindex, int family) {
    Target t{ifindex, family};
    if (ifindex <= 0 || daemonUses.contains(t))
      return;
    // What waits for the next tick goes where the daemon was so far; the new target hears
    // every held record, those too, just below.
    if (!ready.empty())
      build(std::exchange(ready, {}));
    daemonUses.insert(t);
    taken.insert(t);
    targetsAt = {};  // list the interfaces again
    announceWhereNew();
  }

  // Where the targets grew since they were last listed (an interface that came up, came back,
  // got an address, or that the daemon took up), every held record is announced, as
  // avahi-daemon announces its own records there. Browsers already running on that link learn
  // of the imports without asking.
  void announceWhereNew() {
    currentTargets();
    std::set<Target> now = std::exchange(appeared, {});
    if (held.empty())
      return;
    for (const Target& t : now) {
      std::vector<Item> it = heldItems(false, t);
      if (it.empty())
        continue;
      char name[IF_NAMESIZE] = "?";
      ::if_indextoname(static_cast<unsigned>(t.ifindex), name);
      log::info(kTag, "announcing ", it.size(), " records on ", name,
                t.family == AF_INET ? " (IPv4)" : " (IPv6)", ", new or back");
      queue(std::move(it), kRepeatGaps);
    }
  }

  // While records are held, the interfaces are listed every kInterfacesCheck, and soon after
  // the kernel reports a change of links or addresses (netlink), so that a link that goes down
  // and comes back within a check is seen too.
  void checkInterfaces() {
    if (held.empty())
      return;
    targetsAt = {};
    announceWhereNew();
    armCheck(pending.empty() ? kInterfacesCheck
                             : std::chrono::duration_cast<std::chrono::milliseconds>(kSettle));
  }

  void armCheck(std::chrono::milliseconds in) {
    interfacesTimer->arm(in);
    checkDue = Clock::now() + in;
  }

  // Reads what the kernel reported (only that something changed counts) and lists the
  // interfaces again shortly, once a burst of changes is over.
  void linksChanged() {
    char buf[8192];
    for (int n = 0; n < 64; ++n) {
      ssize_t got = ::recv(netlink.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (got < 0 && errno != ENOBUFS)  // ENOBUFS: reports were lost, a change all the same
        break;
    }
    if (!held.empty() && (!interfacesTimer->armed() || checkDue > Clock::now() + kChangeDelay))
      armCheck(kChangeDelay);
  }

  bool wanted(const Item& i) const {
    // A goodbye for a record some group holds again would take it out of every cache.
    return i.goodbye != held.contains(i.key);
  }

  // Announcements and goodbyes go in packets of their own: only goodbyes loop back (send()).
  // Whether an item is still wanted is looked up once, not once per target and kind.
  void build(const std::vector<Item>& items) {
    std::vector<const Item*> kinds[2];  // announcements, goodbyes
    for (const Item& i : items) {
      if (wanted(i))
        kinds[i.goodbye ? 1 : 0].push_back(&i);
    }
    for (const Target& t : currentTargets()) {
      for (bool goodbye : {false, true}) {
        wire::Response packet(kPacketLimit);
        for (const Item* item : kinds[goodbye ? 1 : 0]) {
          const Item& i = *item;
          if ((i.only && *i.only != t) ||
              (i.key.iface != AVAHI_IF_UNSPEC && i.key.iface != t.ifindex) ||
              (t.family == AF_INET6 && i.key.type == kTypeA)) {
            continue;
          }
          if (packet.add(i.owner, i.key.type, i.unique, i.ttl, i.key.rdata))
            continue;
          if (packet.count() > 0) {
            packets.push_back({t, packet.bytes(), goodbye});
            packet = wire::Response(kPacketLimit);
            if (packet.add(i.owner, i.key.type, i.unique, i.ttl, i.key.rdata))
              continue;
          }
          wire::Response alone(wire::kMaxMessage);
          if (alone.add(i.owner, i.key.type, i.unique, i.ttl, i.key.rdata))
            packets.push_back({t, alone.bytes(), goodbye});
          else
            log::debug(kTag, "record ", i.key.name, " does not fit an mDNS packet; not sent");
        }
        if (packet.count() > 0)
          packets.push_back({t, packet.bytes(), goodbye});
      }
    }
  }

  void drain() {
    for (int n = 0; n < kPacketsPerTick && !packets.empty(); ++n) {
      if (!send(packets.front()) && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
        return;  // the socket's buffer is full: this packet again next tick
      packets.pop_front();
    }
  }

  // Sends one packet; false (errno set) if it did not go. Logs once per interface and family.
  bool send(const Packet& p) {
    auto it = senders.find(p.target);
    if (it == senders.end()) {
      std::string why;
      Fd s = openMdnsSocket(p.target.family, p.target.ifindex, false, why);
      if (s.fd < 0) {
        warnOnce(p.target, "cannot open a socket to announce on", why);
        errno = EINVAL;
        return false;
      }
      it = senders.emplace(p.target, Sender{std::move(s)}).first;
    }
    // The daemon of this host holds the records and needs no announcement of them. It does
    // cache what it multicasts itself (its answers to queries come back to it), so it hears the
    // goodbyes, or its browsers would go on listing a record it no longer has.
    Sender& sender = it->second;
    if (sender.loop != p.goodbye) {
      int on = p.goodbye ? 1 : 0;
      if (p.target.family == AF_INET)
        ::setsockopt(sender.fd.fd, IPPROTO_IP, IP_MULTICAST_LOOP, &on, sizeof on);
      else
        ::setsockopt(sender.fd.fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &on, sizeof on);
      sender.loop = p.goodbye;
    }
    GroupAddress to = mdnsGroup(p.target.family, p.target.ifindex);
    if (::sendto(sender.fd.fd, p.bytes.data(), p.bytes.size(), 0, to.get(), to.length) >= 0) {
      warned.erase(p.target);
      return true;
    }
    int err = errno;
    if (err != EAGAIN && err != EWOULDBLOCK && err != ENOBUFS) {
      warnOnce(p.target, "cannot announce on", std::strerror(err));
      senders.erase(it);  // an interface that went away: a new socket next time
    }
    errno = err;
    return false;
  }

  void warnOnce(const Target& t, const char* what, const std::string& why) {
    if (!warned.insert(t).second)
      return;
    char name[IF_NAMESIZE] = "?";
    ::if_indextoname(static_cast<unsigned>(t.ifindex), name);
    log::warning(kTag, what, " ", name, t.family == AF_INET ? " (IPv4): " : " (IPv6): ", why);
  }
};

Announcer::Announcer(EventLoop& loop) : impl_(std::make_unique<Impl>(loop)) {}

Announcer::~Announcer() = default;

bool Announcer::usable() const {
  return impl_->usable;
}

void Announcer::hold(const std::vector<Record>& records) {
  impl_->hold(records);
}

void Announcer::release(const std::vector<Record>& records) {
  impl_->release(records);
}

void Announcer::announce(const std::vector<Record>& records) {
  impl_->announce(records);
}

void Announcer::goodbye(const std::vector<Record>& records) {
  impl_->goodbye(records);
}

void Announcer::useInterface(int ifindex, int family) {
  impl_->useInterface(ifindex, family);
}

void Announcer::withdrawAll() {
  impl_->withdrawAll();
}

}  // namespace z2z::mdns
