// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <utility>

namespace z2z::mdns {

inline constexpr std::uint16_t kMdnsPort = 5353;
inline constexpr char kMdnsGroupV4[] = "224.0.0.251";
inline constexpr char kMdnsGroupV6[] = "ff02::fb";

/// An owned file descriptor.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd = std::exchange(o.fd, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  void reset();
};

/// The family's mDNS group address on port 5353 (scoped to `ifindex` for IPv6).
struct GroupAddress {
  sockaddr_storage address{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&address); }
};
GroupAddress mdnsGroup(int family, int ifindex);

/// A non-blocking UDP socket on port 5353 bound to the family's mDNS group address (on
/// `ifindex` for IPv6, whose link-scope group needs an interface), sharing the port with
/// avahi-daemon (SO_REUSEADDR, which it sets too). Bound to the group, it never takes a unicast
/// datagram meant for the daemon, and with IP_MULTICAST_ALL off it receives only from groups it
/// joined itself.
///
/// To send: multicasts on `ifindex` (0: the routing default), hop limit 255 (RFC 6762 section
/// 11), not looping back to this host (the Announcer turns that on for goodbyes). To receive:
/// joins the group on `ifindex` only, with a receive buffer of 4 MiB where allowed, and reports
/// the kernel's count of dropped datagrams with each one (SO_RXQ_OVFL). On failure
/// returns an Fd of -1 and says why in `why`.
Fd openMdnsSocket(int family, int ifindex, bool receive, std::string& why);

}  // namespace z2z::mdns
