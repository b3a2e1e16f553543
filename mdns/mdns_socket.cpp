// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/mdns/mdns_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef IP_MULTICAST_ALL
#define IP_MULTICAST_ALL 49
#endif
#ifndef IPV6_MULTICAST_ALL
#define IPV6_MULTICAST_ALL 29
#endif

namespace z2z::mdns {

namespace {
constexpr int kReceiveBuffer = 4 << 20;
}  // namespace

void Fd::reset() {
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

GroupAddress mdnsGroup(int family, int ifindex) {
  GroupAddress g;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&g.address);
    a->sin_family = AF_INET;
    a->sin_port = htons(kMdnsPort);
    ::inet_pton(AF_INET, kMdnsGroupV4, &a->sin_addr);
    g.length = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&g.address);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(kMdnsPort);
    a->sin6_scope_id = static_cast<std::uint32_t>(ifindex);
    ::inet_pton(AF_INET6, kMdnsGroupV6, &a->sin6_addr);
    g.length = sizeof *a;
  }
  return g;
}

Fd openMdnsSocket(int family, int ifindex, bool receive, std::string& why) {
  Fd s(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (s.fd < 0) {
    why = std::string("socket: ") + std::strerror(errno);
    return s;
  }
  int one = 1, zero = 0, ttl = 255;
  if (::setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
    why = std::string("SO_REUSEADDR: ") + std::strerror(errno);
    return Fd();
  }
  if (receive) {
    // Room for a burst while the loop is busy: root may exceed net.core.rmem_max.
    int bytes = kReceiveBuffer;
    if (::setsockopt(s.fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0)
      ::setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    // Each datagram tells how many the kernel dropped so far (LinkWatch).
    ::setsockopt(s.fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  }
  GroupAddress group = mdnsGroup(family, ifindex);
  int rc = 0;
  if (family == AF_INET) {
    ip_mreqn mreq{};
    mreq.imr_ifindex = ifindex;
    rc = ::setsockopt(s.fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero);
    if (receive) {
      mreq.imr_multiaddr = reinterpret_cast<const sockaddr_in*>(group.get())->sin_addr;
      rc |= ::setsockopt(s.fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq);
    } else {
      rc |= ::setsockopt(s.fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) |
            ::setsockopt(s.fd, IPPROTO_IP, IP_MULTICAST_LOOP, &zero, sizeof zero) |
            (ifindex ? ::setsockopt(s.fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq) : 0);
    }
  } else {
    rc = ::setsockopt(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    // Linux before 4.20 lacks IPV6_MULTICAST_ALL; the scoped bind below keeps the socket to its
    // interface there.
    if (::setsockopt(s.fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof zero) < 0 &&
        errno != ENOPROTOOPT) {
      rc = -1;
    }
    if (receive) {
      ipv6_mreq mreq{};
      mreq.ipv6mr_multiaddr = reinterpret_cast<const sockaddr_in6*>(group.get())->sin6_addr;
      mreq.ipv6mr_interface = static_cast<unsigned>(ifindex);
      rc |= ::setsockopt(s.fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq, sizeof mreq);
    } else {
      rc |= ::setsockopt(s.fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof ttl) |
            ::setsockopt(s.fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &zero, sizeof zero) |
            ::setsockopt(s.fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex);
    }
  }
  if (rc == 0 && ::bind(s.fd, group.get(), group.length) < 0)
    rc = -1;
  if (rc != 0) {
    why = std::strerror(errno);
    return Fd();
  }
  return s;
}

}  // namespace z2z::mdns
