// SPDX-License-Identifier: GPL-3.0-or-later
#include <arpa/inet.h>
#include <opendht.h>

#include <cstdarg>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include "z2z/config/error.hpp"
#include "z2z/config/guard.hpp"
#include "z2z/config/log.hpp"
#include "z2z/config/values.hpp"
#include "z2z/dht/overlay.hpp"

namespace z2z::dht {
namespace {

constexpr std::string_view kTag = "dht";

std::string format(char const* fmt, va_list args) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, args);
  return buf;
}

// opendht reports routine events ("sending refresh", "no nodes from cache" on a first node) at
// warning and even error level: its errors become our info, everything else debug. Failures that
// matter to a user (a put that did not store) are reported by the bridge itself.
std::shared_ptr<::dht::Logger> makeLogger() {
  auto err = [](char const* fmt, va_list args) {
    if (log::enabled(log::Level::Info))
      log::info(kTag, format(fmt, args));
  };
  auto dbg = [](char const* fmt, va_list args) {
    if (log::enabled(log::Level::Debug))
      log::debug(kTag, format(fmt, args));
  };
  return std::make_shared<::dht::Logger>(::dht::LogMethod(err), ::dht::LogMethod(dbg),
                                         ::dht::LogMethod(dbg));
}

std::optional<config::Endpoint> endpoint(const ::dht::SockAddr& addr) {
  char host[INET6_ADDRSTRLEN] = {};
  const sockaddr* sa = addr.get();
  if (sa == nullptr)
    return std::nullopt;
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, host, sizeof host);
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, host, sizeof host);
  } else {
    return std::nullopt;
  }
  return config::Endpoint{host, addr.getPort()};
}

::dht::InfoHash toInfoHash(const Key& key) {
  return ::dht::InfoHash(key.bytes.data(), key.bytes.size());
}

// opendht drops requests from one address beyond 1/8 of the node's 8,192 requests per second.
// A gateway exporting a thousand services at once sends its peers two requests per record (the
// store, and the update to their listen), so the dropped ones came back only with the next
// retry, seconds later. One peer may use half of the node's budget; the global limit stays.
constexpr ssize_t kPeerRequestsPerSecond = 4096;

class OpendhtOverlay final : public Overlay {
 public:
  explicit OpendhtOverlay(const NodeOptions& options) {
    ::dht::DhtRunner::Config cfg;
    cfg.dht_config.node_config.network = options.network;
    cfg.dht_config.node_config.max_peer_req_per_sec =
        options.unlimitedPeerRate ? -1 : kPeerRequestsPerSecond;
    cfg.threaded = true;
    ::dht::DhtRunner::Context ctx;
    ctx.logger = makeLogger();
    std::string port = std::to_string(options.port);
    try {
      if (options.bind.empty()) {
        runner_.run(options.port, cfg, std::move(ctx));
      } else {
        in6_addr probe{};
        bool v6 = inet_pton(AF_INET6, options.bind.c_str(), &probe) == 1;
        runner_.run(v6 ? "" : options.bind.c_str(), v6 ? options.bind.c_str() : "", port.c_str(),
                    cfg, std::move(ctx));
      }
    } catch (const std::exception& e) {
      throw Error("cannot start the DHT node on port " + port + ": " + e.what());
    }
    runner_.registerType(::dht::ValueType(kValueType, "z2z", kValueLifetime));
    log::notice(kTag, "DHT node ", runner_.getNodeId().toString(), " on UDP port ", this->port(),
                ", network ", options.network);
    bootstrap(options.bootstrap);
  }

  ~OpendhtOverlay() override {
    {
      // Stopping, opendht calls back the puts in flight as failed; a put then would call back
      // at once, on the same thread, and wait for the mutex that thread holds.
      std::lock_guard lock(mutex_);
      stopping_ = true;
      queued_.clear();
    }
    runner_.shutdown({}, true);
    runner_.join();
  }

  // At most kMaxPutsInFlight puts wait for their acknowledgements at once; the others queue.
  // A thousand services exported in one burst otherwise overflow the peers' UDP receive
  // buffers, and the dropped requests are retried only seconds later. A put cancelled before its
  // acknowledgement gets no callback from opendht (Search::cancelPut drops it): cancelPut()
  // gives its place to the next one, or every such put would keep a place for good and, after
  // kMaxPutsInFlight of them, nothing would be stored any more.
  //
  // Plain puts (heartbeats, withdrawals) queue before permanent ones (exports), in the order
  // they came: after a merge every export is put again, and a heartbeat behind a thousand of
  // them, with slow peers, came later than its lease.
  void put(const Key& key, Value value, bool permanent, DoneCallback done) override {
    std::lock_guard lock(mutex_);
    if (permanent)
      permanent_.insert({{key, value.id}, true});
    if (inFlight_.size() >= kMaxPutsInFlight) {
      QueuedPut q{key, std::move(value), permanent, std::move(done)};
      if (permanent) {
        queued_.push_back(std::move(q));
      } else {
        // At most kMaxPlainAhead of them: puts of the served XML-RPC API are plain too, and a
        // steady stream of them must not hold the exports back for good.
        auto firstPermanent = std::find_if(queued_.begin(), queued_.end(),
                                           [](const QueuedPut& e) { return e.permanent; });
        if (firstPermanent - queued_.begin() < kMaxPlainAhead)
          queued_.insert(firstPermanent, std::move(q));
        else
          queued_.push_back(std::move(q));
      }
      return;
    }
    dispatch(QueuedPut{key, std::move(value), permanent, std::move(done)});
  }

  struct QueuedPut {
    Key key;
    Value value;
    bool permanent;
    DoneCallback done;
  };

  // Called with mutex_ held; runner_.put only queues work for the DHT thread.
  //
  // A permanent value goes out in two steps. opendht sends a permanent put only after a probe
  // (a get of the ids and sequence numbers the node already holds under the key), and it sends
  // no new probe to a node while one is pending: a burst of a thousand permanent puts crossed in
  // waves of one probe round trip each, about four seconds behind the exports. A plain put is
  // sent at once; when it is acknowledged (or has failed) the same value is put again as
  // permanent, which the probe finds already stored, so only the re-announcing remains.
  void dispatch(QueuedPut p) {
    auto v = std::make_shared<::dht::Value>(kValueType, std::move(p.value.data), p.value.id);
    ::dht::InfoHash hash = toInfoHash(p.key);
    std::uint64_t place = ++lastPlace_;
    inFlight_.emplace(place, std::make_pair(p.key, v->id));
    runner_.put(
        hash, v,
        [this, hash, v, place, key = p.key, permanent = p.permanent,
         done = std::move(p.done)](bool ok) {
          guarded(kTag, "put callback", [&] {
            if (done)
              done(ok);
          });
          std::lock_guard lock(mutex_);
          if (stopping_)
            return;
          if (permanent && permanent_.count({key, v->id}))
            runner_.put(hash, v, ::dht::DoneCallbackSimple{}, ::dht::time_point::max(), true);
          if (inFlight_.erase(place) == 0)
            return;  // cancelled: cancelPut() has given its place away
          nextPut();
        },
        ::dht::time_point::max(), false);
  }

  // A place among the puts in flight is free: the next queued put takes it. Mutex held.
  void nextPut() {
    if (queued_.empty())
      return;
    QueuedPut next = std::move(queued_.front());
    queued_.pop_front();
    dispatch(std::move(next));
  }

  void cancelPut(const Key& key, std::uint64_t id) override {
    std::lock_guard lock(mutex_);
    permanent_.erase({key, id});
    std::erase_if(queued_, [&](const QueuedPut& q) { return q.key == key && q.value.id == id; });
    std::size_t places = std::erase_if(
        inFlight_, [&](const auto& p) { return p.second == std::make_pair(key, id); });
    for (std::size_t i = 0; i < places; ++i)
      nextPut();
    // Queued for the DHT thread under the mutex: a put of the same value from another thread
    // (the served XML-RPC API) must not come in between and be cancelled with no callback.
    runner_.cancelPut(toInfoHash(key), id);
  }

  void get(const Key& key, std::function<void(std::vector<Value>)> done) override {
    auto found = std::make_shared<std::vector<Value>>();
    runner_.get(
        toInfoHash(key),
        [found](const std::vector<std::shared_ptr<::dht::Value>>& values) {
          for (const auto& v : values)
            found->push_back(Value{v->id, v->data});
          return true;
        },
        [found, done = std::move(done)](bool) {
          guarded(kTag, "get callback", [&] { done(std::move(*found)); });
        },
        ::dht::Value::TypeFilter(kValueType));
  }

  ListenToken listen(const Key& key, ListenCallback callback) override {
    auto future = runner_.listen(
        toInfoHash(key),
        [callback = std::move(callback)](const std::vector<std::shared_ptr<::dht::Value>>& values,
                                         bool expired) {
          guarded(kTag, "listen callback", [&] {
            std::vector<Value> copy;
            copy.reserve(values.size());
            for (const auto& v : values)
              copy.push_back(Value{v->id, v->data});
            callback(std::move(copy), expired);
          });
          return true;  // false would end the listen for good: one failure must not stop imports
        },
        ::dht::Value::TypeFilter(kValueType));
    std::lock_guard lock(mutex_);
    ListenToken token = ++lastToken_;
    listens_.emplace(token, std::make_pair(key, future.share()));
    return token;
  }

  void cancelListen(ListenToken token) override {
    std::lock_guard lock(mutex_);
    auto it = listens_.find(token);
    if (it == listens_.end())
      return;
    runner_.cancelListen(toInfoHash(it->second.first), it->second.second);
    listens_.erase(it);
  }

  // runner_.bootstrap(host, service) only helps a node that has no peers yet; a node already in
  // an overlay ignores it. An address literal is also inserted into the routing table at once,
  // which is what merges two overlays (growth, a bootstrap peer added on reload).
  void bootstrap(const std::vector<config::Endpoint>& nodes) override {
    std::vector<::dht::SockAddr> direct;
    for (const config::Endpoint& ep : nodes) {
      log::info(kTag, "bootstrapping from ", ep.host, " port ", ep.port);
      runner_.bootstrap(ep.host, std::to_string(ep.port));
      sockaddr_in v4{};
      sockaddr_in6 v6{};
      if (inet_pton(AF_INET, ep.host.c_str(), &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(ep.port);
        direct.emplace_back(reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
      } else if (inet_pton(AF_INET6, ep.host.c_str(), &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(ep.port);
        direct.emplace_back(reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
      }
    }
    if (!direct.empty())
      runner_.bootstrap(std::move(direct));
  }

  OverlayStats stats() const override {
    OverlayStats s;
    for (sa_family_t af : {sa_family_t{AF_INET}, sa_family_t{AF_INET6}}) {
      auto n = runner_.getNodesStats(af);
      s.goodNodes += n.good_nodes;
      s.dubiousNodes += n.dubious_nodes;
    }
    return s;
  }

  std::vector<config::Endpoint> knownNodes() const override {
    std::vector<config::Endpoint> out;
    for (const auto& n : runner_.exportNodes()) {
      ::dht::SockAddr addr(reinterpret_cast<const sockaddr*>(&n.ss), n.sslen);
      if (auto ep = endpoint(addr))
        out.push_back(*ep);
    }
    return out;
  }

  std::vector<NodeInfo> routingNodes() const override {
    std::vector<NodeInfo> out;
    for (const auto& n : runner_.exportNodes()) {
      ::dht::SockAddr addr(reinterpret_cast<const sockaddr*>(&n.ss), n.sslen);
      if (auto ep = endpoint(addr)) {
        NodeInfo info{{}, *ep};
        ::dht::InfoHash id = n.id;  // its begin() is not const in 2.4
        std::copy(id.begin(), id.end(), info.id.bytes.begin());
        out.push_back(std::move(info));
      }
    }
    return out;
  }

  std::vector<config::Endpoint> publicEndpoints() const override {
    std::vector<config::Endpoint> out;
    for (const auto& addr : runner_.getPublicAddress()) {
      if (auto ep = endpoint(addr))
        out.push_back(*ep);
    }
    return out;
  }

  Key nodeId() const override {
    auto id = runner_.getNodeId();
    Key k;
    std::copy(id.begin(), id.end(), k.bytes.begin());
    return k;
  }

  std::uint16_t port() const override {
    auto p = runner_.getBoundPort(AF_INET);
    return p != 0 ? p : runner_.getBoundPort(AF_INET6);
  }

  std::size_t permanentPuts() const override {
    std::lock_guard lock(mutex_);
    return permanent_.size();
  }

 private:
  mutable ::dht::DhtRunner runner_;
  mutable std::mutex mutex_;
  ListenToken lastToken_ = 0;
  std::map<ListenToken, std::pair<Key, std::shared_future<std::size_t>>> listens_;
  std::map<std::pair<Key, std::uint64_t>, bool> permanent_;
  static constexpr std::size_t kMaxPutsInFlight = 32;
  static constexpr std::ptrdiff_t kMaxPlainAhead = 64;
  bool stopping_ = false;
  // Puts waiting for their acknowledgements (key and value id), by place.
  std::map<std::uint64_t, std::pair<Key, std::uint64_t>> inFlight_;
  std::uint64_t lastPlace_ = 0;
  std::deque<QueuedPut> queued_;
};

}  // namespace

Key Key::hash(std::string_view text) {
  auto h = ::dht::InfoHash::get(text);
  Key k;
  std::copy(h.begin(), h.end(), k.bytes.begin());
  return k;
}

std::string Key::hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::optional<Key> Key::fromHex(std::string_view hex) {
  Key k;
  if (hex.size() != 2 * k.bytes.size() || !config::isLowerHex(hex))
    return std::nullopt;
  auto digit = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (std::size_t i = 0; i < k.bytes.size(); ++i)
    k.bytes[i] = static_cast<std::uint8_t>(digit(hex[2 * i]) << 4 | digit(hex[2 * i + 1]));
  return k;
}

std::unique_ptr<Overlay> startOpendht(const NodeOptions& options) {
  return std::make_unique<OpendhtOverlay>(options);
}

}  // namespace z2z::dht
