// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/control.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using z2z::bridge::controlRequest;
using z2z::bridge::ControlServer;
using z2z::mdns::EventLoop;

const std::string kBig(4 << 20, 'x');

// A ControlServer on its own loop thread, answering "status" with "ok\n" and "big" with 4 MiB.
struct Served {
  std::string path;
  EventLoop loop;
  std::unique_ptr<ControlServer> server;
  std::thread thread;

  Served() {
    path = (std::filesystem::temp_directory_path() /
            ("z2z-control-test-" + std::to_string(::getpid())) / "control")
               .string();
    std::promise<void> up;
    loop.post([this, &up] {
      server = std::make_unique<ControlServer>(loop, path, [](std::string_view request) {
        return request == "big" ? kBig : std::string("ok\n");
      });
      up.set_value();
    });
    thread = std::thread([this] { loop.run(); });
    up.get_future().wait();
  }

  ~Served() {
    std::promise<void> down;
    loop.post([this, &down] {
      server.reset();
      down.set_value();
    });
    down.get_future().wait();
    loop.quit();
    thread.join();
    std::filesystem::remove_all(std::filesystem::path(path).parent_path());
  }
};

int connectTo(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

// Reads until the server closes (or 20 s pass), `chunk` bytes at a time with `pause` between.
std::size_t readAll(int fd, std::size_t chunk, std::chrono::milliseconds pause) {
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::vector<char> buf(chunk);
  std::size_t total = 0;
  for (int i = 0; i < 100000; ++i) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0)
      break;
    total += static_cast<std::size_t>(n);
    std::this_thread::sleep_for(pause);
  }
  return total;
}

}  // namespace

TEST_CASE("a control client that reads its reply slowly holds nobody else up") {
  Served s;
  int slow = connectTo(s.path);
  REQUIRE(::send(slow, "big\n", 4, MSG_NOSIGNAL) == 4);
  auto slowRead = std::async(std::launch::async, [slow] { return readAll(slow, 16384, 100ms); });
  std::this_thread::sleep_for(300ms);
  // controlRequest gives up after 2 s without an answer: the loop must be free meanwhile.
  for (int i = 0; i < 3; ++i) {
    auto reply = controlRequest(s.path, "status");
    REQUIRE(reply);
    CHECK(*reply == "ok\n");
  }
  // The slow client is cut off at its deadline, before the whole reply.
  std::size_t got = slowRead.get();
  CHECK(got > 0);
  CHECK(got < kBig.size());
  ::close(slow);
}

TEST_CASE("a control reply larger than the socket buffer arrives whole") {
  Served s;
  int fd = connectTo(s.path);
  REQUIRE(::send(fd, "big\n", 4, MSG_NOSIGNAL) == 4);
  std::this_thread::sleep_for(500ms);  // the server finds the socket full meanwhile
  CHECK(readAll(fd, 1 << 16, 0ms) == kBig.size());
  ::close(fd);
}

TEST_CASE("control clients that hang up early hold nobody up") {
  Served s;
  // One hangs up at once, one after its request without reading: each socket stays readable
  // (end of file) for as long as the server watches it.
  int gone = connectTo(s.path);
  ::close(gone);
  int half = connectTo(s.path);
  REQUIRE(::send(half, "big\n", 4, MSG_NOSIGNAL) == 4);
  ::shutdown(half, SHUT_RDWR);
  std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 3; ++i) {
    auto reply = controlRequest(s.path, "status");
    REQUIRE(reply);
    CHECK(*reply == "ok\n");
  }
  ::close(half);
  // A request without its newline, the sending side then shut, is answered.
  int noNewline = connectTo(s.path);
  REQUIRE(::send(noNewline, "status", 6, MSG_NOSIGNAL) == 6);
  ::shutdown(noNewline, SHUT_WR);
  CHECK(readAll(noNewline, 4096, 0ms) == 3);
  ::close(noNewline);
}

TEST_CASE("control clients that never ask lose their places") {
  Served s;
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i)
    idle.push_back(connectTo(s.path));
  std::this_thread::sleep_for(200ms);
  auto refused = controlRequest(s.path, "status");
  CHECK((!refused || refused->empty()));  // all places taken: closed without an answer
  std::this_thread::sleep_for(5500ms);
  auto reply = controlRequest(s.path, "status");
  REQUIRE(reply);
  CHECK(*reply == "ok\n");
  for (int fd : idle)
    ::close(fd);
}
