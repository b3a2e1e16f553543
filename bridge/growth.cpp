// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/growth.hpp"

#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "z2z/config/log.hpp"

namespace z2z::bridge {
namespace {

constexpr std::string_view kTag = "growth";
constexpr std::string_view kLeadersKey = "z2z:v1:leaders";
constexpr std::size_t kMaxValue = 128;

using Clock = std::chrono::steady_clock;

std::string endpointText(const config::Endpoint& ep) {
  return ep.host + " " + std::to_string(ep.port);
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

}  // namespace

struct Growth::Impl {
  mdns::EventLoop& loop;
  dht::Overlay& overlay;
  std::string self;
  GrowthOptions options;
  dht::Key key = dht::Key::hash(kLeadersKey);
  std::unique_ptr<mdns::EventLoop::Timer> timer;
  std::map<std::string, Clock::time_point> contacted;
  std::set<std::uint64_t> ownValues;
  Clock::time_point lastMerge{};
  bool running = false;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  std::function<void()> onContact;
  std::unique_ptr<dht::Overlay> probe;  // while a probe runs
  std::unique_ptr<mdns::EventLoop::Timer> probeTimer;

  Impl(mdns::EventLoop& l, dht::Overlay& o, std::string id, GrowthOptions opts,
       std::function<void()> cb)
      : loop(l), overlay(o), self(std::move(id)), options(opts), onContact(std::move(cb)) {
    timer = loop.timer([this] { round(); });
    probeTimer = loop.timer([this] { finishProbe(); });
  }

  ~Impl() {
    *alive = false;
    stop();
  }

  void start() {
    running = true;
    timer->arm(options.first);
  }

  void stop() {
    running = false;
    timer->disarm();
    probeTimer->disarm();
    probe.reset();
    for (std::uint64_t v : ownValues)
      overlay.cancelPut(key, v);
    ownValues.clear();
  }

  void round() {
    if (!running)
      return;
    timer->arm(options.interval);
    for (const config::Endpoint& ep : overlay.publicEndpoints()) {
      std::string text = "z2z-leader 1 " + endpointText(ep);
      std::uint64_t id = 0;
      for (int i = 0; i < 8; ++i)
        id = id << 8 | dht::Key::hash(self + text).bytes[static_cast<std::size_t>(i)];
      ownValues.insert(id);
      overlay.put(key, dht::Value{id, dht::Bytes(text.begin(), text.end())}, false, {});
    }
    overlay.get(key, [this, alive = std::weak_ptr<bool>(alive)](std::vector<dht::Value> values) {
      loop.post([this, alive, values = std::move(values)] {
        if (alive.lock())
          contact(values);
      });
    });
  }

  bool probeSearched = false;
  void startProbe(const config::Endpoint& through);
  void finishProbe();

  void contact(const std::vector<dht::Value>& values) {
    if (!running)
      return;
    std::set<std::string> known, own;
    for (const auto& ep : overlay.knownNodes())
      known.insert(endpointText(ep));
    for (const auto& ep : overlay.publicEndpoints())
      own.insert(endpointText(ep));
    auto now = Clock::now();
    std::vector<config::Endpoint> fresh;
    for (const dht::Value& v : values) {
      auto ep = parseLeaderValue(v.data);
      if (!ep)
        continue;
      std::string text = endpointText(*ep);
      if (known.count(text) || own.count(text))
        continue;
      auto last = contacted.find(text);
      if (last != contacted.end() && now - last->second < options.recontactAfter)
        continue;
      contacted[text] = now;
      fresh.push_back(*ep);
      if (fresh.size() >= options.contactsPerRound)
        break;
    }
    if (fresh.empty())
      return;
    lastMerge = now;
    log::info(kTag, "contacting ", fresh.size(), " leaders this node did not know");
    overlay.bootstrap(fresh);
    startProbe(fresh.front());
    if (onContact)
      onContact();
  }
};

void Growth::Impl::startProbe(const config::Endpoint& through) {
  if (probe)
    return;  // one at a time
  dht::NodeOptions o = options.probe;
  o.port = 0;
  o.bootstrap = {through};
  try {
    probe = dht::startOpendht(o);
  } catch (const std::exception& e) {
    log::info(kTag, "no probe: ", e.what());
    return;
  }
  // First let it join; then it looks this node's own id up over there (finishProbe).
  probeTimer->arm(std::chrono::milliseconds(1500));
}

void Growth::Impl::finishProbe() {
  if (!probe)
    return;
  if (!probeSearched) {
    probeSearched = true;
    probe->get(overlay.nodeId(), [](std::vector<dht::Value>) {});
    probe->get(key, [this, alive = std::weak_ptr<bool>(alive)](std::vector<dht::Value> values) {
      loop.post([this, alive, values = std::move(values)] {
        if (alive.lock() && running)
          contact(values);
      });
    });
    probeTimer->arm(std::chrono::milliseconds(1500));
    return;
  }
  auto met = probe->knownNodes();
  log::info(kTag, "probe met ", met.size(), " nodes of the other overlay");
  overlay.bootstrap(met);
  probeSearched = false;
  loop.post([this, alive = std::weak_ptr<bool>(alive)] {
    if (alive.lock())
      probe.reset();  // not from inside the probe timer's callback chain
  });
}

Growth::Growth(mdns::EventLoop& loop, dht::Overlay& overlay, std::string selfId,
               GrowthOptions options, std::function<void()> onContact)
    : impl_(std::make_unique<Impl>(loop, overlay, std::move(selfId), options,
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
  impl_->startProbe(peers.front());
  if (impl_->onContact)
    impl_->onContact();
}

}  // namespace z2z::bridge
