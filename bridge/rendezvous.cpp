// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/rendezvous.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "z2z/config/log.hpp"
#include "z2z/config/values.hpp"

namespace z2z::bridge {
namespace {

constexpr std::string_view kTag = "rendezvous";
constexpr std::string_view kMagic = "z2z-rendezvous";
constexpr std::chrono::seconds kRestartAfter{60};
constexpr std::chrono::milliseconds kUntilPublished{1000};
// Malformed values logged per listen report; the others are counted only.
constexpr std::size_t kLoggedPerBatch = 3;
// The key is read afresh this many rounds apart: leaders left out when the table was full
// come back, and so do values a listen missed.
constexpr unsigned kRereadRounds = 12;

using Clock = std::chrono::steady_clock;

std::string endpointText(const config::Endpoint& ep) {
  return ep.host + " " + std::to_string(ep.port);
}

std::vector<std::string_view> splitSpaces(std::string_view text) {
  std::vector<std::string_view> out;
  while (true) {
    auto space = text.find(' ');
    out.push_back(text.substr(0, space));
    if (space == std::string_view::npos)
      return out;
    text.remove_prefix(space + 1);
  }
}

// At most `n` of the values, chosen at random (runs on a DHT thread).
void sample(std::vector<dht::Value>& values, std::size_t n) {
  if (values.size() <= n)
    return;
  std::minstd_rand random{std::random_device{}()};
  std::shuffle(values.begin(), values.end(), random);
  values.resize(n);
}

std::string shortId(const dht::Key& k) {
  return k.hex().substr(0, 8);
}

std::string describe(const std::vector<config::Endpoint>& eps) {
  std::string out;
  for (const auto& ep : eps)
    out += (out.empty() ? "" : ", ") + ep.host + " port " + std::to_string(ep.port);
  return out;
}

}  // namespace

dht::Key rendezvousKey(std::uint32_t mainNetwork, std::string_view name) {
  return dht::Key::hash("z2z:v1:rendezvous:" + std::to_string(mainNetwork) + ":" +
                        std::string(name));
}

bool isRendezvousAddress(std::string_view host) {
  std::string h(host);
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    std::uint32_t a = ntohl(v4.s_addr);
    std::uint8_t first = static_cast<std::uint8_t>(a >> 24);
    return first != 0 && first != 127 && (a >> 16) != 0xa9fe /* 169.254/16 */ &&
           first < 224 /* multicast, reserved, broadcast */;
  }
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    const std::uint8_t* b = v6.s6_addr;
    if (IN6_IS_ADDR_UNSPECIFIED(&v6) || IN6_IS_ADDR_LOOPBACK(&v6) || IN6_IS_ADDR_MULTICAST(&v6) ||
        IN6_IS_ADDR_LINKLOCAL(&v6)) {
      return false;
    }
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      char text[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, b + 12, text, sizeof text);
      return isRendezvousAddress(text);
    }
    return true;
  }
  return false;
}

dht::Bytes encodeRendezvousValue(const RendezvousEntry& entry) {
  std::string text = std::string(kMagic) + " 1 " + entry.node.hex();
  for (std::size_t i = 0; i < entry.endpoints.size() && i < kRendezvousMaxEndpoints; ++i)
    text += " " + endpointText(entry.endpoints[i]);
  return dht::Bytes(text.begin(), text.end());
}

Result<RendezvousEntry> parseRendezvousValue(const dht::Bytes& data) {
  if (data.size() > kRendezvousMaxValue) {
    return fail("value of " + std::to_string(data.size()) + " bytes (at most " +
                std::to_string(kRendezvousMaxValue) + ")");
  }
  for (std::uint8_t c : data) {
    if (c < 0x20 || c > 0x7e)
      return fail("value with a byte that is not printable ASCII");
  }
  std::string text(data.begin(), data.end());
  auto fields = splitSpaces(text);
  if (fields.empty() || fields[0] != kMagic)
    return fail("value that is not a rendezvous value");
  if (fields.size() < 2 || fields[1] != "1")
    return fail("rendezvous value of an unknown version");
  if (fields.size() < 5 || fields.size() % 2 == 0)
    return fail("rendezvous value without a node id and HOST PORT pairs");
  std::size_t pairs = (fields.size() - 3) / 2;
  if (pairs > kRendezvousMaxEndpoints) {
    return fail("rendezvous value with " + std::to_string(pairs) + " endpoints (at most " +
                std::to_string(kRendezvousMaxEndpoints) + ")");
  }
  RendezvousEntry entry;
  auto node = dht::Key::fromHex(fields[2]);
  if (!node)
    return fail("rendezvous value whose node id is not 40 lowercase hex digits");
  entry.node = *node;
  for (std::size_t i = 3; i + 1 < fields.size(); i += 2) {
    std::string_view host = fields[i], portText = fields[i + 1];
    if (!isRendezvousAddress(host)) {
      return fail("rendezvous value with '" + std::string(host) +
                  "', not a usable IPv4 or IPv6 address");
    }
    auto port = portText.starts_with('0') ? std::nullopt
                                          : config::parseInt<std::uint16_t>(portText, 1, 65535);
    if (!port)
      return fail("rendezvous value with the bad port '" + std::string(portText) + "'");
    config::Endpoint ep{std::string(host), *port};
    if (std::find(entry.endpoints.begin(), entry.endpoints.end(), ep) != entry.endpoints.end())
      return fail("rendezvous value listing " + endpointText(ep) + " twice");
    entry.endpoints.push_back(std::move(ep));
  }
  return entry;
}

struct Rendezvous::Impl {
  // A leader read from the key.
  struct Leader {
    RendezvousEntry entry;
    std::uint64_t valueId = 0;
    Clock::time_point nextTry{};
    unsigned tries = 0;
  };

  mdns::EventLoop& loop;
  dht::Overlay& main;
  RendezvousOptions options;
  JoinCallback join;
  dht::Key key;
  std::unique_ptr<dht::Overlay> node;
  std::unique_ptr<mdns::EventLoop::Timer> timer;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  std::mt19937_64 random{std::random_device{}()};

  bool running = false;
  bool startFailed = false;
  unsigned rounds = 0;
  Clock::time_point nextStart{};
  std::optional<dht::Overlay::ListenToken> listenToken;
  std::optional<std::uint64_t> ownValue;  // the id of the value put, while it is kept alive
  dht::Bytes ownData;
  std::size_t published = 0;
  std::map<dht::Key, Leader> leaders;  // by main-overlay node id
  bool fullLogged = false;
  std::size_t joins = 0;
  std::size_t rejected = 0;

  Impl(mdns::EventLoop& l, dht::Overlay& m, RendezvousOptions o, JoinCallback j)
      : loop(l),
        main(m),
        options(std::move(o)),
        join(std::move(j)),
        key(rendezvousKey(options.mainNetwork, options.name)) {
    if (options.network == options.mainNetwork) {
      throw Error("the rendezvous overlay's network id " + std::to_string(options.network) +
                  " is the main overlay's: the main overlay would merge with it");
    }
    timer = loop.timer([this] { round(); });
  }

  ~Impl() {
    *alive = false;
    stop();
  }

  void start() {
    if (running)
      return;
    running = true;
    startFailed = false;
    nextStart = {};
    timer->arm(options.first);
  }

  void stop() {
    running = false;
    timer->disarm();
    if (node) {
      if (ownValue)
        node->cancelPut(key, *ownValue);
      if (listenToken)
        node->cancelListen(*listenToken);
      node.reset();
      log::notice(kTag, "left the rendezvous overlay");
    }
    ownValue.reset();
    ownData.clear();
    published = 0;
    listenToken.reset();
    leaders.clear();
    fullLogged = false;
  }

  bool startNode() {
    if (Clock::now() < nextStart)
      return false;
    try {
      node = dht::startOpendht(
          dht::NodeOptions{options.port, options.bind, options.network, options.bootstrap});
    } catch (const std::exception& e) {
      if (!startFailed)
        log::error(kTag, "no rendezvous node (tried again every minute): ", e.what());
      startFailed = true;
      nextStart = Clock::now() + kRestartAfter;
      return false;
    }
    startFailed = false;
    log::notice(kTag, "rendezvous node on UDP port ", node->port(), ", network ", options.network,
                "; meeting other overlays' leaders under key ", key.hex(), " ('", options.name,
                "')");
    // Runs on the node's thread: it touches nothing of this object but the loop reference.
    listenToken = node->listen(
        key, [&l = loop, this, a = std::weak_ptr<bool>(alive), batch = options.maxValuesPerBatch](
                 std::vector<dht::Value> values, bool expired) {
          // Anyone may write here: hand no more than a batch's worth to the loop.
          sample(values, batch);
          l.post([this, a, values = std::move(values), expired] {
            if (a.lock())
              read(values, expired);
          });
        });
    return true;
  }

  // The addresses other overlays may reach this leader's main node at: what its main overlay's
  // peers see, the address it is bound to, and the address the rendezvous overlay's peers see
  // with the main node's port (a lone leader has no peers to tell it its address).
  std::vector<config::Endpoint> ownEndpoints() const {
    std::vector<config::Endpoint> out;
    auto add = [&](const config::Endpoint& ep) {
      if (ep.port != 0 && isRendezvousAddress(ep.host) &&
          std::find(out.begin(), out.end(), ep) == out.end() &&
          out.size() < kRendezvousMaxEndpoints) {
        out.push_back(ep);
      }
    };
    for (const auto& ep : main.publicEndpoints())
      add(ep);
    std::uint16_t mainPort = main.port();
    if (!options.bind.empty())
      add({options.bind, mainPort});
    for (const auto& ep : node->publicEndpoints())
      add({ep.host, mainPort});
    return out;
  }

  void publish() {
    dht::Key self = main.nodeId();
    if (self == dht::Key{})
      return;
    auto eps = ownEndpoints();
    if (eps.empty())
      return;  // not yet told its address; keep what was published
    dht::Bytes data = encodeRendezvousValue(RendezvousEntry{self, eps});
    if (data == ownData)
      return;
    // An unsigned value cannot be replaced in place: a new one under its own id.
    dht::Key h = dht::Key::hash(std::string(data.begin(), data.end()));
    std::uint64_t id = 0;
    for (std::size_t i = 0; i < 8; ++i)
      id = id << 8 | h.bytes[i];
    if (ownValue)
      node->cancelPut(key, *ownValue);
    ownValue = id;
    ownData = data;
    published = eps.size();
    log::notice(kTag,
                "publishing this leader's endpoints under the rendezvous key: ", describe(eps));
    node->put(key, dht::Value{id, std::move(data)}, true,
              [&l = loop, a = std::weak_ptr<bool>(alive)](bool ok) {
                if (!ok) {
                  l.post([a] {
                    if (a.lock())
                      log::info(kTag, "a put of the rendezvous value was not acknowledged");
                  });
                }
              });
  }

  void read(const std::vector<dht::Value>& values, bool expired) {
    if (!running)
      return;
    if (expired) {
      std::set<std::uint64_t> gone;
      for (const auto& v : values)
        gone.insert(v.id);
      std::erase_if(leaders, [&](const auto& l) { return gone.count(l.second.valueId); });
      return;
    }
    dht::Key self = main.nodeId();
    std::size_t bad = 0;
    for (const auto& v : values) {
      auto entry = parseRendezvousValue(v.data);
      if (!entry) {
        ++rejected;
        if (++bad <= kLoggedPerBatch)
          log::info(kTag, "skipping value ", v.id, " under the rendezvous key: ", entry.error());
        continue;
      }
      if (entry->node == self)
        continue;
      auto it = leaders.find(entry->node);
      if (it == leaders.end()) {
        if (leaders.size() >= options.maxLeaders && !evictOne()) {
          if (!fullLogged)
            log::warning(kTag, "more than ", options.maxLeaders,
                         " leaders under the rendezvous key: ignoring the others for now");
          fullLogged = true;
          continue;
        }
        log::info(kTag, "leader ", shortId(entry->node), " at ", describe(entry->endpoints));
        leaders.emplace(entry->node, Leader{std::move(*entry), v.id, {}, 0});
      } else if (it->second.entry.endpoints != entry->endpoints) {
        it->second.entry = std::move(*entry);
        it->second.valueId = v.id;
        it->second.nextTry = {};  // new addresses: worth a try at once
      }
    }
    if (bad > kLoggedPerBatch)
      log::info(kTag, "skipped ", bad - kLoggedPerBatch, " more malformed values");
  }

  // Makes room for a leader just read: anyone can fill the key with plausible values, so the
  // leader tried most often in vain goes (it comes back with a later read). Leaders not tried
  // yet stay.
  bool evictOne() {
    auto victim = leaders.end();
    for (auto it = leaders.begin(); it != leaders.end(); ++it) {
      if (it->second.tries > 0 &&
          (victim == leaders.end() || it->second.tries > victim->second.tries)) {
        victim = it;
      }
    }
    if (victim == leaders.end())
      return false;
    leaders.erase(victim);
    return true;
  }

  void reread() {
    node->get(key, [&l = loop, this, a = std::weak_ptr<bool>(alive),
                    batch = options.maxValuesPerBatch](std::vector<dht::Value> values) {
      sample(values, batch);
      l.post([this, a, values = std::move(values)] {
        if (a.lock())
          read(values, false);
      });
    });
  }

  void round() {
    if (!running)
      return;
    if (!node && !startNode()) {
      timer->arm(options.interval);
      return;
    }
    publish();
    if (++rounds % kRereadRounds == 0)
      reread();
    // Until the node learns its address (from its first answers), look again soon.
    timer->arm(ownValue ? options.interval : std::min(options.interval, kUntilPublished));
    // Leaders whose node the main overlay's routing table holds (by id or address) are in
    // this overlay already; the others may be of another one.
    std::set<dht::Key> known;
    std::set<std::string> knownAt;
    for (const auto& n : main.routingNodes()) {
      known.insert(n.id);
      knownAt.insert(endpointText(n.endpoint));
    }
    for (const auto& ep : main.publicEndpoints())
      knownAt.insert(endpointText(ep));
    auto now = Clock::now();
    std::vector<Leader*> due;
    for (auto& [id, l] : leaders) {
      if (known.count(id) || l.nextTry > now)
        continue;
      bool here = std::any_of(l.entry.endpoints.begin(), l.entry.endpoints.end(),
                              [&](const auto& ep) { return knownAt.count(endpointText(ep)); });
      if (!here)
        due.push_back(&l);
    }
    std::shuffle(due.begin(), due.end(), random);
    if (due.size() > options.leadersPerRound)
      due.resize(options.leadersPerRound);
    if (due.empty())
      return;
    std::vector<config::Endpoint> endpoints;
    for (Leader* l : due) {
      log::notice(kTag, "leader ", shortId(l->entry.node),
                  " of the rendezvous is not in this overlay: joining it at ",
                  describe(l->entry.endpoints));
      endpoints.insert(endpoints.end(), l->entry.endpoints.begin(), l->entry.endpoints.end());
      l->nextTry = now + options.retryAfter * (1u << std::min(l->tries, 4u));
      ++l->tries;
      ++joins;
    }
    if (join)
      join(endpoints);
  }
};

Rendezvous::Rendezvous(mdns::EventLoop& loop, dht::Overlay& main, RendezvousOptions options,
                       JoinCallback join)
    : impl_(std::make_unique<Impl>(loop, main, std::move(options), std::move(join))) {}
Rendezvous::~Rendezvous() = default;

void Rendezvous::start() {
  impl_->start();
}

void Rendezvous::stop() {
  impl_->stop();
}

RendezvousStatus Rendezvous::status() const {
  RendezvousStatus s;
  s.running = impl_->node != nullptr;
  s.failed = impl_->startFailed;
  s.key = impl_->key;
  if (impl_->node) {
    s.port = impl_->node->port();
    s.nodes = impl_->node->stats().goodNodes;
  }
  s.published = impl_->published;
  s.leaders = impl_->leaders.size();
  s.joins = impl_->joins;
  s.rejected = impl_->rejected;
  return s;
}

}  // namespace z2z::bridge
