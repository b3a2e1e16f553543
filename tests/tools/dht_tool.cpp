// SPDX-License-Identifier: GPL-3.0-or-later
// dht_tool: a bare DHT node for tests, to write raw values under a z2z key or read what is
// stored there, the way an outsider (or an attacker) on the overlay would.
//
//   dht_tool put KEYNAME FILE [OPTION]...   store FILE's bytes under the key
//   dht_tool get KEYNAME [OPTION]...        print every value, one per line
//                                           (hex id, size, then the bytes)
//   dht_tool dump KEYNAME DIR [OPTION]...   write every value to DIR/<hex id>
//   dht_tool serve [OPTION]...              run a plain node until SIGTERM (keeps values)
// KEYNAME is a --key name, or "raw:TEXT" for the key SHA-1(TEXT) (group documents).
// Options: --bootstrap HOST[:PORT] (repeatable), --port N, --bind ADDRESS, --network N.
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <string_view>
#include <thread>
#include <vector>

#include "z2z/bridge/gateway.hpp"
#include "z2z/config/options.hpp"
#include "z2z/dht/overlay.hpp"

using namespace std::chrono_literals;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: dht_tool put KEYNAME FILE | get KEYNAME | dump KEYNAME DIR | serve\n"
               "       [--bootstrap H[:P]]... [--port N] [--bind ADDR] [--network N]\n");
  return 2;
}

z2z::dht::Key keyOf(std::string_view name) {
  if (name.starts_with("raw:"))
    return z2z::dht::Key::hash(name.substr(4));
  return z2z::bridge::keyFor(name);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    return usage();
  std::string_view verb = argv[1];
  int positional = verb == "put" || verb == "dump" ? 2
                   : verb == "get"                 ? 1
                   : verb == "serve"               ? 0
                                                   : -1;
  if (positional < 0 || argc < 2 + positional)
    return usage();
  z2z::dht::NodeOptions options;
  options.port = 0;
  for (int i = 2 + positional; i < argc; i += 2) {
    if (i + 1 >= argc)
      return usage();
    std::string_view flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--bootstrap") {
      auto ep = z2z::config::parseEndpoint(value);
      if (!ep)
        return usage();
      options.bootstrap.push_back(*ep);
    } else if (flag == "--port") {
      options.port = static_cast<std::uint16_t>(std::stoul(value));
    } else if (flag == "--bind") {
      options.bind = value;
    } else if (flag == "--network") {
      options.network = static_cast<std::uint32_t>(std::stoul(value));
    } else {
      return usage();
    }
  }
  if (verb == "serve") {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    auto overlay = z2z::dht::startOpendht(options);
    std::printf("serving on port %u\n", overlay->port());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    return 0;
  }
  auto overlay = z2z::dht::startOpendht(options);
  z2z::dht::Key key = keyOf(argv[2]);
  std::this_thread::sleep_for(1s);  // let the bootstrap answer

  std::mutex m;
  std::condition_variable cv;
  if (verb == "put") {
    std::ifstream in(argv[3], std::ios::binary);
    z2z::dht::Bytes bytes{std::istreambuf_iterator<char>(in), {}};
    bool done = false, ok = false;
    overlay->put(key, z2z::dht::Value{std::random_device{}(), bytes}, false, [&](bool success) {
      std::lock_guard lock(m);
      done = true;
      ok = success;
      cv.notify_all();
    });
    std::unique_lock lock(m);
    cv.wait_for(lock, 15s, [&] { return done; });
    std::printf("put %zu bytes: %s\n", bytes.size(), ok ? "stored" : "failed");
    return ok ? 0 : 1;
  }
  std::vector<z2z::dht::Value> values;
  overlay->listen(key, [&](std::vector<z2z::dht::Value> vs, bool expired) {
    if (expired)
      return;
    std::lock_guard lock(m);
    for (auto& v : vs)
      values.push_back(std::move(v));
  });
  std::this_thread::sleep_for(3s);
  std::lock_guard lock(m);
  for (const auto& v : values) {
    if (verb == "dump") {
      char name[17];
      std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(v.id));
      std::ofstream(std::string(argv[3]) + "/" + name, std::ios::binary)
          .write(reinterpret_cast<const char*>(v.data.data()),
                 static_cast<std::streamsize>(v.data.size()));
      continue;
    }
    std::printf("%016llx %zu %.*s\n", static_cast<unsigned long long>(v.id), v.data.size(),
                static_cast<int>(v.data.size()), reinterpret_cast<const char*>(v.data.data()));
  }
  return 0;
}
