// SPDX-License-Identifier: GPL-3.0-or-later
// Many embedded opendht nodes in one process on loopback, standing for island leaders.
//
//   overlay_bench lookup SIZE[,SIZE...] [KEYS]
//       for each size: form an overlay, put KEYS values from random nodes, get each from another
//       random node; print formation time, lookup success and latency percentiles.
//   overlay_bench merge HALF ROLE DIR [KEYS]
//       one half of a merge experiment (ROLE a or b; run both, see overlay.sh): form an overlay of
//       HALF nodes, store KEYS keys, run z2z's growth protocol on every node; b joins a through
//       one bootstrap contact; both then time until every key of the other half is readable.
//
// Every node binds 127.0.0.1 (other loopback addresses count as martians to opendht) with the
// per-address rate limit lifted. About three
// descriptors per node: opendht's select() ceiling (1024) limits one process to about 300.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "z2z/bridge/growth.hpp"
#include "z2z/config/log.hpp"
#include "z2z/dht/overlay.hpp"
#include "z2z/mdns/event_loop.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using z2z::dht::Key;
using z2z::dht::Overlay;

namespace {

std::string address(int, std::size_t) {
  return "127.0.0.1";
}

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

struct Nodes {
  std::vector<std::unique_ptr<Overlay>> all;
  std::mt19937 random{12345};

  // A chain of bootstraps: node i knows node 0 and one random earlier node.
  void form(std::size_t count, int net) {
    for (std::size_t i = 0; i < count; ++i) {
      z2z::dht::NodeOptions o;
      o.port = 0;
      o.bind = address(net, i);
      o.unlimitedPeerRate = true;
      if (i > 0) {
        o.bootstrap.push_back({address(net, 0), all[0]->port()});
        std::size_t j = std::uniform_int_distribution<std::size_t>(0, i - 1)(random);
        o.bootstrap.push_back({address(net, j), all[j]->port()});
      }
      all.push_back(z2z::dht::startOpendht(o));
    }
  }

  // Until 95 % of the nodes have 8 good routing entries, at most `limit`.
  double waitFormed(std::chrono::seconds limit) {
    auto start = Clock::now();
    while (Clock::now() - start < limit) {
      std::size_t good = 0;
      unsigned want = static_cast<unsigned>(std::min<std::size_t>(8, all.size() - 1));
      for (auto& n : all)
        good += n->stats().goodNodes >= want;
      if (good * 100 >= all.size() * 95)
        break;
      std::this_thread::sleep_for(500ms);
    }
    return seconds(Clock::now() - start);
  }

  Overlay& any() {
    return *all[std::uniform_int_distribution<std::size_t>(0, all.size() - 1)(random)];
  }
};

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// Puts every text under its own key from random nodes, all at once; waits for all.
void putAll(Nodes& nodes, const std::vector<std::string>& texts, bool permanent) {
  std::vector<std::future<bool>> done;
  std::vector<std::shared_ptr<std::promise<bool>>> promises;
  for (const std::string& t : texts) {
    auto p = std::make_shared<std::promise<bool>>();
    done.push_back(p->get_future());
    nodes.any().put(
        Key::hash(t),
        z2z::dht::Value{std::hash<std::string>{}(t), z2z::dht::Bytes(t.begin(), t.end())},
        permanent, [p](bool ok) { p->set_value(ok); });
    promises.push_back(p);
  }
  for (auto& f : done)
    f.wait_for(30s);
}

// Gets every text's key from random nodes, all at once; returns the latencies of the hits.
std::vector<double> getAll(Nodes& nodes, const std::vector<std::string>& texts) {
  struct Pending {
    std::promise<std::vector<z2z::dht::Value>> promise;
    Clock::time_point start = Clock::now();
    Clock::time_point end;
  };
  std::vector<std::shared_ptr<Pending>> pending;
  for (const std::string& t : texts) {
    auto p = std::make_shared<Pending>();
    nodes.any().get(Key::hash(t), [p](std::vector<z2z::dht::Value> v) {
      p->end = Clock::now();
      p->promise.set_value(std::move(v));
    });
    pending.push_back(p);
  }
  std::vector<double> hits;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto f = pending[i]->promise.get_future();
    if (f.wait_for(30s) != std::future_status::ready)
      continue;
    for (const auto& v : f.get()) {
      if (std::string(v.data.begin(), v.data.end()) == texts[i]) {
        hits.push_back(seconds(pending[i]->end - pending[i]->start) * 1000);
        break;
      }
    }
  }
  return hits;
}

int lookup(const std::vector<std::size_t>& sizes, std::size_t keys) {
  std::printf("%6s %10s %9s %8s %9s %9s %9s\n", "nodes", "formed_s", "found", "success", "p50_ms",
              "p90_ms", "p99_ms");
  for (std::size_t size : sizes) {
    Nodes nodes;
    nodes.form(size, 10);
    double formed = nodes.waitFormed(40s);
    std::vector<std::string> texts;
    for (std::size_t k = 0; k < keys; ++k)
      texts.push_back("lookup-" + std::to_string(size) + "-" + std::to_string(k));
    putAll(nodes, texts, false);
    std::vector<double> latencies = getAll(nodes, texts);
    double success = 100.0 * static_cast<double>(latencies.size()) / static_cast<double>(keys);
    std::printf("%6zu %10.1f %4zu/%-4zu %7.1f%% %9.2f %9.2f %9.2f\n", size, formed,
                latencies.size(), keys, success, percentile(latencies, 0.5),
                percentile(latencies, 0.9), percentile(latencies, 0.99));
    std::printf("lookup_success_pct_%zu=%.2f lookup_p50_ms_%zu=%.2f\n", size, success, size,
                percentile(latencies, 0.5));
    std::fflush(stdout);
  }
  return 0;
}

bool waitFile(const std::filesystem::path& p, std::chrono::seconds limit) {
  auto start = Clock::now();
  while (!std::filesystem::exists(p)) {
    if (Clock::now() - start > limit)
      return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

int merge(std::size_t half, char role, const std::filesystem::path& dir, std::size_t keys) {
  int net = role == 'a' ? 21 : 22;
  char other = role == 'a' ? 'b' : 'a';
  // Declared before the nodes so that it outlives them: their threads post to it until joined.
  z2z::mdns::EventLoop loop;
  Nodes nodes;
  nodes.form(half, net);
  double formed = nodes.waitFormed(20s);
  std::vector<std::string> mine;
  for (std::size_t k = 0; k < keys; ++k)
    mine.push_back(std::string("merge-") + role + "-" + std::to_string(k));
  putAll(nodes, mine, true);
  std::printf("%c: %zu nodes formed in %.1f s, %zu keys stored\n", role, half, formed, keys);
  std::fflush(stdout);
  {
    std::ofstream ports(dir / (std::string(1, role) + ".ports"));
    for (auto& n : nodes.all)
      ports << n->port() << "\n";
  }
  {
    std::ofstream(dir / (std::string(1, role) + ".ready"))
        << address(net, 0) << " " << nodes.all[0]->port() << "\n";
  }
  if (!waitFile(dir / (std::string(1, other) + ".ready"), 180s))
    return 1;

  // Every node runs the growth protocol, driven by the event loop on its own thread.
  std::atomic<bool> repost{false};
  std::vector<std::unique_ptr<z2z::bridge::Growth>> growth;
  z2z::bridge::GrowthOptions growthOptions;
  growthOptions.probe.bind = "127.0.0.1";
  growthOptions.probe.unlimitedPeerRate = true;
  // About three descriptors per node: 32 probes at once keep 250 nodes under select()'s 1024.
  growthOptions.probeSlots = std::make_shared<z2z::bridge::ProbeSlots>(32);
  for (std::size_t i = 0; i < nodes.all.size(); ++i) {
    // A gateway stores its records again after a merge contact; the bench's keys stand for them.
    growth.push_back(std::make_unique<z2z::bridge::Growth>(
        loop, *nodes.all[i], std::string(1, role) + std::to_string(i), growthOptions,
        [&, i] { repost = true; }));
    growth.back()->start();
  }
  std::thread loopThread([&] { loop.run(); });

  if (role == 'b') {
    std::ifstream in(dir / "a.ready");
    std::string host;
    unsigned port = 0;
    in >> host >> port;
    // One contact, made the way a reload's new bootstrap peer is (Growth::join).
    loop.post([&, host, port] { growth[0]->join({{host, static_cast<std::uint16_t>(port)}}); });
    std::ofstream(dir / "merge.start") << "go\n";
  }
  if (!waitFile(dir / "merge.start", 30s))
    return 1;
  // Instrumentation: how many nodes of this half hold a node of the other half in their
  // routing table (the other half's ports are in DIR/OTHER.ports).
  std::set<std::uint16_t> theirPorts;
  {
    std::ifstream in(dir / (std::string(1, other) + ".ports"));
    for (unsigned p = 0; in >> p;)
      theirPorts.insert(static_cast<std::uint16_t>(p));
  }
  auto crossKnown = [&] {
    std::size_t aware = 0, entries = 0;
    for (auto& n : nodes.all) {
      std::size_t here = 0;
      for (const auto& ep : n->knownNodes())
        here += theirPorts.count(ep.port);
      aware += here > 0;
      entries += here;
    }
    return std::make_pair(aware, entries);
  };
  auto start = Clock::now();
  double merged = -1;
  while (Clock::now() - start < 150s) {
    // Gateways store their records again after growth contacts (Gateway::republish); here
    // every node of the half stores its keys again every few seconds while the halves mix.
    if (repost.exchange(false) || static_cast<int>(seconds(Clock::now() - start)) % 5 == 0) {
      putAll(nodes, mine, true);
    }
    std::vector<std::string> theirs;
    for (std::size_t k = 0; k < keys; ++k)
      theirs.push_back(std::string("merge-") + other + "-" + std::to_string(k));
    std::size_t found = getAll(nodes, theirs).size();
    auto [aware, entries] = crossKnown();
    std::printf(
        "%c: %.1f s after the contact: %zu/%zu keys of the other half readable; %zu/%zu nodes "
        "know the other half (%zu entries)\n",
        role, seconds(Clock::now() - start), found, keys, aware, nodes.all.size(), entries);
    std::fflush(stdout);
    if (found == keys) {
      merged = seconds(Clock::now() - start);
      break;
    }
    std::this_thread::sleep_for(1s);
  }
  std::printf("merge_seconds_%c_%zu=%.1f\n", role, half * 2, merged);
  std::ofstream(dir / (std::string(1, role) + ".merged")) << merged << "\n";
  // Keep serving until the other half has its answer too.
  waitFile(dir / (std::string(1, other) + ".merged"), 160s);
  loop.quit();
  loopThread.join();
  growth.clear();
  return merged >= 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  z2z::log::setLevel(z2z::log::Level::Error);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 2 && args[0] == "lookup") {
    std::vector<std::size_t> sizes;
    std::string list = args[1];
    for (std::size_t pos = 0; pos <= list.size();) {
      auto comma = list.find(',', pos);
      sizes.push_back(std::stoul(list.substr(pos, comma - pos)));
      if (comma == std::string::npos)
        break;
      pos = comma + 1;
    }
    return lookup(sizes, args.size() > 2 ? std::stoul(args[2]) : 200);
  }
  if (args.size() >= 4 && args[0] == "merge") {
    return merge(std::stoul(args[1]), args[2][0], args[3],
                 args.size() > 4 ? std::stoul(args[4]) : 20);
  }
  std::fprintf(stderr, "usage: overlay_bench lookup SIZES [KEYS] | merge HALF a|b DIR [KEYS]\n");
  return 2;
}
