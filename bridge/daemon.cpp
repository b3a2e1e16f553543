// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/daemon.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <optional>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <list>
#include <map>
#include <set>
#include <sstream>

#include "z2z/bridge/control.hpp"
#include "z2z/bridge/election.hpp"
#include "z2z/bridge/gateway.hpp"
#include "z2z/bridge/group_session.hpp"
#include "z2z/bridge/growth.hpp"
#include "z2z/bridge/rendezvous.hpp"
#include "z2z/bridge/xmlrpc_server.hpp"
#include "z2z/config/log.hpp"
#include "z2z/dht/overlay.hpp"
#include "z2z/groups/group.hpp"

namespace z2z::bridge {
namespace {

constexpr std::string_view kTag = "daemon";
constexpr std::chrono::milliseconds kReloadWithdrawWait{1500};
// A leader that loses the election keeps going this long, so that the new leader's exports
// and imports are in place before its own are withdrawn (no gap, and importers see identical
// records from both meanwhile).
constexpr std::chrono::milliseconds kHandOverGrace{3000};
constexpr std::chrono::seconds kNodeCacheInterval{60};
constexpr std::chrono::seconds kSectionRetry{30};
constexpr std::size_t kNodeCacheMax = 64;
constexpr std::chrono::seconds kMergeWindow{60};

using Clock = std::chrono::steady_clock;

std::string endpointText(const config::Endpoint& ep) {
  return ep.host + " " + std::to_string(ep.port);
}

std::vector<config::Endpoint> loadNodeCache(const std::string& file) {
  std::vector<config::Endpoint> nodes;
  std::ifstream in(file);
  std::string host;
  unsigned port = 0;
  while (nodes.size() < kNodeCacheMax && in >> host >> port) {
    if (port == 0 || port > 65535 || host.size() > 64)
      continue;
    nodes.push_back({host, static_cast<std::uint16_t>(port)});
  }
  return nodes;
}

void saveNodeCache(const std::string& file, const std::vector<config::Endpoint>& nodes) {
  if (nodes.empty())
    return;  // never forget what we knew because we know nothing now
  std::string tmp = file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (std::size_t i = 0; i < nodes.size() && i < kNodeCacheMax; ++i) {
      out << endpointText(nodes[i]) << "\n";
    }
    if (!out)
      return;
  }
  std::rename(tmp.c_str(), file.c_str());
}

std::string jsonString(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string jsonList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i)
    out += (i ? "," : "") + jsonString(items[i]);
  return out + "]";
}

// The state directory: created 0700; an existing one that others can read is reported.
void prepareStateDirectory(const std::string& dir) {
  if (dir.empty())
    return;
  if (::mkdir(dir.c_str(), 0700) == 0) {
    log::info(kTag, "created state directory ", dir);
    return;
  }
  if (errno != EEXIST)
    throw Error("state directory " + dir + ": " + std::strerror(errno));
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw Error("state directory " + dir + " is not a directory");
  }
  if (st.st_uid != ::geteuid()) {
    throw Error("state directory " + dir + " belongs to another user (uid " +
                std::to_string(st.st_uid) + ")");
  }
  if ((st.st_mode & 077) != 0) {
    log::warning(kTag, "state directory ", dir, " is open to other users; setting mode 0700");
    ::chmod(dir.c_str(), 0700);
  }
}

config::GatewayOptions exportOptions(const config::ExportSection& e) {
  config::GatewayOptions o;
  o.exportTypes = e.types;
  o.key = e.key;
  o.interfaces = e.interfaces;
  o.ttl = e.ttl;
  return o;
}

config::GatewayOptions importOptions(const config::ImportSection& i) {
  config::GatewayOptions o;
  o.import = true;
  o.key = i.key;
  o.interfaces = i.interfaces;
  return o;
}

}  // namespace

struct Daemon::Impl {
  struct Running {
    std::string kind;  // "export" or "import"
    config::ExportSection exportSection;
    config::ImportSection importSection;
    std::unique_ptr<Gateway> gateway;
  };

  mdns::EventLoop& loop;
  config::DaemonConfig config;
  std::string origin = newOriginId();
  std::unique_ptr<dht::Overlay> node;     // the embedded node, unless a gateway stands in
  std::unique_ptr<dht::Overlay> overlay;  // what the gateways use
  std::unique_ptr<XmlrpcServer> xmlrpc;
  std::unique_ptr<Election> election;
  bool leading = false;
  std::map<std::string, Running> sections;  // by "export NAME" / "import NAME"; while leading
  std::list<std::unique_ptr<Gateway>> retiring;
  std::unique_ptr<ControlServer> control;
  std::unique_ptr<mdns::EventLoop::Timer> standDownTimer;
  std::unique_ptr<mdns::EventLoop::Timer> nodeCacheTimer;
  std::unique_ptr<mdns::EventLoop::Timer> sectionRetry;  // sections that could not start
  std::unique_ptr<Growth> growth;
  std::unique_ptr<Rendezvous> rendezvous;  // with rendezvous nodes configured; runs while leading
  struct GroupRun {
    config::GroupSection section;
    std::uint16_t port = 0;  // its overlay's UDP port
    std::unique_ptr<GroupContext> context;
    std::unique_ptr<GroupSession> session;
  };
  std::map<std::string, GroupRun> groupRuns;  // by group name; while leading
  std::list<GroupRun> retiringGroups;
  std::optional<groups::Identity> identity;
  std::function<void(const std::string&)> fatal;
  std::unique_ptr<mdns::EventLoop::Timer> republishTimer;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  Impl(mdns::EventLoop& l, config::DaemonConfig c, std::function<void(const std::string&)> onFatal)
      : loop(l), config(std::move(c)), fatal(std::move(onFatal)) {
    prepareStateDirectory(config.server.stateDirectory);
    // The DHT node before anything else opens descriptors: opendht's select() aborts on a
    // descriptor number of 1024 or more. It joins the overlay only when this gateway leads.
    if (config.server.gateway.empty()) {
      node = dht::startOpendht(dht::NodeOptions{
          config.server.dhtPort, config.server.dhtBind, config.server.dhtNetwork, {}});
      // Gateways see what clients of a served gateway API wrote, reassembled.
      overlay = dht::withGatewayApiValues(*node);
      if (!config.server.xmlrpcListen.empty()) {
        xmlrpc = std::make_unique<XmlrpcServer>(
            *node,
            XmlrpcServerOptions{config.server.xmlrpcEndpoint.host,
                                config.server.xmlrpcEndpoint.port, config.server.xmlrpcRate});
        // Its clients need the overlay whatever role this gateway has on its link.
        node->bootstrap(config.server.bootstrap);
      }
    } else {
      overlay = dht::startXmlrpcClient(dht::XmlrpcOptions{config.server.gateway, config.server.poll,
                                                          "z2z", config.server.gatewayCa});
    }
    nodeCacheTimer = loop.timer([this] {
      saveNodes();
      nodeCacheTimer->arm(kNodeCacheInterval);
    });
    sectionRetry = loop.timer([this] { startMissingSections(); });
    GrowthOptions growthOptions;
    growthOptions.probe.bind = config.server.dhtBind;
    growthOptions.probe.network = config.server.dhtNetwork;  // probes join main overlays
    growth = std::make_unique<Growth>(loop, *overlay, origin, growthOptions,
                                      [this] { republishSoon(); });
    rendezvous = makeRendezvous(config.server);
    republishTimer = loop.timer([this] {
      for (auto& [id, r] : sections)
        r.gateway->republish();
    });
    standDownTimer = loop.timer([this] { standDown(); });
    // Groups fail here, at start, rather than when this gateway first leads: an unusable
    // identity or secret file is a configuration error.
    if (!config.groups.empty()) {
      ensureIdentity();
      if (Status files = checkSecretFiles(config.groups); !files)
        throw Error(files.error());
    }
    election = std::make_unique<Election>(
        loop, ElectionOptions{electionInterfaces(), config.server.priority, overlay->port()},
        origin, [this](bool leader) { onLeadership(leader); });
    if (!config.server.controlSocket.empty()) {
      control = std::make_unique<ControlServer>(
          loop, config.server.controlSocket,
          [this](std::string_view request) { return answer(request); });
    }
    log::notice(kTag, "gateway ", origin, " started; electing the link's leader");
  }

  ~Impl() { *alive = false; }

  // Leaders of other overlays met at the rendezvous are joined like a new bootstrap peer.
  std::unique_ptr<Rendezvous> makeRendezvous(const config::ServerConfig& server) {
    if (server.rendezvous.empty() || node == nullptr)
      return nullptr;
    RendezvousOptions o;
    o.bootstrap = server.rendezvous;
    o.name = server.rendezvousName;
    o.port = server.rendezvousPort;
    o.network = server.rendezvousNetwork;
    o.mainNetwork = config.server.dhtNetwork;  // the running node's: it changes only by restart
    o.bind = server.dhtBind;
    return std::make_unique<Rendezvous>(loop, *overlay, o,
                                        [this](const std::vector<config::Endpoint>& peers) {
                                          if (leading)
                                            growth->join(peers);
                                        });
  }

  // The election runs where the sections browse and publish: everywhere if any section does.
  std::vector<std::string> electionInterfaces() const {
    std::set<std::string> all;
    for (const auto& e : config.exports) {
      if (e.interfaces.empty())
        return {};
      all.insert(e.interfaces.begin(), e.interfaces.end());
    }
    for (const auto& i : config.imports) {
      if (i.interfaces.empty())
        return {};
      all.insert(i.interfaces.begin(), i.interfaces.end());
    }
    return {all.begin(), all.end()};
  }

  std::string nodeCacheFile() const {
    return config.server.stateDirectory.empty() ? "" : config.server.stateDirectory + "/nodes";
  }

  void saveNodes() {
    if (!leading || nodeCacheFile().empty())
      return;
    saveNodeCache(nodeCacheFile(), overlay->knownNodes());
  }

  // ---- leadership (bootstrapping, interconnection) --------------------------------------------

  void onLeadership(bool leader) {
    if (leader) {
      standDownTimer->disarm();
      if (!leading)
        lead();
      return;
    }
    if (leading && !standDownTimer->armed()) {
      log::notice(kTag, "another gateway leads now; handing over in ", kHandOverGrace.count(),
                  " ms");
      standDownTimer->arm(kHandOverGrace);
    }
  }

  // After a merge contact, once the routing tables have had a moment to mix.
  void republishSoon() {
    if (!republishTimer->armed())
      republishTimer->arm(std::chrono::seconds(3));
  }

  void lead() {
    leading = true;
    // Interconnection: configured peers (names resolve to every address they have), then the
    // nodes this gateway knew last time.
    std::vector<config::Endpoint> peers = config.server.bootstrap;
    if (!nodeCacheFile().empty()) {
      auto cached = loadNodeCache(nodeCacheFile());
      if (!cached.empty()) {
        log::notice(kTag, "bootstrapping from ", cached.size(), " nodes of the node cache");
      }
      peers.insert(peers.end(), cached.begin(), cached.end());
    }
    overlay->bootstrap(peers);
    startMissingSections();
    startGroups();
    nodeCacheTimer->arm(std::chrono::seconds(10));
    growth->start();
    if (rendezvous)
      rendezvous->start();
    log::notice(kTag, "leading the link: ", summary());
  }

  void standDown() {
    if (!leading)
      return;
    saveNodes();
    leading = false;
    for (auto& [id, r] : sections)
      retire(std::move(r.gateway));
    sections.clear();
    for (auto& [name, g] : groupRuns)
      retire(std::move(g));
    groupRuns.clear();
    growth->stop();
    if (rendezvous)
      rendezvous->stop();
    nodeCacheTimer->disarm();
    sectionRetry->disarm();
    log::notice(kTag, "standing by");
  }

  // A section that cannot start (an interface that does not exist yet, or not any more) is
  // left out with an error and tried again every kSectionRetry; the others go on.
  template <typename Section>
  bool startSection(const Section& section, std::string_view kind) {
    try {
      start(section);
      return true;
    } catch (const std::exception& e) {
      log::error(kTag, "[", kind, " ", section.name, "] not started: ", e.what(),
                 "; trying again in ", kSectionRetry.count(), " s");
      sectionRetry->arm(kSectionRetry);
      return false;
    }
  }

  void startMissingSections() {
    if (!leading)
      return;
    for (const auto& e : config.exports) {
      if (!sections.contains("export " + e.name))
        startSection(e, "export");
    }
    for (const auto& i : config.imports) {
      if (!sections.contains("import " + i.name))
        startSection(i, "import");
    }
  }

  void start(const config::ExportSection& e) {
    Running r{"export", e, {}, std::make_unique<Gateway>(loop, *overlay, exportOptions(e), origin)};
    sections.insert_or_assign("export " + e.name, std::move(r));
  }

  void start(const config::ImportSection& i) {
    Running r{"import", {}, i, std::make_unique<Gateway>(loop, *overlay, importOptions(i), origin)};
    sections.insert_or_assign("import " + i.name, std::move(r));
  }

  // The UDP port of the i-th group's overlay: the ports after dht-port, or any if that is 0.
  // A port a running group holds, or one still leaving after a reload (it withdraws for up to
  // 2 s), is skipped: the new overlay could not bind it, and the group stayed out.
  std::uint16_t groupPort(std::size_t i) const {
    if (config.server.dhtPort == 0)
      return 0;
    auto taken = [this](std::size_t p) {
      for (const auto& [name, r] : groupRuns) {
        if (r.port == p)
          return true;
      }
      for (const auto& r : retiringGroups) {
        if (r.port == p)
          return true;
      }
      return false;
    };
    std::size_t p = config.server.dhtPort + 1 + i;
    std::size_t bound = p + groupRuns.size() + retiringGroups.size();
    while (p <= bound && taken(p))
      ++p;
    return p > 65535 ? 0 : static_cast<std::uint16_t>(p);
  }

  void start(const config::GroupSection& g, std::size_t index) {
    ensureIdentity();
    config::GatewayOptions o;
    o.exportTypes = g.types;
    o.import = g.import;
    o.interfaces = g.interfaces;
    o.ttl = g.ttl;
    o.dhtBind = config.server.dhtBind;
    o.dhtNetwork = config.server.dhtNetwork;  // group overlays' ids derive from it
    o.bootstrap = config.server.bootstrap;
    o.stateDir = config.server.stateDirectory;
    GroupRun run;
    run.section = g;
    run.context = std::make_unique<GroupContext>(GroupContext{loop, *overlay, *identity, o,
                                                              advertiseAddress(o),
                                                              [this](const std::string& why) {
                                                                if (fatal)
                                                                  fatal(why);
                                                              },
                                                              origin});
    run.port = groupPort(index);
    run.session = std::make_unique<GroupSession>(
        *run.context, config::GroupOptions{g.name, g.secretFile, g.description, g.aliases},
        run.port);
    groupRuns.insert_or_assign(g.name, std::move(run));
  }

  void startGroups() {
    for (std::size_t i = 0; i < config.groups.size(); ++i) {
      if (groupRuns.count(config.groups[i].name))
        continue;
      try {
        start(config.groups[i], i);
      } catch (const std::exception& e) {
        if (fatal)
          fatal("group '" + config.groups[i].name + "': " + e.what());
      }
    }
  }

  // The identity that signs this gateway's group documents, loaded (or created) once.
  const groups::Identity& ensureIdentity() {
    if (!identity) {
      std::string dir = config.server.stateDirectory.empty() ? std::string(config::kDefaultStateDir)
                                                             : config.server.stateDirectory;
      identity = groups::Identity::loadOrCreate(dir, config.server.identity);
    }
    return *identity;
  }

  // Every private group's secret file must be usable (mode 0600, ours, well-formed).
  static Status checkSecretFiles(const std::vector<config::GroupSection>& sections) {
    for (const auto& g : sections) {
      if (g.secretFile.empty())
        continue;
      if (auto secret = groups::loadSecretFile(g.secretFile); !secret) {
        return fail("group '" + g.name + "': " + secret.error());
      }
    }
    return {};
  }

  // Leaves a group and destroys its session once that is done.
  void retire(GroupRun run) {
    retiringGroups.push_back(std::move(run));
    GroupSession* raw = retiringGroups.back().session.get();
    raw->shutdown(kReloadWithdrawWait, [this, raw] {
      loop.post([this, raw] {
        retiringGroups.remove_if([raw](const GroupRun& r) { return r.session.get() == raw; });
      });
    });
  }

  // Withdraws a gateway and destroys it once that is done.
  void retire(std::unique_ptr<Gateway> gateway) {
    Gateway* raw = gateway.get();
    retiring.push_back(std::move(gateway));
    raw->shutdown(kReloadWithdrawWait, [this, raw] {
      loop.post(
          [this, raw] { retiring.remove_if([raw](const auto& g) { return g.get() == raw; }); });
    });
  }

  void reload(config::DaemonConfig next) {
    if (Status files = checkSecretFiles(next.groups); !files) {
      log::error(kTag, "reload refused, keeping the running configuration: ", files.error());
      return;
    }
    const config::ServerConfig& was = config.server;
    const config::ServerConfig& now = next.server;
    // The file was checked against its own dht-network; the node keeps the running one.
    if (!now.rendezvous.empty() && now.rendezvousNetwork == was.dhtNetwork) {
      log::error(kTag, "reload refused, keeping the running configuration: rendezvous-network ",
                 now.rendezvousNetwork,
                 " is the running main overlay's network id (dht-network changes only with a "
                 "restart)");
      return;
    }
    auto restartOnly = [&](bool changed, std::string_view key) {
      if (changed)
        log::warning(kTag, "reload: ", key, " changes only with a restart; keeping the old value");
    };
    restartOnly(was.dhtPort != now.dhtPort, "dht-port");
    restartOnly(was.dhtBind != now.dhtBind, "dht-bind");
    restartOnly(was.dhtNetwork != now.dhtNetwork, "dht-network");
    restartOnly(was.stateDirectory != now.stateDirectory, "state-directory");
    restartOnly(was.controlSocket != now.controlSocket, "control-socket");
    restartOnly(was.priority != now.priority, "priority");
    restartOnly(was.identity != now.identity, "identity");
    restartOnly(
        was.gateway != now.gateway || was.gatewayCa != now.gatewayCa || was.poll != now.poll,
        "gateway, gateway-ca and poll");
    restartOnly(was.xmlrpcListen != now.xmlrpcListen || was.xmlrpcRate != now.xmlrpcRate,
                "xmlrpc-listen and xmlrpc-rate");
    log::setLevel(now.logLevel);
    log::useSyslog(now.syslog);
    std::vector<config::Endpoint> added;
    for (const auto& ep : now.bootstrap) {
      if (std::find(was.bootstrap.begin(), was.bootstrap.end(), ep) == was.bootstrap.end()) {
        added.push_back(ep);
      }
    }
    if (!added.empty() && leading)
      growth->join(added);
    if (was.rendezvous != now.rendezvous || was.rendezvousName != now.rendezvousName ||
        was.rendezvousPort != now.rendezvousPort ||
        was.rendezvousNetwork != now.rendezvousNetwork) {
      rendezvous.reset();  // withdraws its value and ends its node
      rendezvous = makeRendezvous(now);
      if (rendezvous && leading)
        rendezvous->start();
      log::notice(kTag, "reload: rendezvous settings changed; rendezvous ",
                  rendezvous ? "on" : "off");
    }
    config::ServerConfig kept = now;
    kept.dhtPort = was.dhtPort;
    kept.dhtBind = was.dhtBind;
    kept.dhtNetwork = was.dhtNetwork;
    kept.stateDirectory = was.stateDirectory;
    kept.controlSocket = was.controlSocket;
    kept.priority = was.priority;
    kept.identity = was.identity;
    kept.gateway = was.gateway;
    kept.poll = was.poll;
    kept.xmlrpcListen = was.xmlrpcListen;
    kept.xmlrpcEndpoint = was.xmlrpcEndpoint;
    kept.xmlrpcRate = was.xmlrpcRate;

    std::map<std::string, const config::ExportSection*> exports;
    std::map<std::string, const config::ImportSection*> imports;
    for (const auto& e : next.exports)
      exports["export " + e.name] = &e;
    for (const auto& i : next.imports)
      imports["import " + i.name] = &i;
    int unchanged = 0, changed = 0, removed = 0, started = 0;
    if (!leading) {
      config = std::move(next);
      config.server = kept;
      log::notice(kTag, "reloaded; standing by, so no section runs here");
      return;
    }
    for (auto it = sections.begin(); it != sections.end();) {
      Running& r = it->second;
      bool keep = false;
      if (r.kind == "export") {
        auto e = exports.find(it->first);
        keep = e != exports.end() && e->second->sameAs(r.exportSection);
      } else {
        auto i = imports.find(it->first);
        keep = i != imports.end() && i->second->sameAs(r.importSection);
      }
      if (keep) {
        ++unchanged;
        exports.erase(it->first);
        imports.erase(it->first);
        ++it;
        continue;
      }
      bool stays = exports.count(it->first) || imports.count(it->first);
      ++(stays ? changed : removed);
      log::notice(kTag, "reload: [", it->first, "] ", stays ? "changed" : "removed",
                  "; withdrawing it");
      retire(std::move(r.gateway));
      it = sections.erase(it);
    }
    for (const auto& [id, e] : exports) {
      startSection(*e, "export");
      ++started;
    }
    for (const auto& [id, i] : imports) {
      startSection(*i, "import");
      ++started;
    }
    started -= changed;
    // Groups: a changed group is left and joined again with its new keys.
    std::map<std::string, const config::GroupSection*> nextGroups;
    for (const auto& g : next.groups)
      nextGroups[g.name] = &g;
    for (auto it = groupRuns.begin(); it != groupRuns.end();) {
      auto n = nextGroups.find(it->first);
      if (n != nextGroups.end() && n->second->sameAs(it->second.section)) {
        ++unchanged;
        ++it;
        continue;
      }
      ++(n != nextGroups.end() ? changed : removed);
      log::notice(kTag, "reload: [group ", it->first, "] ",
                  n != nextGroups.end() ? "changed" : "removed", "; leaving it");
      retire(std::move(it->second));
      it = groupRuns.erase(it);
    }
    config = std::move(next);
    config.server = kept;
    for (std::size_t i = 0; i < config.groups.size(); ++i) {
      if (groupRuns.count(config.groups[i].name))
        continue;
      bool wasChanged = false;
      for (const auto& r : retiringGroups)
        wasChanged |= r.section.name == config.groups[i].name;
      if (!wasChanged)
        ++started;
      try {
        start(config.groups[i], i);
      } catch (const std::exception& e) {
        log::error(kTag, "group '", config.groups[i].name, "': ", e.what());
      }
    }
    log::notice(kTag, "reloaded: ", unchanged, " sections unchanged, ", changed, " changed, ",
                started, " added, ", removed, " removed");
  }

  void shutdown(std::chrono::milliseconds wait, std::function<void()> done) {
    saveNodes();
    if (rendezvous)
      rendezvous->stop();
    auto pending = std::make_shared<std::size_t>(sections.size() + groupRuns.size() + 1);
    auto finished = std::make_shared<std::function<void()>>(std::move(done));
    auto one = [pending, finished] {
      if (--*pending == 0 && *finished)
        std::exchange(*finished, nullptr)();
    };
    for (auto& [id, r] : sections)
      r.gateway->shutdown(wait, one);
    for (auto& [name, g] : groupRuns)
      g.session->shutdown(wait, one);
    one();
  }

  std::string answer(std::string_view request) {
    if (request == "status")
      return status(false);
    if (request == "status json")
      return status(true);
    return "error: unknown request '" + std::string(request.substr(0, 64)) + "'\n";
  }

  std::string summary() const {
    std::size_t exported = 0, imported = 0;
    for (const auto& [id, r] : sections) {
      GatewayStatus s = r.gateway->status();
      exported += s.exported.size();
      imported += s.imported.size();
    }
    auto stats = overlay->stats();
    return std::string(leading ? "leader" : "standing by") + ", " + std::to_string(exported) +
           " services exported, " + std::to_string(imported) + " imported, " +
           std::to_string(stats.goodNodes) + " DHT nodes";
  }

  std::string role() const {
    if (!election->settled())
      return "electing";
    return leading ? "leader" : "standby";
  }

  // The stage of the main overlay as this gateway sees it.
  std::string stage() const {
    if (!leading)
      return "bootstrapping";  // on the link: electing, or standing by
    auto stats = overlay->stats();
    if (stats.goodNodes + stats.dubiousNodes == 0)
      return "interconnection";
    auto merged = growth->lastMerge();
    if (merged != Clock::time_point{} && Clock::now() - merged < kMergeWindow)
      return "growth";
    return "structure";
  }

  std::string status(bool json) const {
    auto stats = overlay->stats();
    std::ostringstream out;
    std::string leaderId = election->leaderId();
    std::size_t linkGateways = election->peers().size() + 1;
    if (!json) {
      out << "z2z " << Z2Z_VERSION << ", gateway " << origin << "\n"
          << "link: " << role() << " (" << linkGateways << " gateways"
          << (leaderId.empty() ? "" : ", leader " + leaderId) << ")\n"
          << "main overlay: stage " << stage() << "\n"
          << "DHT node: UDP port " << overlay->port() << ", network " << config.server.dhtNetwork
          << ", " << stats.goodNodes << " good and " << stats.dubiousNodes
          << " dubious nodes known\n"
          << "rendezvous: " << rendezvousText() << "\n";
      for (const auto& [id, r] : sections) {
        GatewayStatus s = r.gateway->status();
        const GatewayCounters& c = s.counters;
        if (r.kind == "export") {
          out << "\n[" << id << "] key '" << r.exportSection.key << "', types";
          for (const auto& t : r.exportSection.types)
            out << " " << t;
          out << "\n  exported: " << s.exported.size() << "\n";
          for (const auto& k : s.exported)
            out << "    " << mdns::describe(k) << "\n";
        } else {
          out << "\n[" << id << "] key '" << r.importSection.key << "'\n"
              << "  imported: " << s.imported.size() << " from " << s.liveGateways << " gateways\n";
          for (const auto& i : s.imported) {
            out << "    " << mdns::describe(i.key) << " as '" << i.publishedAs << "' from "
                << i.origin << "\n";
          }
        }
        out << "  records: " << c.recordsReceived << " received, " << c.recordsRejected
            << " rejected; " << c.exported << " exports and " << c.withdrawn << " withdrawals put, "
            << c.putsFailed << " puts failed; " << c.originsExpired << " gateways expired\n";
      }
      for (const auto& [name, g] : groupRuns) {
        out << "\n[group " << name << "] " << (g.section.secretFile.empty() ? "public" : "private")
            << ", " << (g.session->joined() ? "joined" : "joining") << "\n";
      }
      return out.str();
    }
    out << "{\"version\":" << jsonString(Z2Z_VERSION) << ",\"gateway\":" << jsonString(origin)
        << ",\"link\":{\"role\":" << jsonString(role()) << ",\"leader\":" << jsonString(leaderId)
        << ",\"gateways\":" << linkGateways << "}"
        << ",\"overlay\":{\"stage\":" << jsonString(stage()) << ",\"port\":" << overlay->port()
        << ",\"network\":" << config.server.dhtNetwork << ",\"good_nodes\":" << stats.goodNodes
        << ",\"dubious_nodes\":" << stats.dubiousNodes << "},\"rendezvous\":" << rendezvousJson()
        << ",\"exports\":[";
    bool first = true;
    for (const auto& [id, r] : sections) {
      if (r.kind != "export")
        continue;
      GatewayStatus s = r.gateway->status();
      out << (first ? "" : ",") << "{\"section\":" << jsonString(r.exportSection.name)
          << ",\"key\":" << jsonString(r.exportSection.key)
          << ",\"types\":" << jsonList(r.exportSection.types) << ",\"services\":[";
      for (std::size_t i = 0; i < s.exported.size(); ++i) {
        out << (i ? "," : "") << "{\"name\":" << jsonString(s.exported[i].name)
            << ",\"type\":" << jsonString(s.exported[i].type) << "}";
      }
      out << "],\"counters\":" << counters(s.counters) << "}";
      first = false;
    }
    out << "],\"imports\":[";
    first = true;
    for (const auto& [id, r] : sections) {
      if (r.kind != "import")
        continue;
      GatewayStatus s = r.gateway->status();
      out << (first ? "" : ",") << "{\"section\":" << jsonString(r.importSection.name)
          << ",\"key\":" << jsonString(r.importSection.key) << ",\"gateways\":" << s.liveGateways
          << ",\"services\":[";
      for (std::size_t i = 0; i < s.imported.size(); ++i) {
        const auto& imp = s.imported[i];
        out << (i ? "," : "") << "{\"name\":" << jsonString(imp.key.name)
            << ",\"type\":" << jsonString(imp.key.type)
            << ",\"published_as\":" << jsonString(imp.publishedAs)
            << ",\"origin\":" << jsonString(imp.origin) << "}";
      }
      out << "],\"counters\":" << counters(s.counters) << "}";
      first = false;
    }
    out << "],\"groups\":[";
    first = true;
    for (const auto& [name, g] : groupRuns) {
      out << (first ? "" : ",") << "{\"name\":" << jsonString(name)
          << ",\"private\":" << (g.section.secretFile.empty() ? "false" : "true")
          << ",\"joined\":" << (g.session->joined() ? "true" : "false") << "}";
      first = false;
    }
    out << "]}\n";
    return out.str();
  }

  std::string rendezvousText() const {
    if (!rendezvous)
      return "off";
    RendezvousStatus r = rendezvous->status();
    std::ostringstream out;
    out << "name '" << config.server.rendezvousName << "', key " << r.key.hex() << "; ";
    if (r.failed)
      return out.str() + "its node could not start (see the log); trying again every minute";
    if (!r.running)
      return out.str() + "not running (only the leader runs it)";
    out << "node on UDP port " << r.port << " with " << r.nodes << " good nodes, " << r.published
        << " endpoints published, " << r.leaders << " other leaders read, " << r.joins << " joins, "
        << r.rejected << " values rejected";
    return out.str();
  }

  std::string rendezvousJson() const {
    if (!rendezvous)
      return "{\"enabled\":false}";
    RendezvousStatus r = rendezvous->status();
    std::ostringstream out;
    out << "{\"enabled\":true,\"running\":" << (r.running ? "true" : "false")
        << ",\"failed\":" << (r.failed ? "true" : "false")
        << ",\"name\":" << jsonString(config.server.rendezvousName)
        << ",\"key\":" << jsonString(r.key.hex()) << ",\"port\":" << r.port
        << ",\"good_nodes\":" << r.nodes << ",\"published\":" << r.published
        << ",\"leaders\":" << r.leaders << ",\"joins\":" << r.joins
        << ",\"rejected\":" << r.rejected << "}";
    return out.str();
  }

  static std::string counters(const GatewayCounters& c) {
    std::ostringstream out;
    out << "{\"exported\":" << c.exported << ",\"withdrawn\":" << c.withdrawn
        << ",\"puts_failed\":" << c.putsFailed << ",\"records_received\":" << c.recordsReceived
        << ",\"records_rejected\":" << c.recordsRejected << ",\"imported\":" << c.imported
        << ",\"imports_withdrawn\":" << c.importsWithdrawn
        << ",\"gateways_expired\":" << c.originsExpired << "}";
    return out.str();
  }
};

Daemon::Daemon(mdns::EventLoop& loop, config::DaemonConfig config,
               std::function<void(const std::string&)> fatal)
    : impl_(std::make_unique<Impl>(loop, std::move(config), std::move(fatal))) {}

Daemon::~Daemon() = default;

void Daemon::reload(config::DaemonConfig next) {
  impl_->reload(std::move(next));
}

void Daemon::shutdown(std::chrono::milliseconds wait, std::function<void()> done) {
  impl_->shutdown(wait, std::move(done));
}

std::string Daemon::status(bool json) const {
  return impl_->status(json);
}
std::string Daemon::summary() const {
  return impl_->summary();
}

}  // namespace z2z::bridge
