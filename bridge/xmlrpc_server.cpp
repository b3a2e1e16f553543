// SPDX-License-Identifier: GPL-3.0-or-later
// The served gateway API. Abyss runs its accept loop on a thread of ours and a thread per
// connection; each method validates its arguments, checks the client's rate, then calls the
// thread-safe Overlay and waits (bounded) for its answer: the main loop is never involved.
// The Abyss server is built here from its C API rather than with xmlrpc_c::serverAbyss, so that
// a handler of ours sees each request before xmlrpc-c's own: xmlrpc-c answers an oversized
// request with a bare HTTP 500 and a request without Content-Length with HTTP 411, where a
// client deserves an XML-RPC fault and a chunked body is valid HTTP/1.1.
#include "z2z/bridge/xmlrpc_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <xmlrpc-c/abyss.h>
#include <xmlrpc-c/server_abyss.h>
#include <xmlrpc-c/base.hpp>
#include <xmlrpc-c/girerr.hpp>
#include <xmlrpc-c/registry.hpp>
#include <xmlrpc-c/server_abyss.hpp>
#include <xmlrpc-c/xml.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "z2z/bridge/read_cache.hpp"
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
constexpr int kFaultTooLarge = 5;  // the request is over kMaxXmlrpcRequest
constexpr int kFaultDtd = 6;       // a DTD, or not UTF-8 XML (gateway::checkXmlrpcText)
// An oversized body up to this size is read and thrown away before the fault is sent, so that
// the client, still sending, does not meet a reset connection instead of the answer; past it,
// the fault is sent at once and the connection closed.
constexpr std::uint64_t kMaxDrain = 2 * 1024 * 1024;
constexpr std::size_t kMaxChunkLine = 256;  // a chunk-size line or a trailer line
constexpr int kMaxTrailers = 32;
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
std::string clientOf(TSession* session) {
  void* channelInfo = nullptr;
  SessionGetChannelInfo(session, &channelInfo);
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

std::string clientOf(const xmlrpc_c::callInfo* info) {
  auto* abyss = dynamic_cast<const xmlrpc_c::callInfo_abyss*>(info);
  return abyss == nullptr ? "?" : clientOf(abyss->abyssSessionP);
}

// Takes an error string Abyss allocated; throws it as a z2z::Error if there is one.
void abyssCheck(const char* error, const std::string& what) {
  if (error == nullptr)
    return;
  std::string text = error;
  std::free(const_cast<char*>(error));
  throw Error(what + ": " + text);
}

// A Content-Length value: digits only, at most 18 of them.
std::optional<std::uint64_t> parseLength(const char* text) {
  std::size_t n = std::strlen(text);
  if (n == 0 || n > 18)
    return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (text[i] < '0' || text[i] > '9')
      return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  return v;
}

// The request body as it arrives, through the session's buffer. Takes from the session only
// the bytes it hands out (a request pipelined after this one stays there), at most `budget`
// of them; a read that fails (the client closed its side, or sent nothing within Abyss's
// timeout) ends the body.
class BodyReader {
 public:
  BodyReader(TSession* session, std::uint64_t budget) : session_(session), budget_(budget) {}

  bool next(char& c) {
    const char* data = nullptr;
    if (take(1, data) == 0)
      return false;
    c = *data;
    return true;
  }

  // Reads and drops `n` bytes; whether they all came.
  bool skip(std::uint64_t n) {
    const char* data = nullptr;
    while (n > 0) {  // bounded: every round takes at least one byte of the budget
      std::size_t got = take(n, data);
      if (got == 0)
        return false;
      n -= got;
    }
    return true;
  }

  // A line ending in LF (CR dropped), of at most `max` bytes.
  bool line(std::string& out, std::size_t max) {
    out.clear();
    char c;
    while (next(c)) {
      if (c == '\n') {
        if (!out.empty() && out.back() == '\r')
          out.pop_back();
        return true;
      }
      if (out.size() == max)
        return false;
      out.push_back(c);
    }
    return false;
  }

 private:
  // Up to `want` bytes (within the budget) at `data`; 0 at the end of the body.
  std::size_t take(std::uint64_t want, const char*& data) {
    std::uint64_t left = std::min(want, budget_ - read_);
    if (left == 0 || failed_)
      return 0;
    std::size_t got = 0;
    SessionGetReadData(session_, static_cast<std::size_t>(left), &data, &got);
    if (got == 0) {
      if (!SessionRefillBuffer(session_)) {
        failed_ = true;
        return 0;
      }
      SessionGetReadData(session_, static_cast<std::size_t>(left), &data, &got);
    }
    read_ += got;
    return got;
  }

  TSession* session_;
  std::uint64_t budget_;
  std::uint64_t read_ = 0;  // bytes taken from the session
  bool failed_ = false;
};

// A body without Content-Length: what was kept of it (at most kMaxXmlrpcRequest + 1 bytes).
struct Body {
  std::string xml;
  bool over = false;      // longer than kMaxXmlrpcRequest
  bool complete = false;  // read to its end: the connection may carry another request
  std::string error;      // malformed chunked encoding
};

void keep(Body& body, char c) {
  if (body.xml.size() <= kMaxXmlrpcRequest)
    body.xml.push_back(c);
  body.over = body.xml.size() > kMaxXmlrpcRequest;
}

// A chunked body (RFC 9112 section 7.1), chunk extensions and trailers ignored.
Body readChunked(TSession* session) {
  Body body;
  BodyReader in(session, kMaxDrain);
  std::string line;
  for (int chunks = 0; chunks < 1000000; ++chunks) {  // each chunk takes at least 3 bytes
    if (!in.line(line, kMaxChunkLine)) {
      body.error = "a chunk size line is cut short or too long";
      return body;
    }
    std::size_t end = line.find(';');
    std::string hex = line.substr(0, end);
    while (!hex.empty() && (hex.back() == ' ' || hex.back() == '\t'))
      hex.pop_back();
    std::uint64_t size = 0;
    bool hexOk = !hex.empty() && hex.size() <= 15;
    for (char h : hex) {
      int digit = h >= '0' && h <= '9'   ? h - '0'
                  : h >= 'a' && h <= 'f' ? h - 'a' + 10
                  : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                         : -1;
      hexOk = hexOk && digit >= 0;
      size = size * 16 + static_cast<std::uint64_t>(digit < 0 ? 0 : digit);
    }
    if (!hexOk) {
      body.error = "a chunk size is not a hexadecimal number";
      return body;
    }
    if (size == 0) {
      for (int i = 0; i < kMaxTrailers; ++i) {
        if (!in.line(line, kMaxChunkLine))
          break;
        if (line.empty()) {
          body.complete = true;
          break;
        }
      }
      return body;
    }
    for (std::uint64_t i = 0; i < size; ++i) {
      char c;
      if (!in.next(c))
        return body;
      keep(body, c);
    }
    if (!in.line(line, 1) || !line.empty()) {
      body.error = "a chunk does not end where its size says";
      return body;
    }
  }
  return body;
}

// A body that runs to the end of the connection (an HTTP/1.0 client without Content-Length).
Body readToEnd(TSession* session) {
  Body body;
  BodyReader in(session, kMaxDrain);
  char c;
  while (in.next(c))
    keep(body, c);
  return body;
}

// Abyss closes the connection after this request: it has no setter, but the request info it
// hands out is the session's own, and the response's Connection header follows it.
void closeAfter(TSession* session) {
  const TRequestInfo* info = nullptr;
  SessionGetRequestInfo(session, &info);
  const_cast<TRequestInfo*>(info)->keepalive = false;
}

void respond(TSession* session, const std::string& xml) {
  ResponseStatus(session, 200);
  ResponseContentType(session, "text/xml; charset=utf-8");  // unquoted, as xmlrpc-c sends it
  ResponseContentLength(session, xml.size());
  ResponseWriteStart(session);
  ResponseWriteBody(session, xml.data(), static_cast<xmlrpc_uint32_t>(xml.size()));
  ResponseWriteEnd(session);
}

void respondError(TSession* session, std::uint16_t status, const std::string& why) {
  ResponseStatus(session, status);
  ResponseError2(session, why.c_str());
}

}  // namespace

struct XmlrpcServer::Impl {
  struct Held {
    std::int64_t expires;
    dht::Bytes valueHash;   // of the value put, or of the value an rm removes
    dht::Bytes secretHash;  // the put's, or the SHA-1 of the rm's secret
    std::string client;     // who asked for it, for kMaxHeldPutsPerClient
    bool rm = false;
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
  TChanSwitch* chanSwitch = nullptr;
  TServer abyss{};
  bool abyssCreated = false;
  std::thread serverThread;
  std::thread sweeper;

  std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  std::map<std::string, Bucket> buckets;
  using HeldMap = std::map<std::pair<dht::Key, std::uint64_t>, Held>;
  HeldMap held;                                 // puts with a TTL past kLifetime
  std::map<std::string, std::size_t> heldFrom;  // how many of them each client asked for
  std::shared_ptr<ReadCache> cache = ReadCache::create();

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
      startAbyss();
    } catch (const std::exception& e) {
      if (abyssCreated)
        ServerFree(&abyss);
      if (chanSwitch != nullptr)
        ChanSwitchDestroy(chanSwitch);
      ::close(fd);
      throw Error(std::string("cannot start the XML-RPC server: ") + e.what());
    }
    // Abyss installs no signal handlers when driven through its C API (only serverAbyss with
    // serverOwnsSignals does), so the process keeps its own.
    serverThread = std::thread([this] { ServerRun(&abyss); });
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
    ServerTerminate(&abyss);
    serverThread.join();
    ServerFree(&abyss);
    ChanSwitchDestroy(chanSwitch);
    ::close(fd);
    for (auto token : cache->expire(Clock::now(), true))
      overlay.cancelListen(token);
  }

  void startAbyss() {
    const char* error = nullptr;
    ChanSwitchUnixCreateFd(fd, &chanSwitch, &error);
    abyssCheck(error, "listening socket");
    ServerCreateSwitch(&abyss, chanSwitch, &error);
    abyssCheck(error, "Abyss server");
    abyssCreated = true;
    ServerSetName(&abyss, "z2z");
    ServerSetMaxConn(&abyss, 16);
    ServerSetKeepaliveTimeout(&abyss, 15);
    ServerSetTimeout(&abyss, 20);
    ServerSetAdvertise(&abyss, false);
    // Not xmlrpc_c::server_abyss_set_handlers: in xmlrpc-c 1.33 its call processor sends the
    // response after as many bytes of garbage (a memory block sized, then appended to).
    xmlrpc_server_abyss_handler_parms parms{};
    parms.xml_processor = &Impl::processCall;
    parms.xml_processor_arg = this;
    parms.xml_processor_max_stack = registry.maxStackSize();
    parms.uri_path = "/";  // the classic gateways answered at http://HOST:5851/
    parms.chunk_response = false;
    xmlrpc_env env;
    xmlrpc_env_init(&env);
    xmlrpc_server_abyss_set_handler3(&env, &abyss, &parms, XMLRPC_AHPSIZE(chunk_response));
    std::string fault = env.fault_occurred ? env.fault_string : "";
    xmlrpc_env_clean(&env);
    if (!fault.empty())
      throw Error("cannot add the XML-RPC handler: " + fault);
    xmlrpc_server_abyss_set_default_handler(&abyss);
    // Abyss asks the handler added last first: ours sees every request before xmlrpc-c's.
    ServerReqHandler3 handler{nullptr, &Impl::preHandle, this, 0};
    abyss_bool ok = false;
    ServerAddHandler3(&abyss, &handler, &ok);
    if (!ok)
      throw Error("cannot add the request size handler");
    ServerInit2(&abyss, &error);
    abyssCheck(error, "Abyss server");
  }

  // xmlrpc-c's handler hands us the XML of a call (with a Content-Length within the limit).
  static void processCall(xmlrpc_env* env, void* self, const char* xml, std::size_t length,
                          TSession* session, xmlrpc_mem_block** responseOut) {
    try {
      std::string response = static_cast<Impl*>(self)->call(std::string(xml, length), session);
      xmlrpc_mem_block* block = xmlrpc_mem_block_new(env, 0);
      if (env->fault_occurred)
        return;
      xmlrpc_mem_block_append(env, block, response.data(), response.size());
      if (env->fault_occurred) {
        xmlrpc_mem_block_free(block);
        return;
      }
      *responseOut = block;
    } catch (const std::exception& e) {
      log::error(kTag, "request from ", clientOf(session), ": ", e.what());
      xmlrpc_env_set_fault(env, XMLRPC_INTERNAL_ERROR, "internal error");
    } catch (...) {
      log::error(kTag, "request from ", clientOf(session), ": unknown exception");
      xmlrpc_env_set_fault(env, XMLRPC_INTERNAL_ERROR, "internal error");
    }
  }

  // The XML-RPC response to a call; malformed XML and unknown methods are answered as faults.
  //
  // The XML parser of xmlrpc-c (its own Expat) expands the entities a DTD declares, without a
  // limit: a request of 600 bytes that nests ten entities ten deep asks for 10^9 bytes (measured:
  // 10^8 took 1.5 s and 36 MB). XML-RPC has no DTD, so one is refused before parsing.
  std::string call(const std::string& xml, TSession* session) {
    if (Status text = dht::gateway::checkXmlrpcText(xml); !text) {
      log::info(kTag, "from ", clientOf(session), ": fault: ", text.error());
      std::string response;
      xmlrpc_c::xml::generateResponse(
          xmlrpc_c::rpcOutcome(
              xmlrpc_c::fault(text.error(), static_cast<xmlrpc_c::fault::code_t>(kFaultDtd))),
          &response);
      return response;
    }
    xmlrpc_c::callInfo_abyss callInfo(session);
    std::string response;
    registry.processCall(xml, &callInfo, &response);
    return response;
  }

  // The callback boundary of preHandle.
  static void preHandle(void* self, TSession* session, abyss_bool* handled) {
    *handled = false;
    bool answered = false;
    try {
      static_cast<Impl*>(self)->takeRequest(session, handled, answered);
    } catch (const std::exception& e) {
      log::error(kTag, "request from ", clientOf(session), ": ", e.what());
    } catch (...) {
      log::error(kTag, "request from ", clientOf(session), ": unknown exception");
    }
    if (*handled && !answered) {
      closeAfter(session);
      respondError(session, 500, "internal error");
    }
  }

  // Takes every POST to "/" with a body: over the size limit (answered with fault
  // kFaultTooLarge), with a Content-Length within it (read here whole), or without one (read
  // here, at most kMaxXmlrpcRequest + 1 bytes of them kept); call() processes them as xmlrpc-c
  // would, after a look of its own (DTDs). Leaves to xmlrpc-c a Content-Length it refuses as
  // malformed (HTTP 400).
  void takeRequest(TSession* session, abyss_bool* handled, bool& answered) {
    const TRequestInfo* info = nullptr;
    SessionGetRequestInfo(session, &info);
    if (info->method != m_post || std::strcmp(info->uri, "/") != 0)
      return;
    std::string client = clientOf(session);
    if (const char* lengthField = RequestHeaderValue(session, "content-length")) {
      auto length = parseLength(lengthField);
      if (!length)
        return;
      *handled = true;
      if (*length <= kMaxXmlrpcRequest) {
        BodyReader in(session, *length);
        std::string xml;
        xml.reserve(static_cast<std::size_t>(*length));
        char c;
        while (in.next(c))
          xml.push_back(c);
        if (xml.size() < *length) {
          closeAfter(session);
          respondError(session, 400, "the body ended before its Content-Length");
        } else if (xml.empty()) {
          respondError(session, 400, "empty request");
        } else {
          respond(session, call(xml, session));
        }
        answered = true;
        return;
      }
      BodyReader in(session, *length);
      if (*length > kMaxDrain || !in.skip(*length))
        closeAfter(session);
      tooLarge(session, client, "of " + std::to_string(*length) + " bytes ");
      answered = true;
      return;
    }
    *handled = true;
    const char* coding = RequestHeaderValue(session, "transfer-encoding");
    bool chunked = coding != nullptr && strcasestr(coding, "chunked") != nullptr;
    Body body = chunked ? readChunked(session) : readToEnd(session);
    if (!chunked || !body.complete)
      closeAfter(session);  // its end was the end of the connection, or it was not read whole
    if (body.over) {
      tooLarge(session, client, chunked ? "(chunked) " : "(without Content-Length) ");
    } else if (!body.error.empty()) {
      log::info(kTag, "request from ", client, ": ", body.error);
      respondError(session, 400, "malformed chunked body: " + body.error);
    } else if (body.xml.empty()) {
      respondError(session, chunked ? 400 : 411,
                   chunked ? "empty request" : "send a Content-Length header or a chunked body");
    } else {
      respond(session, call(body.xml, session));
    }
    answered = true;
  }

  void tooLarge(TSession* session, const std::string& client, const std::string& what) {
    std::string why = "request " + what + "over this endpoint's limit of " +
                      std::to_string(kMaxXmlrpcRequest) + " bytes (16 KiB)";
    log::info(kTag, "from ", client, ": fault: ", why);
    std::string xml;
    xmlrpc_c::xml::generateResponse(xmlrpc_c::rpcOutcome(xmlrpc_c::fault(
                                        why, static_cast<xmlrpc_c::fault::code_t>(kFaultTooLarge))),
                                    &xml);
    respond(session, xml);
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
    // IPv6 clients only on an IPv6 address: Abyss keeps the first 64 bits of a client's
    // address, and IPv4 clients (::ffff:a.b.c.d) would all look like one to the rate limit and
    // the shares of long puts.
    if (ss.ss_family == AF_INET6)
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
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

  // Keeps a long put (or rm) alive, within the endpoint's and the client's share. The same put
  // (or rm) repeated by the same client takes no more room: its expiry, and so its DHT id,
  // differ, and the later one replaces the earlier (`replaces`, once it is acknowledged), or
  // goes as a plain put if the earlier lasts as long. Under `mutex`.
  enum class Hold { Held, Plain, Over };
  Hold hold(const dht::Key& key, std::uint64_t id, Held h, std::optional<std::uint64_t>& replaces) {
    replaces.reset();
    if (held.contains({key, id}))
      return Hold::Held;  // the very same value
    for (auto it = held.lower_bound({key, 0}); it != held.end() && it->first.first == key; ++it) {
      const Held& e = it->second;
      if (e.client == h.client && e.rm == h.rm && e.valueHash == h.valueHash &&
          e.secretHash == h.secretHash) {
        if (e.expires >= h.expires)
          return Hold::Plain;
        replaces = it->first.second;
        break;
      }
    }
    if (!replaces) {
      if (held.size() >= kMaxHeldPuts)
        return Hold::Over;
      auto from = heldFrom.find(h.client);
      if (from != heldFrom.end() && from->second >= kMaxHeldPutsPerClient)
        return Hold::Over;
    }
    ++heldFrom[h.client];
    held.emplace(std::pair{key, id}, std::move(h));
    return Hold::Held;
  }

  // Stops counting a held put; the iterator after it. Under `mutex`.
  HeldMap::iterator release(HeldMap::iterator it) {
    auto from = heldFrom.find(it->second.client);
    if (from != heldFrom.end() && --from->second == 0)
      heldFrom.erase(from);
    return held.erase(it);
  }

  // Stops keeping (key, id) alive, if it is held.
  void unhold(const dht::Key& key, std::uint64_t id) {
    {
      std::lock_guard lock(mutex);
      auto it = held.find({key, id});
      if (it == held.end())
        return;
      release(it);
    }
    overlay.cancelPut(key, id);
  }

  // Writes one stored value; the API status. `what` describes it for hold().
  gw::PutStatus write(const dht::Key& key, const gw::Stored& stored, std::int64_t ttl, Held what) {
    dht::Bytes data = gw::encodeStored(stored);
    std::uint64_t id = idOf(data);
    // The overlay keeps a value kLifetime unless kept alive: longer TTLs are kept alive here.
    bool permanent = ttl > kLifetime;
    bool fresh = false;
    std::optional<std::uint64_t> replaces;
    if (permanent) {
      std::lock_guard lock(mutex);
      fresh = !held.contains({key, id});
      what.expires = gw::unixNow() + ttl;
      Hold h = hold(key, id, std::move(what), replaces);
      if (h == Hold::Over)
        return gw::PutStatus::OverCapacity;
      if (h == Hold::Plain)
        permanent = fresh = false;
    }
    auto done = std::make_shared<std::promise<bool>>();
    auto future = done->get_future();
    dht::Value value{id, std::move(data)};
    overlay.put(key, value, permanent, [done](bool ok) { done->set_value(ok); });
    bool ok = future.wait_for(kOverlayWait) == std::future_status::ready && future.get();
    if (ok)
      cache->note(key, value);
    if (ok && replaces)
      unhold(key, *replaces);  // its copy in the DHT expires; gets show the value once
    if (!ok && fresh)
      unhold(key, id);  // an entry held before this call stays
    return ok ? gw::PutStatus::Success : gw::PutStatus::TryAgain;
  }

  xmlrpc_c::value put(const dht::Bytes& key, const dht::Bytes& value, const std::string& hashType,
                      const dht::Bytes& secretHash, std::int64_t ttl, const std::string& client) {
    if (!allow(client))
      return xmlrpc_c::value_int(static_cast<int>(gw::PutStatus::TryAgain));
    gw::StoredPut p{value, hashType, secretHash, gw::unixNow() + ttl};
    auto status = write(toKey(key), p, ttl, Held{0, gw::sha1(value), secretHash, client});
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
        if (it->first.first == k && !it->second.rm && it->second.valueHash == valueHash &&
            it->second.secretHash == secretHash) {
          cancel.push_back(it->first.second);
          it = release(it);
        } else {
          ++it;
        }
      }
    }
    for (std::uint64_t id : cancel)
      overlay.cancelPut(k, id);
    gw::StoredRm r{valueHash, hashType, secret, gw::unixNow() + ttl};
    auto status = write(k, r, ttl, Held{0, valueHash, secretHash, client, true});
    return xmlrpc_c::value_int(static_cast<int>(status));
  }

  // What the API shows under `key`: from the read cache, else from a DHT lookup (then cached).
  std::vector<gw::Entry> lookup(const dht::Key& key) {
    if (auto values = cache->find(key, Clock::now()))
      return gw::present(*values, gw::unixNow());
    auto done = std::make_shared<std::promise<std::vector<dht::Value>>>();
    auto future = done->get_future();
    overlay.get(key,
                [done](std::vector<dht::Value> values) { done->set_value(std::move(values)); });
    if (future.wait_for(kOverlayWait) != std::future_status::ready) {
      throw xmlrpc_c::fault("the DHT did not answer in time; try again",
                            static_cast<xmlrpc_c::fault::code_t>(kFaultOverlay));
    }
    std::vector<dht::Value> values = future.get();
    cache->remember(overlay, key, values, Clock::now());
    return gw::present(values, gw::unixNow());
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
          it = release(it);
        } else {
          ++it;
        }
      }
      lock.unlock();
      for (const auto& [k, id] : expired)
        overlay.cancelPut(k, id);
      for (auto token : cache->expire(Clock::now(), false))
        overlay.cancelListen(token);
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
