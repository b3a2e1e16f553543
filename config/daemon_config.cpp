// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/config/daemon_config.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <variant>

#include "z2z/config/encoding.hpp"
#include "z2z/config/values.hpp"

namespace z2z::config {
namespace {

constexpr std::size_t kMaxFileSize = 1 << 20;
constexpr std::size_t kMaxLineLength = 4096;

using ServerApply = std::function<Status(std::string_view, ServerConfig&)>;
using ExportApply = std::function<Status(std::string_view, ExportSection&)>;
using ImportApply = std::function<Status(std::string_view, ImportSection&)>;
using GroupApply = std::function<Status(std::string_view, GroupSection&)>;

struct KeySpec {
  KeyInfo info;
  std::variant<ServerApply, ExportApply, ImportApply, GroupApply> apply;
};

// ---- value parsers shared by several keys ----------------------------------------------------

Result<std::uint16_t> port(std::string_view v) {
  auto p = parseInt<std::uint16_t>(v, 0, 65535);
  if (!p)
    return fail("'" + std::string(v) + "' is not a port number (0 to 65535)");
  return *p;
}

Result<std::vector<std::string>> serviceTypes(std::string_view v) {
  auto types = splitList(v);
  if (types.empty())
    return fail("needs at least one service type");
  for (const std::string& t : types) {
    if (!isServiceType(t))
      return fail("'" + t + "' is not a DNS-SD service type such as _daap._tcp");
  }
  return types;
}

Result<std::vector<std::string>> interfaceList(std::string_view v) {
  auto names = splitList(v);
  for (const std::string& n : names) {
    if (n.empty() || n.size() > 15 || n.find_first_of(" /") != std::string::npos) {
      return fail("'" + n + "' is not an interface name");
    }
  }
  return names;
}

Result<std::string> keyName(std::string_view v) {
  if (v.empty() || v.size() > kMaxKeyLength)
    return fail("the key name must have 1 to 255 bytes");
  return std::string(v);
}

Result<std::chrono::seconds> ttl(std::string_view v) {
  auto s = parseInt<long long>(v, kMinTtl.count(), kMaxTtl.count());
  if (!s)
    return fail("'" + std::string(v) + "' is not a number of seconds from 5 to 86400");
  return std::chrono::seconds(*s);
}

Result<std::string> absolutePath(std::string_view v) {
  if (v.empty() || v.front() != '/')
    return fail("'" + std::string(v) + "' is not an absolute path");
  return std::string(v);
}

template <typename T, typename Field>
Status assign(Result<T> r, Field& field) {
  if (!r)
    return fail(r.error());
  field = std::move(*r);
  return {};
}

const std::vector<KeySpec>& specs() {
  static const std::vector<KeySpec> table = {
      {{"server", "dht-port", "port", "4222", false, false,
        "UDP port of the embedded DHT node; 0 picks a free one."},
       ServerApply([](std::string_view v, ServerConfig& s) { return assign(port(v), s.dhtPort); })},
      {{"server", "dht-bind", "address", "", false, false,
        "One IPv4 or IPv6 address the DHT node binds to. Empty: all addresses of both families."},
       ServerApply([](std::string_view v, ServerConfig& s) -> Status {
         s.dhtBind = v;
         return {};
       })},
      {{"server", "dht-network", "number", "0", false, false,
        "OpenDHT network id of the main overlay (0 to 4294967295): nodes of different ids ignore "
        "each other, so every gateway of one overlay needs the same. 0 is the public OpenDHT "
        "network's; a private deployment, and any that uses rendezvous, picks an id of its own."},
       ServerApply([](std::string_view v, ServerConfig& s) {
         return assign(parseNetworkId(v), s.dhtNetwork);
       })},
      {{"server", "bootstrap", "list of HOST[:PORT]", "", false, true,
        "DHT nodes to join, by name or address ([IPV6]:PORT for IPv6 with a port; the port "
        "defaults to 4222). Empty: this gateway starts a new overlay. On reload, new entries are "
        "contacted at once."},
       ServerApply([](std::string_view v, ServerConfig& s) -> Status {
         s.bootstrap.clear();
         for (const std::string& item : splitList(v)) {
           auto ep = parseEndpoint(item);
           if (!ep)
             return fail(ep.error());
           s.bootstrap.push_back(*ep);
         }
         return {};
       })},
      {{"server", "state-directory", "path", "/var/lib/z2z", false, false,
        "Where the daemon keeps its state; created with mode 0700 if missing."},
       ServerApply([](std::string_view v, ServerConfig& s) {
         return assign(absolutePath(v), s.stateDirectory);
       })},
      {{"server", "identity", "path", "", false, false,
        "The gateway's Ed25519 identity key, which signs its group documents; created with mode "
        "0600 if missing, refused if others may read it. Empty: identity.pem in the state "
        "directory."},
       ServerApply([](std::string_view v, ServerConfig& s) -> Status {
         if (v.empty()) {
           s.identity.clear();
           return {};
         }
         return assign(absolutePath(v), s.identity);
       })},
      {{"server", "control-socket", "path", "/run/z2z/z2zd.sock", false, false,
        "UNIX socket that `z2z --status` asks; created with mode 0660."},
       ServerApply([](std::string_view v, ServerConfig& s) {
         return assign(absolutePath(v), s.controlSocket);
       })},
      {{"server", "priority", "number", "0", false, false,
        "Leader election among the gateways of one link: the highest priority leads, then the "
        "smallest gateway id. -1000 to 1000."},
       ServerApply([](std::string_view v, ServerConfig& s) -> Status {
         auto p = parseInt<int>(v, -1000, 1000);
         if (!p)
           return fail("'" + std::string(v) + "' is not a number from -1000 to 1000");
         s.priority = *p;
         return {};
       })},
      {{"server", "gateway", "URL", "", false, false,
        "Run no DHT node: use the classic OpenDHT gateway API (XML-RPC) at this http:// or "
        "https:// URL instead. Empty: an embedded node."},
       ServerApply([](std::string_view v, ServerConfig& s) -> Status {
         if (!v.empty() && !(v.starts_with("http://") || v.starts_with("https://"))) {
           return fail("'" + std::string(v) + "' is not an http:// or https:// URL");
         }
         s.gateway = v;
         return {};
       })},
      {{"server", "gateway-ca", "file", "", false, false,
        "With an https:// gateway: check its certificate against the CA certificates in this "
        "PEM file instead of the system's. Empty: the system's."},
       ServerApply([](std::string_view v, ServerConfig& s) -> Status {
         s.gatewayCa = v;
         return {};
       })},
      {{"server", "poll", "seconds", "5", false, false,
        "With gateway: how often imports are read from it, 1 to 3600 seconds."},
       ServerApply([](std::string_view v, ServerConfig& s) -> Status {
         auto p = parseInt<long long>(v, 1, 3600);
         if (!p)
           return fail("'" + std::string(v) + "' is not a number from 1 to 3600");
         s.poll = std::chrono::seconds(*p);
         return {};
       })},
      {{"server", "xmlrpc-listen", "[ADDRESS:]PORT", "", false, false,
        "Serve the OpenDHT gateway API in front of the DHT node on this TCP port (the classic "
        "one is 5851); a port alone listens on 127.0.0.1. Empty: not served."},
       ServerApply([](std::string_view v, ServerConfig& s) -> Status {
         s.xmlrpcListen = v;
         if (v.empty())
           return {};
         bool digits = v.find_first_not_of("0123456789") == std::string_view::npos;
         auto ep = digits ? parseEndpoint("127.0.0.1:" + std::string(v), kDefaultXmlrpcPort)
                          : parseEndpoint(v, kDefaultXmlrpcPort);
         if (!ep)
           return fail(ep.error());
         s.xmlrpcEndpoint = *ep;
         return {};
       })},
      {{"server", "xmlrpc-rate", "number", "50", false, false,
        "With xmlrpc-listen: requests a second each client address may make; 0: no limit."},
       ServerApply([](std::string_view v, ServerConfig& s) -> Status {
         auto n = parseInt<unsigned>(v, 0, 1000000);
         if (!n)
           return fail("'" + std::string(v) + "' is not a number from 0 to 1000000");
         s.xmlrpcRate = *n;
         return {};
       })},
      {{"server", "rendezvous", "list of HOST[:PORT]", "", false, true,
        "Nodes of a rendezvous overlay, for instance of the public OpenDHT network: the leader "
        "runs a second DHT node there and meets the leaders of other overlays under "
        "rendezvous-name (its endpoints become visible to anyone there). Empty: no rendezvous."},
       ServerApply([](std::string_view v, ServerConfig& s) -> Status {
         s.rendezvous.clear();
         for (const std::string& item : splitList(v)) {
           auto ep = parseEndpoint(item);
           if (!ep)
             return fail(ep.error());
           s.rendezvous.push_back(*ep);
         }
         return {};
       })},
      {{"server", "rendezvous-name", "name", "main", false, true,
        "With rendezvous: the name the leaders of one overlay meet under (1 to 255 bytes)."},
       ServerApply([](std::string_view v, ServerConfig& s) -> Status {
         if (!isRendezvousName(v))
           return fail("the rendezvous name must have 1 to 255 bytes, no control characters");
         s.rendezvousName = v;
         return {};
       })},
      {{"server", "rendezvous-port", "port", "0", false, true,
        "With rendezvous: UDP port of the rendezvous node; 0 picks a free one."},
       ServerApply(
           [](std::string_view v, ServerConfig& s) { return assign(port(v), s.rendezvousPort); })},
      {{"server", "rendezvous-network", "number", "0", false, true,
        "With rendezvous: the rendezvous overlay's OpenDHT network id (0, the public network's, "
        "to 4294967295)."},
       ServerApply([](std::string_view v, ServerConfig& s) {
         return assign(parseNetworkId(v), s.rendezvousNetwork);
       })},
      {{"server", "log-level", "level", "notice", false, true,
        "The most verbose messages logged: error, warning, notice, info or debug."},
       ServerApply([](std::string_view v, ServerConfig& s) -> Status {
         if (!log::parseLevel(v, s.logLevel)) {
           return fail("'" + std::string(v) +
                       "' is not one of error, warning, notice, info, debug");
         }
         return {};
       })},
      {{"server", "syslog", "yes or no", "no", false, true,
        "Log to syslog (facility daemon) instead of standard error."},
       ServerApply([](std::string_view v, ServerConfig& s) -> Status {
         auto b = parseBool(v);
         if (!b)
           return fail("'" + std::string(v) + "' is not yes or no");
         s.syslog = *b;
         return {};
       })},
      {{"export", "types", "list of service types", "", true, true,
        "DNS-SD service types browsed on the link and stored under the key, e.g. "
        "_daap._tcp, _ipp._tcp."},
       ExportApply(
           [](std::string_view v, ExportSection& e) { return assign(serviceTypes(v), e.types); })},
      {{"export", "key", "key name", "", true, true,
        "The DHT key name the services are stored under; importers use the same name."},
       ExportApply([](std::string_view v, ExportSection& e) { return assign(keyName(v), e.key); })},
      {{"export", "interfaces", "list of interfaces", "", false, true,
        "Browse only on these interfaces. Empty: every interface avahi-daemon uses."},
       ExportApply([](std::string_view v, ExportSection& e) {
         return assign(interfaceList(v), e.interfaces);
       })},
      {{"export", "ttl", "seconds", "120", false, true,
        "Lease of the exported records (5 to 86400): importers withdraw this gateway's services "
        "when it has been silent this long."},
       ExportApply([](std::string_view v, ExportSection& e) { return assign(ttl(v), e.ttl); })},
      {{"import", "key", "key name", "", true, true,
        "The DHT key name whose services are published on the link."},
       ImportApply([](std::string_view v, ImportSection& i) { return assign(keyName(v), i.key); })},
      {{"import", "interfaces", "list of interfaces", "", false, true,
        "Publish only on these interfaces. Empty: every interface avahi-daemon uses."},
       ImportApply([](std::string_view v, ImportSection& i) {
         return assign(interfaceList(v), i.interfaces);
       })},
      {{"group", "types", "list of service types", "", false, true,
        "Service types of the link exported into the group's overlay."},
       GroupApply([](std::string_view v, GroupSection& g) -> Status {
         if (v.empty())
           return {};
         return assign(serviceTypes(v), g.types);
       })},
      {{"group", "import", "yes or no", "no", false, true,
        "Publish the group's services on the link."},
       GroupApply([](std::string_view v, GroupSection& g) -> Status {
         auto b = parseBool(v);
         if (!b)
           return fail("'" + std::string(v) + "' is not yes or no");
         g.import = *b;
         return {};
       })},
      {{"group", "interfaces", "list of interfaces", "", false, true,
        "Browse and publish the group's services only on these interfaces. Empty: every "
        "interface avahi-daemon uses."},
       GroupApply([](std::string_view v, GroupSection& g) {
         return assign(interfaceList(v), g.interfaces);
       })},
      {{"group", "ttl", "seconds", "120", false, true,
        "Lease of the records and membership documents this gateway writes into the group, 5 to "
        "86400 seconds."},
       GroupApply([](std::string_view v, GroupSection& g) { return assign(ttl(v), g.ttl); })},
      {{"group", "secret-file", "path", "", false, true,
        "Makes the group private: the file with its shared secret (mode 0600, owned by the "
        "daemon's user; see z2z-groups(7)). Empty: a public group."},
       GroupApply([](std::string_view v, GroupSection& g) -> Status {
         if (v.empty())
           return {};
         return assign(absolutePath(v), g.secretFile);
       })},
      {{"group", "description", "text", "", false, true,
        "Written into the group-info when this gateway creates the group (at most 256 bytes of "
        "printable UTF-8)."},
       GroupApply([](std::string_view v, GroupSection& g) -> Status {
         if (v.size() > 256)
           return fail("longer than 256 bytes");
         if (!isCleanUtf8(v))
           return fail("must be printable UTF-8 (readers refuse a group-info with anything else)");
         g.description = v;
         return {};
       })},
      {{"group", "aliases", "list of names", "", false, true,
        "Alias names bound to the group; joining by an alias reaches the same overlay."},
       GroupApply([](std::string_view v, GroupSection& g) -> Status {
         g.aliases.clear();
         for (const std::string& a : splitList(v)) {
           if (!isGroupName(a))
             return fail("'" + a + "' is not a group name");
           if (a == g.name)
             return fail("'" + a + "' is the group's own name");
           g.aliases.push_back(a);
         }
         return {};
       })},
  };
  return table;
}

const KeySpec* findSpec(std::string_view section, std::string_view key) {
  for (const KeySpec& s : specs()) {
    if (s.info.section == section && s.info.key == key)
      return &s;
  }
  return nullptr;
}

std::string suggestKey(std::string_view section, std::string_view key) {
  std::string best;
  std::size_t bestDistance = 3;  // farther than this is no hint
  for (const KeySpec& s : specs()) {
    if (s.info.section != section)
      continue;
    std::size_t d = editDistance(key, s.info.key);
    if (d < bestDistance) {
      bestDistance = d;
      best = s.info.key;
    }
  }
  return best.empty() ? "" : "; did you mean '" + best + "'?";
}

bool isSectionName(std::string_view name) {
  if (name.empty() || name.size() > 64)
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

template <typename Section, typename Apply>
void applyDefaults(Section& section) {
  for (const KeySpec& s : specs()) {
    if (s.info.defaultValue.empty())
      continue;
    if (const Apply* apply = std::get_if<Apply>(&s.apply))
      (void)(*apply)(s.info.defaultValue, section);
  }
}

// The parser's state while reading one file.
class Parser {
 public:
  explicit Parser(std::string_view fileName) : file_(fileName) {
    applyDefaults<ServerConfig, ServerApply>(config_.server);
  }

  void line(int number, std::string_view text) {
    line_ = number;
    if (text.size() > kMaxLineLength)
      return error("line longer than 4096 bytes");
    text = trim(text);
    if (text.empty() || text.front() == '#' || text.front() == ';')
      return;
    if (text.front() == '[')
      return header(text);
    auto eq = text.find('=');
    if (eq == std::string_view::npos)
      return error("expected 'key = value' or '[section]'");
    std::string_view key = trim(text.substr(0, eq));
    std::string_view value = trim(text.substr(eq + 1));
    entry(key, value);
  }

  Result<DaemonConfig> finish(const ServerOverrides& overrides) {
    closeSection();
    for (const auto& [key, value] : overrides)
      applyOverride(key, value);
    crossChecks();
    if (errors_.empty())
      return std::move(config_);
    std::string all;
    for (const std::string& e : errors_)
      all += (all.empty() ? "" : "\n") + e;
    return fail(all);
  }

 private:
  std::string location(int line) const { return std::string(file_) + ":" + std::to_string(line); }

  void error(const std::string& message, int line = 0) {
    errors_.push_back(location(line ? line : line_) + ": " + message);
  }

  // Where the first of these [server] keys that is set was set: "FILE:LINE" or "command
  // line"; the [server] header if none is.
  std::string whereSet(std::initializer_list<std::string_view> keys) const {
    for (std::string_view k : keys) {
      if (auto it = serverKeys_.find(std::string(k)); it != serverKeys_.end())
        return it->second;
    }
    return location(serverLine_);
  }

  void applyOverride(const std::string& key, const std::string& value) {
    const KeySpec* spec = findSpec("server", key);
    if (spec == nullptr) {
      errors_.push_back("command line: unknown [server] key '" + key + "'");
      return;
    }
    if (Status s = std::get<ServerApply>(spec->apply)(value, config_.server); !s) {
      errors_.push_back("command line: --" + key + ": " + s.error());
      return;
    }
    serverKeys_[key] = "command line";
  }

  void header(std::string_view text) {
    closeSection();
    lastHeaderFailed_ = true;  // until the header proves good
    if (text.back() != ']')
      return error("a section header must end with ']'");
    std::string_view inner = trim(text.substr(1, text.size() - 2));
    auto space = inner.find_first_of(" \t");
    std::string_view kind = inner.substr(0, space);
    std::string_view name = space == std::string_view::npos ? "" : trim(inner.substr(space));
    sectionKind_ = "";
    seenKeys_.clear();
    if (kind == "server") {
      if (!name.empty())
        return error("[server] takes no name");
      if (serverSeen_)
        return error("[server] appears twice");
      serverSeen_ = true;
      serverLine_ = line_;
      sectionKind_ = "server";
      lastHeaderFailed_ = false;
      return;
    }
    if (kind != "export" && kind != "import" && kind != "group") {
      std::string hint;
      for (std::string_view k : {"server", "export", "import", "group"}) {
        if (editDistance(kind, k) <= 2)
          hint = "; did you mean '" + std::string(k) + "'?";
      }
      return error("unknown section [" + std::string(inner) + "]" + hint);
    }
    if (!isSectionName(name)) {
      return error("[" + std::string(kind) +
                   " NAME] needs a name of letters, digits, '-', '_' or '.'");
    }
    std::string id = std::string(kind) + " " + std::string(name);
    if (!sectionIds_.insert(id).second)
      return error("[" + id + "] appears twice");
    sectionKind_ = kind;
    sectionStart_ = line_;
    lastHeaderFailed_ = false;
    if (kind == "export") {
      exportSection_ = ExportSection{};
      applyDefaults<ExportSection, ExportApply>(exportSection_);
      exportSection_.name = name;
      exportSection_.line = line_;
    } else if (kind == "import") {
      importSection_ = ImportSection{};
      applyDefaults<ImportSection, ImportApply>(importSection_);
      importSection_.name = name;
      importSection_.line = line_;
    } else {
      if (!isGroupName(name)) {
        return error("[group NAME] needs a group name: 1 to 63 letters, digits, '-', '_' or '.'");
      }
      groupSection_ = GroupSection{};
      applyDefaults<GroupSection, GroupApply>(groupSection_);
      groupSection_.name = name;
      groupSection_.line = line_;
    }
  }

  void entry(std::string_view key, std::string_view value) {
    if (sectionKind_.empty()) {
      if (!sawSectionError())
        error("'" + std::string(key) + "' is outside any section");
      return;
    }
    const KeySpec* spec = findSpec(sectionKind_, key);
    if (spec == nullptr) {
      return error("unknown key '" + std::string(key) + "' in [" + sectionKind_ + "]" +
                   suggestKey(sectionKind_, key));
    }
    if (!seenKeys_.insert(std::string(key)).second) {
      return error("'" + std::string(key) + "' is set twice in this section");
    }
    Status s;
    if (sectionKind_ == "server") {
      s = std::get<ServerApply>(spec->apply)(value, config_.server);
      serverKeys_[std::string(key)] = location(line_);
    } else if (sectionKind_ == "export") {
      s = std::get<ExportApply>(spec->apply)(value, exportSection_);
    } else if (sectionKind_ == "import") {
      s = std::get<ImportApply>(spec->apply)(value, importSection_);
    } else {
      s = std::get<GroupApply>(spec->apply)(value, groupSection_);
    }
    if (!s)
      error(std::string(key) + ": " + s.error());
  }

  // Keys under a header that was already reported are not reported again.
  bool sawSectionError() const { return lastHeaderFailed_; }

  void closeSection() {
    if (sectionKind_ == "export" || sectionKind_ == "import" || sectionKind_ == "group") {
      for (const KeySpec& s : specs()) {
        if (s.info.section == sectionKind_ && s.info.required &&
            !seenKeys_.count(std::string(s.info.key))) {
          error("[" + sectionKind_ + "] lacks the required key '" + std::string(s.info.key) + "'",
                sectionStart_);
        }
      }
      if (sectionKind_ == "export")
        config_.exports.push_back(exportSection_);
      if (sectionKind_ == "import")
        config_.imports.push_back(importSection_);
      if (sectionKind_ == "group") {
        if (groupSection_.types.empty() && !groupSection_.import) {
          error("[group " + groupSection_.name + "] neither exports (types) nor imports",
                sectionStart_);
        }
        config_.groups.push_back(groupSection_);
      }
    }
    sectionKind_.clear();
  }

  void crossChecks() {
    if (!config_.server.gateway.empty() && !config_.server.xmlrpcListen.empty()) {
      error(
          "[server] gateway and xmlrpc-listen exclude each other: with a gateway there is no "
          "node to serve",
          serverLine_);
    }
    if (!config_.server.gatewayCa.empty() && !config_.server.gateway.starts_with("https://")) {
      error("[server] gateway-ca needs an https:// gateway", serverLine_);
    }
    if (!config_.server.rendezvous.empty() && !config_.server.gateway.empty()) {
      error(
          "[server] gateway and rendezvous exclude each other: the rendezvous needs an "
          "embedded node",
          serverLine_);
    }
    const ServerConfig& server = config_.server;
    if (!server.rendezvous.empty() && server.gateway.empty() &&
        server.rendezvousNetwork == server.dhtNetwork) {
      std::string id = std::to_string(server.dhtNetwork);
      errors_.push_back(
          whereSet({"rendezvous-network", "dht-network", "rendezvous"}) +
          ": [server] rendezvous-network " + id +
          " is also the main overlay's network id (dht-network " + id +
          "): anyone who writes under the rendezvous key could make this overlay's leaders join "
          "that overlay, and the two would merge; give dht-network an id of this deployment's own");
    }
    std::map<std::pair<std::string, std::string>, std::string> exported;  // (key, type) -> section
    for (const ExportSection& e : config_.exports) {
      for (const std::string& t : e.types) {
        auto [it, added] = exported.emplace(std::make_pair(e.key, t), e.name);
        if (!added) {
          error("type " + t + " is exported under key '" + e.key + "' by [export " + it->second +
                    "] already",
                e.line);
        }
      }
    }
  }

  std::string_view file_;
  int line_ = 0;
  int sectionStart_ = 0;
  std::string sectionKind_;
  bool serverSeen_ = false;
  int serverLine_ = 1;
  bool lastHeaderFailed_ = false;
  std::set<std::string> sectionIds_;
  std::set<std::string> seenKeys_;
  std::map<std::string, std::string> serverKeys_;  // [server] key -> where it was set
  ExportSection exportSection_;
  ImportSection importSection_;
  GroupSection groupSection_;
  DaemonConfig config_;
  std::vector<std::string> errors_;
};

std::string joinList(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& i : items)
    out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::string endpointText(const Endpoint& ep) {
  bool v6 = ep.host.find(':') != std::string::npos;
  return (v6 ? "[" + ep.host + "]" : ep.host) + ":" + std::to_string(ep.port);
}

const char* levelText(log::Level level) {
  switch (level) {
    case log::Level::Error:
      return "error";
    case log::Level::Warning:
      return "warning";
    case log::Level::Notice:
      return "notice";
    case log::Level::Info:
      return "info";
    case log::Level::Debug:
      return "debug";
  }
  return "notice";
}

}  // namespace

const std::vector<KeyInfo>& schema() {
  static const std::vector<KeyInfo> infos = [] {
    std::vector<KeyInfo> out;
    for (const KeySpec& s : specs())
      out.push_back(s.info);
    return out;
  }();
  return infos;
}

Result<DaemonConfig> parseConfig(std::string_view text, std::string_view fileName,
                                 const ServerOverrides& overrides) {
  Parser parser(fileName);
  int number = 0;
  while (!text.empty()) {
    ++number;
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    parser.line(number, line);
    if (nl == std::string_view::npos)
      break;
    text.remove_prefix(nl + 1);
  }
  return parser.finish(overrides);
}

Result<DaemonConfig> loadConfig(const std::string& path, const ServerOverrides& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return fail(path + ": cannot be read");
  std::string text;
  text.resize(kMaxFileSize + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxFileSize)
    return fail(path + ": larger than 1 MiB");
  return parseConfig(text, path, overrides);
}

Status setServerKey(DaemonConfig& config, std::string_view key, std::string_view value) {
  const KeySpec* spec = findSpec("server", key);
  if (spec == nullptr)
    return fail("unknown [server] key '" + std::string(key) + "'");
  Status s = std::get<ServerApply>(spec->apply)(value, config.server);
  if (!s)
    return fail(std::string(key) + ": " + s.error());
  return {};
}

std::string exampleConfig() {
  std::string out =
      "# z2zd.conf: configuration of the z2z gateway daemon, see z2zd.conf(5).\n"
      "# Every key is shown commented out at its default.\n";
  std::string_view current;
  for (const KeySpec& s : specs()) {
    if (s.info.section != current) {
      current = s.info.section;
      out += "\n";
      if (current == "server") {
        out += "[server]\n";
      } else {
        out += "# Any number of [" + std::string(current) + " NAME] sections; NAME is yours.\n";
        out += "#[" + std::string(current) + " NAME]\n";
      }
    }
    if (s.info.required)
      out += "# (required)\n";
    out += "#" + std::string(s.info.key) + " =";
    if (!s.info.defaultValue.empty())
      out += " " + std::string(s.info.defaultValue);
    out += "\n";
  }
  return out;
}

std::string dumpConfig(const DaemonConfig& c) {
  std::ostringstream out;
  std::vector<std::string> bootstrap, rendezvous;
  for (const Endpoint& ep : c.server.bootstrap)
    bootstrap.push_back(endpointText(ep));
  for (const Endpoint& ep : c.server.rendezvous)
    rendezvous.push_back(endpointText(ep));
  out << "[server]\n"
      << "dht-port = " << c.server.dhtPort << "\n"
      << "dht-bind = " << c.server.dhtBind << "\n"
      << "dht-network = " << c.server.dhtNetwork << "\n"
      << "bootstrap = " << joinList(bootstrap) << "\n"
      << "state-directory = " << c.server.stateDirectory << "\n"
      << "identity = " << c.server.identity << "\n"
      << "control-socket = " << c.server.controlSocket << "\n"
      << "priority = " << c.server.priority << "\n"
      << "gateway = " << c.server.gateway << "\n"
      << "gateway-ca = " << c.server.gatewayCa << "\n"
      << "poll = " << c.server.poll.count() << "\n"
      << "xmlrpc-listen = " << c.server.xmlrpcListen << "\n"
      << "xmlrpc-rate = " << c.server.xmlrpcRate << "\n"
      << "rendezvous = " << joinList(rendezvous) << "\n"
      << "rendezvous-name = " << c.server.rendezvousName << "\n"
      << "rendezvous-port = " << c.server.rendezvousPort << "\n"
      << "rendezvous-network = " << c.server.rendezvousNetwork << "\n"
      << "log-level = " << levelText(c.server.logLevel) << "\n"
      << "syslog = " << (c.server.syslog ? "yes" : "no") << "\n";
  for (const ExportSection& e : c.exports) {
    out << "\n[export " << e.name << "]\n"
        << "types = " << joinList(e.types) << "\n"
        << "key = " << e.key << "\n"
        << "interfaces = " << joinList(e.interfaces) << "\n"
        << "ttl = " << e.ttl.count() << "\n";
  }
  for (const ImportSection& i : c.imports) {
    out << "\n[import " << i.name << "]\n"
        << "key = " << i.key << "\n"
        << "interfaces = " << joinList(i.interfaces) << "\n";
  }
  for (const GroupSection& g : c.groups) {
    out << "\n[group " << g.name << "]\n"
        << "types = " << joinList(g.types) << "\n"
        << "import = " << (g.import ? "yes" : "no") << "\n"
        << "interfaces = " << joinList(g.interfaces) << "\n"
        << "ttl = " << g.ttl.count() << "\n"
        << "secret-file = " << g.secretFile << "\n"
        << "description = " << g.description << "\n"
        << "aliases = " << joinList(g.aliases) << "\n";
  }
  return out.str();
}

DaemonConfig fromCommandLine(const GatewayOptions& o) {
  DaemonConfig c;
  applyDefaults<ServerConfig, ServerApply>(c.server);
  c.server.dhtPort = o.dhtPort;
  c.server.dhtBind = o.dhtBind;
  c.server.dhtNetwork = o.dhtNetwork;
  c.server.bootstrap = o.bootstrap;
  c.server.logLevel = o.logLevel;
  c.server.syslog = o.syslog;
  c.server.controlSocket = o.controlSocket;
  c.server.stateDirectory = o.stateDir;  // the command line keeps no state unless asked
  c.server.priority = o.priority;
  c.server.gateway = o.gatewayUrl;
  c.server.gatewayCa = o.gatewayCa;
  c.server.poll = o.poll;
  if (o.xmlrpcServe) {
    c.server.xmlrpcEndpoint = o.xmlrpcListen;
    c.server.xmlrpcListen = endpointText(o.xmlrpcListen);
  }
  c.server.xmlrpcRate = o.xmlrpcRate;
  c.server.rendezvous = o.rendezvous;
  c.server.rendezvousName = o.rendezvousName;
  c.server.rendezvousPort = o.rendezvousPort;
  c.server.rendezvousNetwork = o.rendezvousNetwork;
  if (!o.exportTypes.empty() && !o.key.empty()) {
    ExportSection e;
    e.name = "cli";
    e.types = o.exportTypes;
    e.key = o.key;
    e.interfaces = o.interfaces;
    e.ttl = o.ttl;
    c.exports.push_back(e);
  }
  if (o.import && !o.key.empty()) {
    ImportSection i;
    i.name = "cli";
    i.key = o.key;
    i.interfaces = o.interfaces;
    c.imports.push_back(i);
  }
  for (const GroupOptions& go : o.groups) {
    GroupSection g;
    g.name = go.name;
    g.types = o.exportTypes;
    g.import = o.import;
    g.interfaces = o.interfaces;
    g.ttl = o.ttl;
    g.secretFile = go.secretFile;
    g.description = go.description;
    g.aliases = go.aliases;
    c.groups.push_back(g);
  }
  return c;
}

}  // namespace z2z::config
