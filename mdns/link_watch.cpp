// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/mdns/link_watch.hpp"

#include <dbus/dbus.h>
#include <net/if.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
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
constexpr std::chrono::seconds kLossReport{60};

bool sameLabel(const std::string& a, const std::string& b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// An instance name as DNS-SD has them (RFC 6763 section 4.1.1): UTF-8 without NUL. Older devices
// send Latin-1; avahi-daemon cannot list such a service, and libdbus aborts the process that
// passes one on.
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

  EventLoop& loop;
  Seen seen;
  Lost lost;
  std::set<std::string> types;                    // "_daap._tcp"
  std::set<std::pair<int, int>> wanted;           // (ifindex, family)
  std::map<std::pair<int, int>, Socket> sockets;  // open while a type is watched
  std::set<std::pair<int, int>> failed;
  std::array<std::uint8_t, wire::kMaxMessage + 1> buffer{};
  unsigned long rejected = 0;
  std::chrono::steady_clock::time_point lastLossReport{};

  Impl(EventLoop& l, Seen s, Lost d) : loop(l), seen(std::move(s)), lost(std::move(d)) {}

  void open(int ifindex, int family) {
    auto where = std::make_pair(ifindex, family);
    if (ifindex <= 0 || sockets.contains(where) || failed.contains(where))
      return;
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
      log::warning(kTag, "cannot listen for mDNS on interface ", ifindex,
                   family == AF_INET ? " (IPv4): " : " (IPv6): ", why,
                   "; names taken there later are not followed");
      return;
    }
    int raw = fd.fd;
    Socket& s = sockets[where];
    s.fd = std::move(fd);
    s.watch = loop.watchReadable(
        raw, [this, where] { guarded(kTag, "mDNS listener", [&] { drain(where); }); });
    log::debug(kTag, "listening for mDNS on interface ", ifindex,
               family == AF_INET ? " (IPv4)" : " (IPv6)");
  }

  void drain(std::pair<int, int> where) {
    auto [ifindex, family] = where;
    for (int n = 0; n < kReadsPerEvent; ++n) {
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
    auto records = wire::parseMessage(buffer.data(), size);
    if (!records) {
      ++rejected;
      log::debug(kTag, "mDNS message on interface ", ifindex, " rejected (", rejected,
                 " so far): ", records.error());
      return;
    }
    for (const wire::ReceivedRecord& r : *records) {
      // "_daap._tcp.local" PTR "Name._daap._tcp.local"
      if (r.type != wire::kTypePtr || r.name.size() != 3 || !sameLabel(r.name[2], "local") ||
          r.target.size() != 4) {
        continue;
      }
      bool sameOwner = true;
      for (std::size_t i = 0; i < 3; ++i)
        sameOwner = sameOwner && sameLabel(r.target[i + 1], r.name[i]);
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
      for (const std::string& type : types) {
        std::size_t dot = type.find('.');
        if (dot != std::string::npos && sameLabel(r.name[0], type.substr(0, dot)) &&
            sameLabel(r.name[1], type.substr(dot + 1))) {
          seen(r.target[0], type, ifindex, family, ttl);
          break;
        }
      }
    }
  }
};

LinkWatch::LinkWatch(EventLoop& loop, Seen seen, Lost lost)
    : impl_(std::make_unique<Impl>(loop, std::move(seen), std::move(lost))) {}

LinkWatch::~LinkWatch() = default;

void LinkWatch::watch(const std::string& type) {
  impl_->types.insert(type);
  auto wanted = impl_->wanted;  // open() forgets an interface that is gone
  for (auto [ifindex, family] : wanted)
    impl_->open(ifindex, family);
}

void LinkWatch::unwatch(const std::string& type) {
  impl_->types.erase(type);
  if (impl_->types.empty()) {
    impl_->sockets.clear();  // nothing to follow: no wake-up for each packet on the link
    impl_->failed.clear();   // tried again at the next start
  }
}

void LinkWatch::listen(int ifindex, int family) {
  impl_->wanted.insert({ifindex, family});
  if (!impl_->types.empty())
    impl_->open(ifindex, family);
}

bool LinkWatch::listening() const {
  return !impl_->sockets.empty() && impl_->failed.empty();
}

}  // namespace z2z::mdns
