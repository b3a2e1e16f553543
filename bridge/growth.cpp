// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/growth.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "z2z/config/log.hpp"

namespace z2z::bridge {
namespace {

constexpr std::string_view kTag = "growth";
// The leaders' endpoints are spread over this many keys: a get returns every value of its key
// from each of the key's closest nodes, one datagram per value once they do not fit one, and
// every leader reads one key every round. One key for hundreds of leaders is a flood.
constexpr unsigned kLeaderKeys = 16;
constexpr std::size_t kMaxValue = 128;
// opendht's bucket size: the nodes nearest to this node that a merged overlay should hold.
constexpr std::size_t kNearest = 8;
// Probe nodes bootstrap from at most this many leaders.
constexpr std::size_t kProbeVia = 8;
// A probe waits this long at most for its first node, and lives this long at most.
constexpr std::chrono::seconds kProbeJoin{3};
constexpr std::chrono::seconds kProbeLife{10};

using Clock = std::chrono::steady_clock;

std::string endpointText(const config::Endpoint& ep) {
  return ep.host + " " + std::to_string(ep.port);
}

dht::Key leadersKey(unsigned n) {
  return dht::Key::hash("z2z:v1:leaders:" + std::to_string(n));
}

// "z2z-leader 1 HOST PORT"
std::optional<config::Endpoint> parseLeaderValue(const dht::Bytes& data) {
  if (data.size() > kMaxValue)
    return std::nullopt;
  std::istringstream in(std::string(data.begin(), data.end()));
  std::string magic, version, host;
  unsigned port = 0;
  if (!(in >> magic >> version >> host >> port) || magic != "z2z-leader" || version != "1" ||
      port == 0 || port > 65535) {
    return std::nullopt;
  }
  auto ep = config::parseEndpoint(host.find(':') != std::string::npos ? "[" + host + "]" : host,
                                  static_cast<std::uint16_t>(port));
  if (!ep)
    return std::nullopt;
  return *ep;
}

// XOR distance, compared bytewise.
dht::Key distance(const dht::Key& a, const dht::Key& b) {
  dht::Key d;
  for (std::size_t i = 0; i < d.bytes.size(); ++i)
    d.bytes[i] = a.bytes[i] ^ b.bytes[i];
  return d;
}

}  // namespace

struct Growth::Impl {
  mdns::EventLoop& loop;
  dht::Overlay& overlay;
  std::string self;
  GrowthOptions options;
  std::function<void()> onContact;
  std::unique_ptr<mdns::EventLoop::Timer> timer;
  std::unique_ptr<mdns::EventLoop::Timer> probeTimer;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  std::mt19937_64 random{std::random_device{}()};

  bool running = false;
  unsigned ownKey = 0;
  unsigned nextRead = 0;
  bool swept = false;                                  // the first round reads every leaders key
  std::set<std::uint64_t> ownValues;                   // value ids put under ownKey
  std::map<std::string, Clock::time_point> seen;       // leaders ever read
  std::map<std::string, Clock::time_point> contacted;  // leaders pinged
  Clock::time_point lastMerge{};

  // The probe: at most one at a time. `generation` tells its late callbacks from the next's.
  std::unique_ptr<dht::Overlay> probe;
  bool probeWanted = false;
  bool probeSearching = false;
  bool holdsSlot = false;
  unsigned probePending = 0;
  std::uint64_t generation = 0;
  Clock::time_point probeStarted{};
  std::vector<config::Endpoint> probeVia;
  bool probeSeeds = false;  // join(): store this node's endpoint under every leaders key there
  std::set<dht::Key> lastMissing;

  Impl(mdns::EventLoop& l, dht::Overlay& o, std::string id, GrowthOptions opts,
       std::function<void()> cb)
      : loop(l),
        overlay(o),
        self(std::move(id)),
        options(std::move(opts)),
        onContact(std::move(cb)) {
    ownKey = dht::Key::hash(self).bytes[0] % kLeaderKeys;
    nextRead = static_cast<unsigned>(random() % kLeaderKeys);
    timer = loop.timer([this] { round(); });
    probeTimer = loop.timer([this] { probeStep(); });
  }

  ~Impl() {
    *alive = false;
    stop();
  }

  void start() {
    running = true;
    swept = false;  // after standing by, learn again who is there
    seen.clear();
    timer->arm(options.first);
  }

  void stop() {
    running = false;
    timer->disarm();
    endProbe();
    for (std::uint64_t v : ownValues)
      overlay.cancelPut(leadersKey(ownKey), v);
    ownValues.clear();
  }

  // This node's endpoints as leader values (fixed ids: storing again refreshes, never adds).
  std::vector<dht::Value> ownLeaderValues() const {
    std::vector<dht::Value> out;
    for (const config::Endpoint& ep : overlay.publicEndpoints()) {
      std::string text = "z2z-leader 1 " + endpointText(ep);
      dht::Key h = dht::Key::hash(self + text);
      std::uint64_t id = 0;
      for (std::size_t i = 0; i < 8; ++i)
        id = id << 8 | h.bytes[i];
      out.push_back(dht::Value{id, dht::Bytes(text.begin(), text.end())});
    }
    return out;
  }

  void round() {
    if (!running)
      return;
    timer->arm(options.interval);
    for (dht::Value& v : ownLeaderValues()) {
      ownValues.insert(v.id);
      overlay.put(leadersKey(ownKey), std::move(v), false, {});
    }
    // The first round reads every key and only learns who is there; then one key a round.
    Read how = swept ? Read::Own : Read::First;
    for (unsigned i = 0; i < (swept ? 1 : kLeaderKeys); ++i) {
      unsigned n = nextRead;
      nextRead = (nextRead + 1) % kLeaderKeys;
      overlay.get(leadersKey(n), [this, &l = loop, how, alive = std::weak_ptr<bool>(alive)](
                                     std::vector<dht::Value> values) {
        l.post([this, how, alive, values = std::move(values)] {
          if (alive.lock())
            contact(values, how);
        });
      });
    }
    swept = true;
    if (probeWanted)
      startProbe();
  }

  enum class Read { First, Own, Probe };

  // Leaders read from a key: in the first round, in a later one, or over there by a probe.
  void contact(const std::vector<dht::Value>& values, Read how) {
    // A backend without a routing table (a gateway's XML-RPC client) has nothing to fill.
    if (!running || overlay.nodeId() == dht::Key{})
      return;
    // After the first round, a leader never seen before that this node's routing table does
    // not hold may belong to another overlay (through a probe: it does).
    std::set<std::string> known, own;
    for (const auto& node : overlay.routingNodes())
      known.insert(endpointText(node.endpoint));
    for (const auto& ep : overlay.publicEndpoints())
      own.insert(endpointText(ep));
    auto now = Clock::now();
    std::vector<config::Endpoint> newcomers, unknown;
    for (const dht::Value& v : values) {
      auto ep = parseLeaderValue(v.data);
      if (!ep)
        continue;
      std::string text = endpointText(*ep);
      if (own.count(text))
        continue;
      bool isNew = seen.insert_or_assign(text, now).second;
      if (known.count(text))
        continue;
      if (isNew && how == Read::Own)
        newcomers.push_back(*ep);
      auto last = contacted.find(text);
      if (last == contacted.end() || now - last->second >= options.recontactAfter)
        unknown.push_back(*ep);
    }
    std::erase_if(seen, [&](const auto& s) { return now - s.second > options.recontactAfter; });
    std::erase_if(contacted,
                  [&](const auto& c) { return now - c.second > options.recontactAfter; });
    // Spread the pings: every node reads the same values in the same order.
    std::shuffle(unknown.begin(), unknown.end(), random);
    if (unknown.size() > options.contactsPerRound)
      unknown.resize(options.contactsPerRound);
    for (const auto& ep : unknown)
      contacted[endpointText(ep)] = now;
    if (!unknown.empty())
      overlay.bootstrap(unknown);
    if (newcomers.empty())
      return;
    log::info(kTag, newcomers.size(), " leaders this node never saw: probing through them");
    std::shuffle(newcomers.begin(), newcomers.end(), random);
    if (newcomers.size() > kProbeVia)
      newcomers.resize(kProbeVia);
    probeVia = std::move(newcomers);
    probeWanted = true;
    startProbe();
  }

  void startProbe();
  void probeStep();
  void probeDone(std::uint64_t gen);
  void finishProbe();
  void endProbe();
};

void Growth::Impl::startProbe() {
  if (!running || probe || probeVia.empty())
    return;
  if (options.probeSlots && !holdsSlot) {
    if (options.probeSlots->free == 0) {
      // Others of this process probe: try again shortly rather than a round later.
      probeTimer->arm(std::chrono::milliseconds(200 + random() % 800));
      return;
    }
    --options.probeSlots->free;
    holdsSlot = true;
  }
  dht::NodeOptions o = options.probe;
  o.port = 0;
  o.bootstrap = probeVia;
  try {
    probe = dht::startOpendht(o);
  } catch (const std::exception& e) {
    log::info(kTag, "no probe: ", e.what());
    endProbe();
    return;
  }
  probeWanted = false;
  probeSearching = false;
  probeStarted = Clock::now();
  ++generation;
  probeTimer->arm(std::chrono::milliseconds(100));
}

// Polls the probe while it joins; then starts its lookups; ends it if it outlives kProbeLife.
void Growth::Impl::probeStep() {
  if (!probe) {
    startProbe();  // waited for a slot
    return;
  }
  auto age = Clock::now() - probeStarted;
  if (age > kProbeLife) {
    finishProbe();
    return;
  }
  if (probeSearching) {
    probeTimer->arm(kProbeLife);
    return;
  }
  if (probe->stats().goodNodes == 0 && age < kProbeJoin) {
    probeTimer->arm(std::chrono::milliseconds(100));
    return;
  }
  probeSearching = true;
  probeTimer->arm(kProbeLife);
  // Callbacks run on a DHT thread: they touch nothing of this object but the loop reference.
  auto done = [this, &l = loop, gen = generation, alive = std::weak_ptr<bool>(alive)] {
    l.post([this, gen, alive] {
      if (alive.lock())
        probeDone(gen);
    });
  };
  // The other overlay's nodes nearest to this node, met by the probe on its way there.
  probe->get(overlay.nodeId(), [done](std::vector<dht::Value>) { done(); });
  // Its leaders, and this node's endpoint among them, so that they probe towards us in turn:
  // under the key read and this node's own; under all of them after a join(), whose probe
  // is the first between the overlays (each leader reads a given key only every 16 rounds).
  unsigned n = static_cast<unsigned>(random() % kLeaderKeys);
  probe->get(leadersKey(n), [this, &l = loop, done, gen = generation,
                             alive = std::weak_ptr<bool>(alive)](std::vector<dht::Value> values) {
    l.post([this, gen, alive, values = std::move(values)] {
      if (alive.lock() && gen == generation)
        contact(values, Read::Probe);
    });
    done();
  });
  std::set<unsigned> keys{ownKey, n};
  for (unsigned k = 0; probeSeeds && k < kLeaderKeys; ++k)
    keys.insert(k);
  probeSeeds = false;
  auto own = ownLeaderValues();
  probePending = 2 + static_cast<unsigned>(own.size() * keys.size());
  for (unsigned k : keys) {
    for (const dht::Value& v : own)
      probe->put(leadersKey(k), v, false, [done](bool) { done(); });
  }
}

void Growth::Impl::probeDone(std::uint64_t gen) {
  if (gen != generation || !probe || probePending == 0)
    return;
  if (--probePending == 0)
    finishProbe();
}

void Growth::Impl::finishProbe() {
  if (!probe)
    return;
  auto met = probe->routingNodes();
  dht::Key me = overlay.nodeId();
  std::erase_if(met, [&](const dht::NodeInfo& n) { return n.id == me; });
  std::sort(met.begin(), met.end(), [&](const dht::NodeInfo& x, const dht::NodeInfo& y) {
    return distance(x.id, me) < distance(y.id, me);
  });
  std::set<dht::Key> mine;
  for (const auto& n : overlay.routingNodes())
    mine.insert(n.id);
  std::set<dht::Key> missing;
  std::vector<config::Endpoint> ping, missingAt;
  for (std::size_t i = 0; i < met.size(); ++i) {
    ping.push_back(met[i].endpoint);
    if (i < kNearest && !mine.count(met[i].id)) {
      missing.insert(met[i].id);
      missingAt.push_back(met[i].endpoint);
    }
  }
  // Pinged, they and this node put each other in their routing tables where there is room:
  // near this node's own id there is.
  overlay.bootstrap(ping);
  bool progress = false;
  for (const dht::Key& k : missing)
    progress = progress || !lastMissing.count(k);
  lastMissing = std::move(missing);
  log::info(kTag, "probe met ", met.size(), " nodes, ", lastMissing.size(),
            " of the nearest to this node not in its routing table");
  endProbe();
  if (progress) {
    // Another overlay: store our values again, and look again next round, until a probe
    // finds no nearest node that it did not find before.
    lastMerge = Clock::now();
    probeVia = std::move(missingAt);
    probeWanted = true;
    if (onContact)
      onContact();
  }
}

void Growth::Impl::endProbe() {
  probeTimer->disarm();
  ++generation;
  probePending = 0;
  probeSearching = false;
  probe.reset();
  if (holdsSlot) {
    ++options.probeSlots->free;
    holdsSlot = false;
  }
}

Growth::Growth(mdns::EventLoop& loop, dht::Overlay& overlay, std::string selfId,
               GrowthOptions options, std::function<void()> onContact)
    : impl_(std::make_unique<Impl>(loop, overlay, std::move(selfId), std::move(options),
                                   std::move(onContact))) {}
Growth::~Growth() = default;
void Growth::start() {
  impl_->start();
}
void Growth::stop() {
  impl_->stop();
}
std::chrono::steady_clock::time_point Growth::lastMerge() const {
  return impl_->lastMerge;
}
void Growth::join(const std::vector<config::Endpoint>& peers) {
  if (peers.empty())
    return;
  impl_->lastMerge = Clock::now();
  impl_->overlay.bootstrap(peers);
  impl_->probeVia = peers;
  if (impl_->probeVia.size() > kProbeVia)
    impl_->probeVia.resize(kProbeVia);
  impl_->lastMissing.clear();
  impl_->probeWanted = true;
  impl_->probeSeeds = true;
  impl_->startProbe();
  if (impl_->onContact)
    impl_->onContact();
}

}  // namespace z2z::bridge
