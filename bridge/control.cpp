// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/control.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>

#include "z2z/config/log.hpp"

namespace z2z::bridge {
namespace {

constexpr std::string_view kTag = "control";
constexpr std::size_t kMaxRequest = 256;
constexpr std::size_t kMaxClients = 8;
// How long a client may take to send its request and read the whole reply.
constexpr std::chrono::milliseconds kClientDeadline{5000};

std::string errnoText() {
  return std::strerror(errno);
}

sockaddr_un socketAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    throw Error("control socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

void setTimeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

struct ControlServer::Impl {
  struct Client {
    int fd = -1;
    std::string request;
    std::string reply;
    std::size_t sent = 0;
    std::unique_ptr<mdns::EventLoop::Watch> watch;
    std::unique_ptr<mdns::EventLoop::Timer> deadline;
  };

  mdns::EventLoop& loop;
  std::string path;
  Handler handler;
  int listenFd = -1;
  std::unique_ptr<mdns::EventLoop::Watch> watch;
  std::unique_ptr<mdns::EventLoop::Timer> pause;  // accepting again after running out of fds
  std::map<int, Client> clients;

  Impl(mdns::EventLoop& l, std::string p, Handler h)
      : loop(l), path(std::move(p)), handler(std::move(h)) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    sockaddr_un addr = socketAddress(path);
    listenFd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listenFd < 0)
      throw Error("control socket: " + errnoText());
    ::unlink(path.c_str());
    if (::bind(listenFd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
        ::chmod(path.c_str(), 0660) < 0 || ::listen(listenFd, 8) < 0) {
      std::string why = errnoText();
      ::close(listenFd);
      throw Error("control socket " + path + ": " + why);
    }
    watchListening();
    log::info(kTag, "answering status requests on ", path);
  }

  ~Impl() {
    while (!clients.empty())
      close(clients.begin()->first);
    watch.reset();
    ::close(listenFd);
    ::unlink(path.c_str());
  }

  void watchListening() {
    watch = loop.watchReadable(listenFd, [this] { accept(); });
  }

  void accept() {
    for (std::size_t n = 0; n < 4 * kMaxClients; ++n) {
      int fd = ::accept4(listenFd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
        // The connection stays queued and the socket readable: stop watching it for a second
        // rather than turning the loop on it.
        log::warning(kTag, "cannot accept a status request: ", errnoText());
        watch.reset();
        pause = loop.timer([this] { watchListening(); });
        pause->arm(std::chrono::seconds(1));
        return;
      }
      if (fd < 0)
        return;
      if (clients.size() >= kMaxClients) {
        ::close(fd);
        continue;
      }
      Client& c = clients[fd];
      c.fd = fd;
      c.watch = loop.watchReadable(fd, [this, fd] { readable(fd); });
      // A client that neither asks nor reads its reply in time loses its place.
      c.deadline = loop.timer([this, fd] { close(fd); });
      c.deadline->arm(kClientDeadline);
    }
  }

  void readable(int fd) {
    auto it = clients.find(fd);
    if (it == clients.end())
      return;
    Client& c = it->second;
    char buf[kMaxRequest];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    if (n > 0)
      c.request.append(buf, static_cast<std::size_t>(n));
    auto nl = c.request.find('\n');
    if (n > 0 && nl == std::string::npos && c.request.size() < kMaxRequest)
      return;
    if (n < 0) {
      close(fd);
      return;
    }
    c.reply = nl == std::string::npos && c.request.size() >= kMaxRequest
                  ? "error: request too long\n"
                  : handler(c.request.substr(0, nl));
    // Nothing more is read: the watch goes (from inside its own callback, which the loop
    // allows); one for writing takes its place if the socket does not take the reply at once.
    c.watch.reset();
    if (write(c))
      c.watch = loop.watchWritable(fd, [this, fd] { writable(fd); });
  }

  void writable(int fd) {
    auto it = clients.find(fd);
    if (it != clients.end())
      write(it->second);
  }

  // Sends what the socket takes without blocking; true if there is more to send, false once the
  // client is done with (all sent, or it went away) and closed: `c` is gone then.
  bool write(Client& c) {
    while (c.sent < c.reply.size()) {
      ssize_t w = ::send(c.fd, c.reply.data() + c.sent, c.reply.size() - c.sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return true;
      if (w <= 0)
        break;
      c.sent += static_cast<std::size_t>(w);
    }
    close(c.fd);
    return false;
  }

  // Also from inside the client's watch or deadline callback (the loop allows it).
  void close(int fd) {
    auto it = clients.find(fd);
    if (it == clients.end())
      return;
    it->second.watch.reset();
    it->second.deadline.reset();
    ::close(fd);
    clients.erase(it);
  }
};

ControlServer::ControlServer(mdns::EventLoop& loop, std::string path, Handler handler)
    : impl_(std::make_unique<Impl>(loop, std::move(path), std::move(handler))) {}

ControlServer::~ControlServer() = default;

Result<std::string> controlRequest(const std::string& path, std::string_view request) {
  sockaddr_un addr{};
  try {
    addr = socketAddress(path);
  } catch (const Error& e) {
    return fail(e.what());
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return fail("socket: " + errnoText());
  setTimeouts(fd, 2);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    std::string why = errnoText();
    ::close(fd);
    return fail("cannot reach a gateway at " + path + ": " + why);
  }
  std::string line = std::string(request) + "\n";
  ::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0)
    reply.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  if (n < 0)
    return fail("no answer from " + path + ": " + errnoText());
  return reply;
}

}  // namespace z2z::bridge
