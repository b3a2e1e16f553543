// SPDX-License-Identifier: GPL-3.0-or-later
// The served gateway API. Abyss runs its accept loop on a thread of ours and a thread per
// connection; each method validates its arguments, checks the client's rate, then calls the
// thread-safe Overlay and waits (bounded) for its answer: the main loop is never involved.
#include "z2z/bridge/xmlrpc_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <xmlrpc-c/base.hpp>
#include <xmlrpc-c/girerr.hpp>
#include <xmlrpc-c/registry.hpp>
#include <xmlrpc-c/server_abyss.hpp>

#include <condition_variable>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "z2z/config/error.hpp"
#include "z2z/config/log.hpp"
#include "z2z/dht/gateway_api.hpp"

namespace z2z::bridge {
namespace {

namespace gw = dht::gateway;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kTag = "xmlrpc";
constexpr auto kOverlayWait = std::chrono::seconds(15);
constexpr int kFaultBadArgument = 1;  // malformed or out-of-range argument
constexpr int kFaultRate = 2;         // the client's rate limit (get, get_details)
constexpr int kFaultOverlay = 3;      // the DHT did not answer in time (get, get_details)
constexpr int kFaultInternal = 4;
constexpr std::size_t kMaxClientsTracked = 10000;
const std::int64_t kLifetime =
    std::chrono::duration_cast<std::chrono::seconds>(dht::kValueLifetime).count();

dht::Key toKey(const dht::Bytes& b) {
  dht::Key k;
  std::copy(b.begin(), b.end(), k.bytes.begin());
  return k;
}

dht::Bytes bytesArg(const xmlrpc_c::paramList& p, unsigned i) {
  auto v = p.getBytestring(i);
  return dht::Bytes(v.begin(), v.end());
}

xmlrpc_c::value bytesValue(const dht::Bytes& b) {
  return xmlrpc_c::value_bytestring(std::vector<unsigned char>(b.begin(), b.end()));
}

void require(const Status& s) {
  if (!s)
    throw xmlrpc_c::fault(s.error(), static_cast<xmlrpc_c::fault::code_t>(kFaultBadArgument));
}

std::uint64_t idOf(const dht::Bytes& data) {
  auto h = gw::sha1(data);
  std::uint64_t id = 0;
  for (int i = 0; i < 8; ++i)
    id = (id << 8) | h[static_cast<std::size_t>(i)];
  return id;
}

// The client's address, for the rate limit: an IPv4 address, or the first 64 bits of an IPv6
// one (all Abyss keeps of it, and a sensible unit anyway).
std::string clientOf(const xmlrpc_c::callInfo* info) {
  auto* abyss = dynamic_cast<const xmlrpc_c::callInfo_serverAbyss*>(info);
  if (abyss == nullptr)
    return "?";
  void* channelInfo = nullptr;
  SessionGetChannelInfo(abyss->abyssSessionP, &channelInfo);
  if (channelInfo == nullptr)
    return "?";
  const auto* ci = static_cast<const abyss_unix_chaninfo*>(channelInfo);
  const sockaddr& sa = ci->peerAddr;
  char text[INET6_ADDRSTRLEN] = "?";
  if (sa.sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, &sa, sizeof in);
    inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
  } else if (sa.sa_family == AF_INET6) {
    in6_addr a{};
    std::memcpy(&a, sa.sa_data + 6, 8);  // port (2), flow info (4), then the address
    inet_ntop(AF_INET6, &a, text, sizeof text);
  }
  return text;
}

}  // namespace

struct XmlrpcServer::Impl {
  struct Held {
    std::int64_t expires;
    dht::Bytes valueHash;
    dht::Bytes secretHash;
  };
  struct Bucket {
    double tokens;
    Clock::time_point last;
  };

  dht::Overlay& overlay;
  XmlrpcServerOptions options;
  int fd = -1;
  std::uint16_t boundPort = 0;
  xmlrpc_c::registry registry;
  std::unique_ptr<xmlrpc_c::serverAbyss> server;
  std::thread serverThread;
  std::thread sweeper;

  std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  std::map<std::string, Bucket> buckets;
  std::map<std::pair<dht::Key, std::uint64_t>, Held> held;  // puts with a TTL past kLifetime

  // One API method: argument count, the handler, and the guard every callback boundary needs.
  class Method : public xmlrpc_c::method2 {
   public:
    using Handler = std::function<xmlrpc_c::value(const xmlrpc_c::paramList&, const std::string&)>;
    Method(std::string name, std::string signature, unsigned arity, Handler handler)
        : name_(std::move(name)), arity_(arity), handler_(std::move(handler)) {
      _signature = signature;
    }
    void execute(const xmlrpc_c::paramList& params, const xmlrpc_c::callInfo* info,
                 xmlrpc_c::value* result) override {
      std::string client;
      try {
        client = clientOf(info);
        params.verifyEnd(arity_);
        *result = handler_(params, client);
      } catch (const xmlrpc_c::fault& f) {
        log::info(kTag, name_, " from ", client, ": fault: ", f.getDescription());
        throw;
      } catch (const std::exception& e) {
        log::error(kTag, name_, " from ", client, ": ", e.what());
        throw xmlrpc_c::fault("internal error",
                              static_cast<xmlrpc_c::fault::code_t>(kFaultInternal));
      } catch (...) {
        log::error(kTag, name_, " from ", client, ": unknown exception");
        throw xmlrpc_c::fault("internal error",
                              static_cast<xmlrpc_c::fault::code_t>(kFaultInternal));
      }
    }

   private:
    std::string name_;
    unsigned arity_;
    Handler handler_;
  };

  Impl(dht::Overlay& o, const XmlrpcServerOptions& opts) : overlay(o), options(opts) {
    bind();
    addMethods();
    xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, kMaxXmlrpcRequest);
    try {
      server = std::make_unique<xmlrpc_c::serverAbyss>(
          xmlrpc_c::serverAbyss::constrOpt()
              .registryP(&registry)
              .socketFd(fd)
              .serverOwnsSignals(false)  // else Abyss exits the process on SIGTERM and SIGHUP
              .maxConn(16)
              .keepaliveTimeout(15)
              .timeout(20)
              .uriPath("/")  // the classic gateways answered at http://HOST:5851/
              .dontAdvertise(true));
    } catch (const std::exception& e) {
      ::close(fd);
      throw Error(std::string("cannot start the XML-RPC server: ") + e.what());
    }
    serverThread = std::thread([this] {
      try {
        server->run();
      } catch (const std::exception& e) {
        log::error(kTag, "server stopped: ", e.what());
      }
    });
    sweeper = std::thread([this] { sweep(); });
    log::notice(kTag, "serving the OpenDHT gateway API on ", options.address, " port ", boundPort,
                options.ratePerClient ? "" : " (no rate limit)");
  }

  ~Impl() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    cv.notify_all();
    sweeper.join();
    server->terminate();
    serverThread.join();
    server.reset();
    ::close(fd);
  }

  void bind() {
    sockaddr_storage ss{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, options.address.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(options.port);
      len = sizeof *v4;
    } else if (inet_pton(AF_INET6, options.address.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(options.port);
      len = sizeof *v6;
    } else {
      throw Error("--xmlrpc-listen: '" + options.address + "' is not an IPv4 or IPv6 address");
    }
    fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      throw Error(std::string("XML-RPC socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      int err = errno;
      ::close(fd);
      throw Error("cannot listen for XML-RPC on " + options.address + " port " +
                  std::to_string(options.port) + ": " + std::strerror(err));
    }
    sockaddr_storage bound{};
    socklen_t boundLen = sizeof bound;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &boundLen);
    boundPort =
        ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                         : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  }

  // Token bucket per client: ratePerClient a second, bursts of twice that.
  bool allow(const std::string& client) {
    if (options.ratePerClient == 0)
      return true;
    std::lock_guard lock(mutex);
    auto now = Clock::now();
    double rate = options.ratePerClient;
    if (buckets.size() > kMaxClientsTracked) {
      std::erase_if(buckets,
                    [&](const auto& b) { return now - b.second.last > std::chrono::seconds(10); });
    }
    auto [it, fresh] = buckets.try_emplace(client, Bucket{2 * rate, now});
    Bucket& b = it->second;
    b.tokens =
        std::min(2 * rate, b.tokens + rate * std::chrono::duration<double>(now - b.last).count());
    b.last = now;
    if (b.tokens < 1)
      return false;
    b.tokens -= 1;
    return true;
  }

  // Writes one stored value; the API status.
  gw::PutStatus write(const dht::Key& key, const gw::Stored& stored, std::int64_t ttl,
                      const dht::Bytes& valueHash, const dht::Bytes& secretHash) {
    dht::Bytes data = gw::encodeStored(stored);
    std::uint64_t id = idOf(data);
    // The overlay keeps a value kLifetime unless kept alive: longer TTLs are kept alive here.
    bool permanent = ttl > kLifetime;
    if (permanent) {
      std::lock_guard lock(mutex);
      if (held.size() >= kMaxHeldPuts)
        return gw::PutStatus::OverCapacity;
      held[{key, id}] = Held{gw::unixNow() + ttl, valueHash, secretHash};
    }
    auto done = std::make_shared<std::promise<bool>>();
    auto future = done->get_future();
    overlay.put(key, dht::Value{id, std::move(data)}, permanent,
                [done](bool ok) { done->set_value(ok); });
    bool ok = future.wait_for(kOverlayWait) == std::future_status::ready && future.get();
    if (!ok && permanent) {
      overlay.cancelPut(key, id);
      std::lock_guard lock(mutex);
      held.erase({key, id});
    }
    return ok ? gw::PutStatus::Success : gw::PutStatus::TryAgain;
  }

  xmlrpc_c::value put(const dht::Bytes& key, const dht::Bytes& value, const std::string& hashType,
                      const dht::Bytes& secretHash, std::int64_t ttl, const std::string& client) {
    if (!allow(client))
      return xmlrpc_c::value_int(static_cast<int>(gw::PutStatus::TryAgain));
    gw::StoredPut p{value, hashType, secretHash, gw::unixNow() + ttl};
    auto status = write(toKey(key), p, ttl, gw::sha1(value), secretHash);
    log::debug(kTag, "put of ", value.size(), " bytes for ", ttl, " s from ", client, ": ",
               static_cast<int>(status));
    return xmlrpc_c::value_int(static_cast<int>(status));
  }

  xmlrpc_c::value rm(const xmlrpc_c::paramList& p, const std::string& client) {
    dht::Bytes key = bytesArg(p, 0), valueHash = bytesArg(p, 1);
    std::string hashType = p.getString(2);
    dht::Bytes secret = bytesArg(p, 3);
    std::int64_t ttl = p.getInt(4);
    std::string application = p.getString(5);
    require(gw::validateKey(key));
    if (valueHash.size() != 20) {
      require(fail("value_hash: " + std::to_string(valueHash.size()) +
                   " bytes, must be 20 (SHA-1 of the value)"));
    }
    require(gw::validateHashType(hashType));
    require(gw::validateSecret(secret));
    require(gw::validateTtl(ttl));
    require(gw::validateApplication(application));
    if (!allow(client))
      return xmlrpc_c::value_int(static_cast<int>(gw::PutStatus::TryAgain));
    dht::Key k = toKey(key);
    dht::Bytes secretHash = gw::sha1(secret);
    // Stop keeping alive what this removes; the stored rm hides it everywhere meanwhile.
    std::vector<std::uint64_t> cancel;
    {
      std::lock_guard lock(mutex);
      for (auto it = held.begin(); it != held.end();) {
        if (it->first.first == k && it->second.valueHash == valueHash &&
            it->second.secretHash == secretHash) {
          cancel.push_back(it->first.second);
          it = held.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (std::uint64_t id : cancel)
      overlay.cancelPut(k, id);
    gw::StoredRm r{valueHash, hashType, secret, gw::unixNow() + ttl};
    auto status = write(k, r, ttl, {}, {});
    return xmlrpc_c::value_int(static_cast<int>(status));
  }

  std::vector<gw::Entry> lookup(const dht::Key& key) {
    auto done = std::make_shared<std::promise<std::vector<dht::Value>>>();
    auto future = done->get_future();
    overlay.get(key,
                [done](std::vector<dht::Value> values) { done->set_value(std::move(values)); });
    if (future.wait_for(kOverlayWait) != std::future_status::ready) {
      throw xmlrpc_c::fault("the DHT did not answer in time; try again",
                            static_cast<xmlrpc_c::fault::code_t>(kFaultOverlay));
    }
    return gw::present(future.get(), gw::unixNow());
  }

  xmlrpc_c::value get(const xmlrpc_c::paramList& p, const std::string& client, bool details) {
    dht::Bytes key = bytesArg(p, 0);
    std::int64_t maxvals = p.getInt(1);
    dht::Bytes placemark = bytesArg(p, 2);
    std::string application = p.getString(3);
    require(gw::validateKey(key));
    require(gw::validateMaxvals(maxvals));
    require(gw::validatePlacemark(placemark));
    require(gw::validateApplication(application));
    if (!allow(client)) {
      throw xmlrpc_c::fault("rate limit: at most " + std::to_string(options.ratePerClient) +
                                " requests a second; try again",
                            static_cast<xmlrpc_c::fault::code_t>(kFaultRate));
    }
    auto entries = lookup(toKey(key));
    auto it = entries.begin();
    if (!placemark.empty()) {
      it = std::upper_bound(entries.begin(), entries.end(), placemark,
                            [](const dht::Bytes& pm, const gw::Entry& e) { return pm < e.order; });
    }
    std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(maxvals), kMaxValuesPerGet);
    std::vector<xmlrpc_c::value> values;
    dht::Bytes next;
    for (; it != entries.end() && values.size() < n; ++it) {
      if (details) {
        values.push_back(xmlrpc_c::value_array(
            {bytesValue(it->value), xmlrpc_c::value_int(static_cast<int>(it->ttlRemaining)),
             xmlrpc_c::value_string(it->hashType), bytesValue(it->secretHash)}));
      } else {
        values.push_back(bytesValue(it->value));
      }
      next = it->order;
    }
    if (it == entries.end())
      next.clear();  // nothing more: the empty placemark says so
    return xmlrpc_c::value_array({xmlrpc_c::value_array(values), bytesValue(next)});
  }

  void addMethods() {
    auto add = [this](const std::string& name, const std::string& sig, unsigned arity,
                      Method::Handler h) {
      registry.addMethod(name, xmlrpc_c::methodPtr(new Method(name, sig, arity, std::move(h))));
    };
    add("put", "i:6iis", 4, [this](const xmlrpc_c::paramList& p, const std::string& client) {
      dht::Bytes key = bytesArg(p, 0), value = bytesArg(p, 1);
      std::int64_t ttl = p.getInt(2);
      std::string application = p.getString(3);
      require(gw::validateKey(key));
      require(gw::validateValue(value));
      require(gw::validateTtl(ttl));
      require(gw::validateApplication(application));
      return put(key, value, "", {}, ttl, client);
    });
    add("put_removable", "i:66s6is", 6,
        [this](const xmlrpc_c::paramList& p, const std::string& client) {
          dht::Bytes key = bytesArg(p, 0), value = bytesArg(p, 1);
          std::string hashType = p.getString(2);
          dht::Bytes secretHash = bytesArg(p, 3);
          std::int64_t ttl = p.getInt(4);
          std::string application = p.getString(5);
          require(gw::validateKey(key));
          require(gw::validateValue(value));
          require(gw::validateHashType(hashType));
          require(gw::validateSecretHash(secretHash));
          require(gw::validateTtl(ttl));
          require(gw::validateApplication(application));
          return put(key, value, hashType, secretHash, ttl, client);
        });
    add("get", "A:6i6s", 4, [this](const xmlrpc_c::paramList& p, const std::string& client) {
      return get(p, client, false);
    });
    add("get_details", "A:6i6s", 4,
        [this](const xmlrpc_c::paramList& p, const std::string& client) {
          return get(p, client, true);
        });
    add("rm", "i:66s6is", 6,
        [this](const xmlrpc_c::paramList& p, const std::string& client) { return rm(p, client); });
  }

  // Stops keeping alive the long-TTL puts and rms whose TTL has run out.
  void sweep() {
    std::unique_lock lock(mutex);
    while (!cv.wait_for(lock, std::chrono::seconds(1), [this] { return stopping; })) {
      auto now = gw::unixNow();
      std::vector<std::pair<dht::Key, std::uint64_t>> expired;
      for (auto it = held.begin(); it != held.end();) {
        if (it->second.expires <= now) {
          expired.push_back(it->first);
          it = held.erase(it);
        } else {
          ++it;
        }
      }
      lock.unlock();
      for (const auto& [k, id] : expired)
        overlay.cancelPut(k, id);
      lock.lock();
    }
  }
};

XmlrpcServer::XmlrpcServer(dht::Overlay& overlay, const XmlrpcServerOptions& options)
    : impl_(std::make_unique<Impl>(overlay, options)) {}

XmlrpcServer::~XmlrpcServer() = default;

std::uint16_t XmlrpcServer::port() const {
  return impl_->boundPort;
}

}  // namespace z2z::bridge
