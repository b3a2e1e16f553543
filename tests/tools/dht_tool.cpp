// SPDX-License-Identifier: GPL-3.0-or-later
// dht_tool: a bare DHT node for tests, to write raw values under a z2z key or read what is
// stored there, the way an outsider (or an attacker) on the overlay would.
//
//   dht_tool put KEYNAME FILE [--bootstrap HOST[:PORT]]...   store FILE's bytes under the key
//   dht_tool get KEYNAME [--bootstrap HOST[:PORT]]...        print every value, one per line
//                                                            (hex id, size, then the bytes)
//   dht_tool node PORT SECONDS [--bootstrap HOST[:PORT]]...  run a bare node on UDP PORT for
//                                                            SECONDS (a peer for a lone gateway)
#include <chrono>
#include <condition_variable>
#include <cstdio>
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

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: dht_tool put KEYNAME FILE | get KEYNAME [--bootstrap H[:P]]...\n");
    return 2;
  }
  std::string_view verb = argv[1];
  std::string keyName = argv[2];
  int first = verb == "put" || verb == "node" ? 4 : 3;
  if ((verb == "put" || verb == "node") && argc < 4) return 2;
  z2z::dht::NodeOptions options;
  options.port = 0;
  if (verb == "node") {
    auto port = z2z::config::parseEndpoint("x:" + keyName);
    if (!port) return 2;
    options.port = port->port;
  }
  for (int i = first; i + 1 < argc; i += 2) {
    if (std::string_view(argv[i]) != "--bootstrap") return 2;
    auto ep = z2z::config::parseEndpoint(argv[i + 1]);
    if (!ep) return 2;
    options.bootstrap.push_back(*ep);
  }
  auto overlay = z2z::dht::startOpendht(options);
  if (verb == "node") {
    std::this_thread::sleep_for(std::chrono::seconds(std::stoi(argv[3])));
    return 0;
  }
  z2z::dht::Key key = z2z::bridge::keyFor(keyName);
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
  if (verb != "get") return 2;
  std::vector<z2z::dht::Value> values;
  overlay->listen(key, [&](std::vector<z2z::dht::Value> vs, bool expired) {
    if (expired) return;
    std::lock_guard lock(m);
    for (auto& v : vs) values.push_back(std::move(v));
  });
  std::this_thread::sleep_for(3s);
  std::lock_guard lock(m);
  for (const auto& v : values) {
    std::printf("%016llx %zu %.*s\n", static_cast<unsigned long long>(v.id), v.data.size(),
                static_cast<int>(v.data.size()), reinterpret_cast<const char*>(v.data.data()));
  }
  return 0;
}
