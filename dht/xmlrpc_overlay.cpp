// SPDX-License-Identifier: GPL-3.0-or-later
// The client backend: an Overlay that talks to a classic OpenDHT gateway over XML-RPC instead of
// running a DHT node. One worker thread owns the xmlrpc-c client and does every call in turn:
// queued puts and removals (retried with backoff), polls of listened keys, one-shot gets.
#include <xmlrpc-c/base.hpp>
#include <xmlrpc-c/client.hpp>
#include <xmlrpc-c/client_transport.hpp>
#include <xmlrpc-c/girerr.hpp>
#include <xmlrpc-c/xml.hpp>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "z2z/config/error.hpp"
#include "z2z/config/guard.hpp"
#include "z2z/config/log.hpp"
#include "z2z/dht/gateway_api.hpp"
#include "z2z/dht/overlay.hpp"

namespace z2z::dht {
namespace {

constexpr std::string_view kTag = "xmlrpc";
using Clock = std::chrono::steady_clock;

// What z2z puts lives as long as an embedded node keeps an unrefreshed value.
constexpr std::int64_t kPutTtl =
    std::chrono::duration_cast<std::chrono::seconds>(kValueLifetime).count();
// An rm must outlive the put it removes.
constexpr std::int64_t kRmTtl = kPutTtl + 60;
constexpr auto kRefreshEvery = std::chrono::seconds(kPutTtl / 2);
constexpr auto kMinBackoff = std::chrono::seconds(1);
constexpr auto kMaxBackoff = std::chrono::seconds(8);
constexpr int kPageSize = 32;
constexpr int kMaxPages = 256;
constexpr std::size_t kMaxQueued = 4096;
constexpr unsigned kCallTimeoutMs = 10000;

xmlrpc_c::value bytes(const Bytes& b) {
  return xmlrpc_c::value_bytestring(std::vector<unsigned char>(b.begin(), b.end()));
}

Bytes toBytes(const xmlrpc_c::value& v) {
  auto u = xmlrpc_c::value_bytestring(v).vectorUcharValue();
  return Bytes(u.begin(), u.end());
}

// Whether a libcurl error says the server's certificate did not verify (curl 7.88: "SSL
// certificate problem: ...", "SSL: no alternative certificate subject name matches ...").
bool certificateProblem(const std::string& what) {
  return what.find("SSL certificate problem") != std::string::npos ||
         what.find("SSL: no alternative certificate subject name") != std::string::npos ||
         what.find("SSL: certificate subject name") != std::string::npos;
}

// The libcurl transport. Certificates are always verified (peer and host name): against the CA
// file if one is given, else libcurl's default, the system's store.
xmlrpc_c::clientXmlTransport_curl makeTransport(const XmlrpcOptions& options) {
  xmlrpc_c::clientXmlTransport_curl::constrOpt opt;
  opt.timeout(kCallTimeoutMs).user_agent("z2z/" Z2Z_VERSION);
  if (!options.caFile.empty()) {
    std::ifstream in(options.caFile);
    if (!in)
      throw Error("gateway-ca: cannot read '" + options.caFile + "': " + std::strerror(errno));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad() || text.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
      throw Error("gateway-ca: '" + options.caFile + "' holds no PEM certificate");
    opt.cainfo(options.caFile);
  }
  return xmlrpc_c::clientXmlTransport_curl(opt);
}

// A failed call: the gateway said "over capacity" or "try again", sent a fault, or could not be
// reached. All are retried the same way.
struct CallFailed {
  std::string what;
};

class XmlrpcOverlay final : public Overlay {
 public:
  explicit XmlrpcOverlay(const XmlrpcOptions& options)
      : options_(options), transport_(makeTransport(options)), carriage_(options.url) {
    std::random_device rd;
    for (auto& b : secret_)
      b = static_cast<std::uint8_t>(rd());
    log::notice(kTag, "using the gateway API at ", options_.url, " (poll every ",
                options_.poll.count(), " s",
                options_.caFile.empty() ? "" : ", certificate checked against " + options_.caFile,
                ") instead of a DHT node");
    worker_ = std::thread([this] { run(); });
  }

  ~XmlrpcOverlay() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  void put(const Key& key, Value value, bool permanent, DoneCallback done) override {
    auto chunks = gateway::splitValue(value);
    std::lock_guard lock(mutex_);
    if (permanent) {
      permanent_[{key, value.id}] = Permanent{chunks, Clock::now() + kRefreshEvery, Clock::now()};
    }
    enqueue(Op{OpKind::Put, key, value.id, std::move(chunks), std::move(done),
               Clock::now() + std::chrono::seconds(kPutTtl)});
  }

  void cancelPut(const Key& key, std::uint64_t id) override {
    std::lock_guard lock(mutex_);
    auto it = permanent_.find({key, id});
    if (it == permanent_.end())
      return;
    std::vector<Bytes> chunks = std::move(it->second.chunks);
    permanent_.erase(it);
    // A put still waiting need not be sent at all; its removal is sent anyway, in case an
    // earlier attempt reached the gateway.
    std::erase_if(ops_, [&](const Op& op) {
      return op.kind == OpKind::Put && op.key == key && op.id == id && !op.done;
    });
    enqueue(Op{OpKind::Rm, key, id, std::move(chunks), nullptr,
               Clock::now() + std::chrono::seconds(kRmTtl)});
  }

  void get(const Key& key, std::function<void(std::vector<Value>)> done) override {
    {
      std::lock_guard lock(mutex_);
      gets_.push_back({key, std::move(done)});
      wake_ = true;
    }
    cv_.notify_all();
  }

  ListenToken listen(const Key& key, ListenCallback callback) override {
    ListenToken token;
    {
      std::lock_guard lock(mutex_);
      token = ++lastToken_;
      listens_[token] =
          std::make_shared<Listen>(Listen{key, std::move(callback), {}, Clock::now()});
      wake_ = true;
    }
    cv_.notify_all();
    return token;
  }

  void cancelListen(ListenToken token) override {
    std::lock_guard lock(mutex_);
    listens_.erase(token);
  }

  void bootstrap(const std::vector<config::Endpoint>& nodes) override {
    if (!nodes.empty())
      log::warning(kTag, "--bootstrap has no effect with --gateway");
  }

  OverlayStats stats() const override {
    std::lock_guard lock(mutex_);
    return OverlayStats{reachable_ ? 1u : 0u, reachable_ ? 0u : 1u};
  }

  std::uint16_t port() const override { return 0; }
  Key nodeId() const override { return {}; }
  // A gateway's client has no routing table and is reached by nobody.
  std::vector<config::Endpoint> knownNodes() const override { return {}; }
  std::vector<NodeInfo> routingNodes() const override { return {}; }
  std::vector<config::Endpoint> publicEndpoints() const override { return {}; }

  std::size_t permanentPuts() const override {
    std::lock_guard lock(mutex_);
    return permanent_.size();
  }

 private:
  enum class OpKind { Put, Rm };
  struct Op {
    OpKind kind;
    Key key;
    std::uint64_t id = 0;
    std::vector<Bytes> chunks;
    DoneCallback done;
    Clock::time_point expires;  // pointless after this: the value would have expired anyway
    std::size_t next = 0;       // chunks already accepted
  };
  struct Permanent {
    std::vector<Bytes> chunks;
    Clock::time_point refreshAt;
    Clock::time_point lastQueued;
  };
  struct Listen {
    Key key;
    ListenCallback callback;
    gateway::ValueDiff diff;
    Clock::time_point nextPoll;
  };
  struct Get {
    Key key;
    std::function<void(std::vector<Value>)> done;
  };

  // Caller holds mutex_.
  void enqueue(Op op) {
    if (ops_.size() >= kMaxQueued) {
      log::warning(kTag, "more than ", kMaxQueued,
                   " writes waiting for the gateway: dropping the oldest");
      ops_.pop_front();
    }
    ops_.push_back(std::move(op));
    wake_ = true;
    cv_.notify_all();
  }

  // ---- calls (worker thread, without mutex_) ----------------------------------------------------

  // The response is looked at before xmlrpc-c parses it: its parser expands the entities of a
  // DTD without a limit, and XML-RPC has no DTD (the served endpoint refuses one too).
  xmlrpc_c::value call(const std::string& method, const xmlrpc_c::paramList& params) {
    xmlrpc_c::rpcOutcome outcome;
    try {
      std::string request, response;
      xmlrpc_c::xml::generateCall(method, params, &request);
      transport_.call(&carriage_, request, &response);
      if (Status text = gateway::checkXmlrpcText(response); !text)
        throw CallFailed{method + ": the gateway's answer: " + text.error()};
      xmlrpc_c::xml::parseResponse(response, &outcome);
    } catch (const CallFailed&) {
      throw;
    } catch (const std::exception& e) {
      throw CallFailed{method + ": " + e.what()};
    }
    if (!outcome.succeeded()) {
      auto f = outcome.getFault();
      throw CallFailed{method + ": fault " + std::to_string(f.getCode()) + ": " +
                       f.getDescription()};
    }
    return outcome.getResult();
  }

  void callStatus(const std::string& method, const xmlrpc_c::paramList& params) {
    int status = xmlrpc_c::value_int(call(method, params));
    if (status == static_cast<int>(gateway::PutStatus::Success))
      return;
    throw CallFailed{method + ": status " + std::to_string(status) +
                     (status == 1   ? " (over capacity)"
                      : status == 2 ? " (try again)"
                                    : "")};
  }

  // The removal secret of one chunk: a hash of this run's secret, the key and the chunk's hash
  // (inputs of fixed length). A stored rm carries its secret in clear, so each secret may only
  // ever remove its own chunk: with one secret for the whole run, anyone who read one rm in the
  // DHT could remove every other value this client had put.
  Bytes chunkSecret(const Key& key, const Bytes& chunk) const {
    Bytes in(secret_.begin(), secret_.end());
    in.insert(in.end(), key.bytes.begin(), key.bytes.end());
    Bytes digest = gateway::sha1(chunk);
    in.insert(in.end(), digest.begin(), digest.end());
    return gateway::sha1(in);
  }

  void putChunk(const Key& key, const Bytes& chunk, std::int64_t ttl) {
    xmlrpc_c::paramList p;
    p.add(bytes(Bytes(key.bytes.begin(), key.bytes.end())));
    p.add(bytes(chunk));
    p.add(xmlrpc_c::value_string(std::string(gateway::kHashType)));
    p.add(bytes(gateway::sha1(chunkSecret(key, chunk))));
    p.add(xmlrpc_c::value_int(static_cast<int>(ttl)));
    p.add(xmlrpc_c::value_string(options_.application));
    callStatus("put_removable", p);
  }

  void rmChunk(const Key& key, const Bytes& chunk) {
    xmlrpc_c::paramList p;
    p.add(bytes(Bytes(key.bytes.begin(), key.bytes.end())));
    p.add(bytes(gateway::sha1(chunk)));
    p.add(xmlrpc_c::value_string(std::string(gateway::kHashType)));
    p.add(bytes(chunkSecret(key, chunk)));
    p.add(xmlrpc_c::value_int(static_cast<int>(kRmTtl)));
    p.add(xmlrpc_c::value_string(options_.application));
    callStatus("rm", p);
  }

  // Every value under the key, all pages.
  std::vector<Bytes> getAll(const Key& key) {
    std::vector<Bytes> values;
    Bytes placemark;
    for (int page = 0; page < kMaxPages; ++page) {
      xmlrpc_c::paramList p;
      p.add(bytes(Bytes(key.bytes.begin(), key.bytes.end())));
      p.add(xmlrpc_c::value_int(kPageSize));
      p.add(bytes(placemark));
      p.add(xmlrpc_c::value_string(options_.application));
      try {
        auto result = xmlrpc_c::value_array(call("get", p)).vectorValueValue();
        if (result.size() != 2)
          throw CallFailed{"get: the answer is not [values, placemark]"};
        for (const auto& v : xmlrpc_c::value_array(result[0]).vectorValueValue()) {
          values.push_back(toBytes(v));
        }
        placemark = toBytes(result[1]);
      } catch (const girerr::error& e) {
        throw CallFailed{std::string("get: malformed answer: ") + e.what()};
      }
      if (placemark.empty())
        return values;
    }
    throw CallFailed{"get: more than " + std::to_string(kMaxPages) + " pages"};
  }

  // ---- worker -----------------------------------------------------------------------------------

  void failed(const CallFailed& f) {
    std::lock_guard lock(mutex_);
    backoff_ = backoff_.count() == 0 ? kMinBackoff
                                     : std::min(backoff_ * 2, std::chrono::seconds(kMaxBackoff));
    retryAt_ = Clock::now() + backoff_;
    if (certificateProblem(f.what) && !certificateReported_) {
      log::error(
          kTag, "gateway ", options_.url, ": its TLS certificate is not trusted",
          options_.caFile.empty() ? " by the system's CAs" : " by the CAs in " + options_.caFile,
          " (give the CA that signed it with --gateway-ca or [server] gateway-ca)");
      certificateReported_ = true;
    }
    if (reachable_) {
      log::warning(kTag, "gateway ", options_.url, ": ", f.what, "; retrying every ",
                   kMaxBackoff.count(), " s at most, ", ops_.size(), " writes waiting");
    } else {
      log::info(kTag, "gateway ", options_.url, ": ", f.what, "; retrying in ", backoff_.count(),
                " s");
    }
    reachable_ = false;
  }

  void succeeded() {
    std::lock_guard lock(mutex_);
    backoff_ = {};
    certificateReported_ = false;
    if (reachable_)
      return;
    reachable_ = true;
    // The gateway may have lost what it stored (a restart of its node): write everything again.
    for (auto& [k, p] : permanent_)
      requeuePermanent(k, p);
    log::notice(kTag, "gateway ", options_.url, " reachable: ", ops_.size(), " writes to catch up");
  }

  // Caller holds mutex_.
  void requeuePermanent(const std::pair<Key, std::uint64_t>& k, Permanent& p) {
    p.refreshAt = Clock::now() + kRefreshEvery;
    p.lastQueued = Clock::now();
    bool queued = std::any_of(ops_.begin(), ops_.end(), [&](const Op& op) {
      return op.kind == OpKind::Put && op.key == k.first && op.id == k.second;
    });
    if (!queued) {
      ops_.push_back(Op{OpKind::Put, k.first, k.second, p.chunks, nullptr,
                        Clock::now() + std::chrono::seconds(kPutTtl)});
    }
  }

  // Does one piece of work if one is due; returns false if there is nothing to do now.
  bool step() {
    std::unique_lock lock(mutex_);
    auto now = Clock::now();
    if (now < retryAt_)
      return false;
    while (!ops_.empty() && ops_.front().expires < now) {
      log::info(kTag, "dropping a write older than its TTL");
      ops_.pop_front();
    }
    for (auto& [k, p] : permanent_) {
      if (p.refreshAt <= now)
        requeuePermanent(k, p);
    }
    if (!gets_.empty()) {
      Get g = std::move(gets_.front());
      gets_.pop_front();
      lock.unlock();
      std::vector<Value> values;
      try {
        values = gateway::assemble(getAll(g.key)).values;
        succeeded();
      } catch (const CallFailed& f) {
        failed(f);
      }
      guarded(kTag, "get callback", [&] { g.done(std::move(values)); });
      return true;
    }
    if (!ops_.empty()) {
      Op& op = ops_.front();
      Op copy{op.kind, op.key, op.id, op.chunks, nullptr, op.expires, op.next};
      lock.unlock();
      try {
        for (; copy.next < copy.chunks.size(); ++copy.next) {
          if (copy.kind == OpKind::Put) {
            putChunk(copy.key, copy.chunks[copy.next], kPutTtl);
          } else {
            rmChunk(copy.key, copy.chunks[copy.next]);
          }
        }
      } catch (const CallFailed& f) {
        failed(f);
        std::lock_guard relock(mutex_);
        // The front may have been cancelled meanwhile; remember progress only if it is ours.
        if (!ops_.empty() && ops_.front().id == copy.id && ops_.front().kind == copy.kind) {
          ops_.front().next = copy.next;
        }
        return true;
      }
      succeeded();
      DoneCallback done;
      {
        std::lock_guard relock(mutex_);
        if (!ops_.empty() && ops_.front().id == copy.id && ops_.front().kind == copy.kind) {
          done = std::move(ops_.front().done);
          ops_.pop_front();
        }
      }
      if (done)
        guarded(kTag, "put callback", [&] { done(true); });
      return true;
    }
    std::shared_ptr<Listen> due;
    for (auto& [token, l] : listens_) {
      if (l->nextPoll <= now && (!due || l->nextPoll < due->nextPoll))
        due = l;
    }
    if (!due)
      return false;
    due->nextPoll = now + options_.poll;
    lock.unlock();
    poll(*due);
    return true;
  }

  void poll(Listen& l) {
    std::vector<Value> current;
    try {
      auto assembly = gateway::assemble(getAll(l.key));
      if (assembly.incomplete > 0) {
        log::debug(kTag, assembly.incomplete, " values under ", l.key.hex(), " still lack chunks");
      }
      current = std::move(assembly.values);
      succeeded();
    } catch (const CallFailed& f) {
      failed(f);
      return;  // no news is not news of loss: nothing expires while the gateway is away
    }
    auto change = l.diff.update(current);
    if (!change.added.empty())
      guarded(kTag, "listen callback", [&] { l.callback(change.added, false); });
    if (!change.gone.empty())
      guarded(kTag, "listen callback", [&] { l.callback(change.gone, true); });
    // Our own values missing from the answer (the gateway's node restarted, say): write again.
    std::lock_guard lock(mutex_);
    for (auto& [k, p] : permanent_) {
      if (k.first != l.key || Clock::now() - p.lastQueued < options_.poll * 2)
        continue;
      // Ours by id and head: someone else may put a value under our id.
      auto ours = gateway::decodeChunk(p.chunks.front());
      bool present = ours && std::any_of(current.begin(), current.end(), [&](const Value& v) {
                       return v.id == k.second && gateway::chunkHead(v.data) == ours->head;
                     });
      if (!present) {
        log::info(kTag, "value ", k.second, " missing at the gateway: writing it again");
        requeuePermanent(k, p);
      }
    }
  }

  void run() {
    while (true) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_)
          return;
      }
      bool worked = false;
      try {
        worked = step();
      } catch (const std::exception& e) {
        log::error(kTag, "worker: ", e.what());
      }
      if (worked)
        continue;
      std::unique_lock lock(mutex_);
      // Woken by new work; otherwise at least every 100 ms for timers (polls, backoff, refresh).
      cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_ || wake_; });
      wake_ = false;
    }
  }

  XmlrpcOptions options_;
  xmlrpc_c::clientXmlTransport_curl transport_;
  xmlrpc_c::carriageParm_curl0 carriage_;
  std::array<std::uint8_t, 20> secret_{};

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool wake_ = false;
  bool reachable_ = true;
  bool certificateReported_ = false;  // the certificate problem was logged since the last success
  std::chrono::seconds backoff_{0};
  Clock::time_point retryAt_{};
  std::deque<Op> ops_;
  std::deque<Get> gets_;
  std::map<std::pair<Key, std::uint64_t>, Permanent> permanent_;
  std::map<ListenToken, std::shared_ptr<Listen>> listens_;
  ListenToken lastToken_ = 0;
  std::thread worker_;
};

}  // namespace

std::unique_ptr<Overlay> startXmlrpcClient(const XmlrpcOptions& options) {
  try {
    return std::make_unique<XmlrpcOverlay>(options);
  } catch (const girerr::error& e) {
    throw Error("cannot set up the XML-RPC client for " + options.url + ": " + e.what());
  }
}

}  // namespace z2z::dht
