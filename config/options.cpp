// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/config/options.hpp"

#include "z2z/config/encoding.hpp"
#include "z2z/config/values.hpp"

#include <algorithm>
#include <functional>
#include <optional>

namespace z2z::config {
namespace {

struct Flag {
  std::string_view name;   // long name without dashes
  std::string_view alias;  // another accepted long name, or empty
  char shortName;          // 0 if none
  bool takesValue;
  std::string_view argName;  // for --help
  std::string_view help;
  std::function<Status(std::string_view, CommandLine&)> apply;
};

Status addExports(std::string_view value, CommandLine& cl) {
  for (const std::string& type : splitList(value)) {
    if (!isServiceType(type)) {
      return fail("--export: '" + type + "' is not a DNS-SD service type such as _daap._tcp");
    }
    cl.options.exportTypes.emplace_back(type);
  }
  return {};
}

const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      {"export", "exportopendht", 'e', true, "TYPE[,TYPE...]",
       "browse services of TYPE on the link and store them under --key (repeatable)", addExports},
      {"import", "importopendht", 'i', false, "",
       "publish on the link every service stored under --key",
       [](std::string_view, CommandLine& cl) -> Status {
         cl.options.import = true;
         return {};
       }},
      {"key", "", 'k', true, "NAME", "the DHT key name shared by exporters and importers",
       [](std::string_view v, CommandLine& cl) -> Status {
         if (v.empty() || v.size() > kMaxKeyLength) {
           return fail("--key: the key name must have 1 to 255 bytes");
         }
         cl.options.key = v;
         return {};
       }},
      {"bootstrap", "", 'b', true, "HOST[:PORT]",
       "DHT node to join (repeatable); without one the gateway starts a new overlay",
       [](std::string_view v, CommandLine& cl) -> Status {
         auto ep = parseEndpoint(v);
         if (!ep)
           return fail("--bootstrap: " + ep.error());
         cl.options.bootstrap.push_back(*ep);
         return {};
       }},
      {"dht-port", "", 'p', true, "PORT",
       "UDP port of the embedded DHT node (default 4222; 0: any)",
       [](std::string_view v, CommandLine& cl) -> Status {
         auto port = parseInt<std::uint16_t>(v, 0, 65535);
         if (!port)
           return fail("--dht-port: '" + std::string(v) + "' is not a port number");
         cl.options.dhtPort = *port;
         return {};
       }},
      {"dht-bind", "", 0, true, "ADDRESS",
       "IPv4 or IPv6 address the DHT node binds to (default: all addresses, both families)",
       [](std::string_view v, CommandLine& cl) -> Status {
         cl.options.dhtBind = v;
         return {};
       }},
      {"dht-network", "", 0, true, "N",
       "OpenDHT network id of the main overlay, the embedded node's (default 0, the public "
       "network's; every gateway of one overlay needs the same)",
       [](std::string_view v, CommandLine& cl) -> Status {
         auto n = parseNetworkId(v);
         if (!n)
           return fail("--dht-network: " + n.error());
         cl.options.dhtNetwork = *n;
         return {};
       }},
      {"ttl", "", 't', true, "SECONDS",
       "lease of exported records: importers withdraw a silent gateway's services after it "
       "(default 120, 5 to 86400)",
       [](std::string_view v, CommandLine& cl) -> Status {
         auto s = parseInt<long long>(v, kMinTtl.count(), kMaxTtl.count());
         if (!s)
           return fail("--ttl: '" + std::string(v) + "' is not a number from 5 to 86400");
         cl.options.ttl = std::chrono::seconds(*s);
         return {};
       }},
      {"interface", "", 'I', true, "IF",
       "browse and publish only on this link interface (repeatable; default: every interface "
       "avahi-daemon uses)",
       [](std::string_view v, CommandLine& cl) -> Status {
         if (v.empty() || v.size() > 15) {
           return fail("--interface: '" + std::string(v) + "' is not an interface name");
         }
         cl.options.interfaces.emplace_back(v);
         return {};
       }},
      {"priority", "", 0, true, "N",
       "leader election among the link's gateways: the highest priority leads, then the "
       "smallest gateway id (default 0, -1000 to 1000)",
       [](std::string_view v, CommandLine& cl) -> Status {
         auto p = parseInt<int>(v, -1000, 1000);
         if (!p)
           return fail("--priority: '" + std::string(v) + "' is not a number from -1000 to 1000");
         cl.options.priority = *p;
         return {};
       }},
      {"state-dir", "", 0, true, "DIR",
       "keep state here (created with mode 0700): the identity key that signs group documents "
       "and the DHT node cache that lets a restart rejoin without --bootstrap (default: none; "
       "/var/lib/z2z when groups are joined)",
       [](std::string_view v, CommandLine& cl) -> Status {
         if (v.empty() || v.front() != '/') {
           return fail("--state-dir: '" + std::string(v) + "' is not an absolute path");
         }
         cl.options.stateDir = v;
         return {};
       }},
      {"log-level", "", 'l', true, "LEVEL", "error, warning, notice (default), info or debug",
       [](std::string_view v, CommandLine& cl) -> Status {
         if (!log::parseLevel(v, cl.options.logLevel)) {
           return fail("--log-level: '" + std::string(v) +
                       "' is not one of error, warning, notice, info, debug");
         }
         return {};
       }},
      {"syslog", "", 's', false, "", "log to syslog instead of standard error",
       [](std::string_view, CommandLine& cl) -> Status {
         cl.options.syslog = true;
         return {};
       }},
      {"status", "", 0, false, "",
       "print the state of a running gateway (exports, imports, overlay, counters) and exit",
       [](std::string_view, CommandLine& cl) -> Status {
         cl.action = Action::Status;
         return {};
       }},
      {"json", "", 0, false, "", "with --status: print JSON",
       [](std::string_view, CommandLine& cl) -> Status {
         cl.options.json = true;
         return {};
       }},
      {"control-socket", "", 0, true, "PATH",
       "UNIX socket the gateway answers --status on (default: none for z2z; --status asks "
       "/run/z2z/z2zd.sock, where z2zd answers)",
       [](std::string_view v, CommandLine& cl) -> Status {
         if (v.empty() || v.front() != '/' || v.size() > 100) {
           return fail("--control-socket: '" + std::string(v) + "' is not an absolute path");
         }
         cl.options.controlSocket = v;
         return {};
       }},
      {"gateway", "", 'g', true, "URL",
       "use the classic OpenDHT gateway (XML-RPC) at URL, http:// or https://, instead of an "
       "embedded DHT node",
       [](std::string_view v, CommandLine& cl) -> Status {
         if (!(v.starts_with("http://") || v.starts_with("https://")) || v.size() > 2048) {
           return fail("--gateway: '" + std::string(v) + "' is not an http:// or https:// URL");
         }
         cl.options.gatewayUrl = v;
         return {};
       }},
      {"gateway-ca", "", 0, true, "FILE",
       "with an https:// --gateway: check its certificate against the CA certificates in this "
       "PEM file instead of the system's (default: the system's)",
       [](std::string_view v, CommandLine& cl) -> Status {
         if (v.empty() || v.size() > 4096)
           return fail("--gateway-ca: give the path of a PEM file");
         cl.options.gatewayCa = v;
         return {};
       }},
      {"poll", "", 0, true, "SECONDS",
       "with --gateway: how often imports are read from the gateway (default 5, 1 to 3600)",
       [](std::string_view v, CommandLine& cl) -> Status {
         auto s = parseInt<long long>(v, 1, 3600);
         if (!s)
           return fail("--poll: '" + std::string(v) + "' is not a number from 1 to 3600");
         cl.options.poll = std::chrono::seconds(*s);
         return {};
       }},
      {"xmlrpc-listen", "", 0, true, "[ADDRESS:]PORT",
       "serve the OpenDHT gateway API (XML-RPC) in front of the DHT node on this TCP port "
       "(address default 127.0.0.1; the classic port is 5851)",
       [](std::string_view v, CommandLine& cl) -> Status {
         bool digits = !v.empty() && v.find_first_not_of("0123456789") == std::string_view::npos;
         auto ep = digits ? parseEndpoint("127.0.0.1:" + std::string(v), kDefaultXmlrpcPort)
                          : parseEndpoint(v, kDefaultXmlrpcPort);
         if (!ep)
           return fail("--xmlrpc-listen: " + ep.error());
         cl.options.xmlrpcServe = true;
         cl.options.xmlrpcListen = *ep;
         return {};
       }},
      {"xmlrpc-rate", "", 0, true, "N",
       "with --xmlrpc-listen: requests a second each client address may make (default 50; "
       "0: no limit)",
       [](std::string_view v, CommandLine& cl) -> Status {
         auto n = parseInt<unsigned>(v, 0, 1000000);
         if (!n)
           return fail("--xmlrpc-rate: '" + std::string(v) + "' is not a number from 0 to 1000000");
         cl.options.xmlrpcRate = *n;
         return {};
       }},
      {"rendezvous", "", 0, true, "HOST[:PORT]",
       "a node of the rendezvous overlay (repeatable), for instance of the public OpenDHT "
       "network: the leader runs a second DHT node there and meets the leaders of other "
       "overlays under --rendezvous-name (default: no rendezvous)",
       [](std::string_view v, CommandLine& cl) -> Status {
         auto ep = parseEndpoint(v);
         if (!ep)
           return fail("--rendezvous: " + ep.error());
         cl.options.rendezvous.push_back(*ep);
         return {};
       }},
      {"rendezvous-name", "", 0, true, "NAME",
       "with --rendezvous: the name leaders of one overlay meet under (default main)",
       [](std::string_view v, CommandLine& cl) -> Status {
         if (!isRendezvousName(v)) {
           return fail("--rendezvous-name: 1 to 255 bytes without control characters");
         }
         cl.options.rendezvousName = v;
         return {};
       }},
      {"rendezvous-port", "", 0, true, "PORT",
       "with --rendezvous: UDP port of the rendezvous node (default 0: any free one)",
       [](std::string_view v, CommandLine& cl) -> Status {
         auto port = parseInt<std::uint16_t>(v, 0, 65535);
         if (!port)
           return fail("--rendezvous-port: '" + std::string(v) + "' is not a port number");
         cl.options.rendezvousPort = *port;
         return {};
       }},
      {"rendezvous-network", "", 0, true, "N",
       "with --rendezvous: the rendezvous overlay's OpenDHT network id (default 0, the public "
       "network's)",
       [](std::string_view v, CommandLine& cl) -> Status {
         auto n = parseNetworkId(v);
         if (!n)
           return fail("--rendezvous-network: " + n.error());
         cl.options.rendezvousNetwork = *n;
         return {};
       }},
      {"group", "", 0, true, "NAME",
       "join the group NAME (repeatable): export and import in the group's own overlay; the "
       "group flags below apply to the last --group",
       [](std::string_view v, CommandLine& cl) -> Status {
         if (!isGroupName(v)) {
           return fail("--group: '" + std::string(v) +
                       "' is not a group name (1 to 63 letters, digits, '-', '_', '.')");
         }
         for (const GroupOptions& g : cl.options.groups) {
           if (g.name == v)
             return fail("--group: '" + std::string(v) + "' given twice");
         }
         cl.options.groups.push_back(GroupOptions{std::string(v), {}, {}, {}});
         return {};
       }},
      {"group-secret-file", "", 0, true, "FILE",
       "make the last --group private: its shared secret (mode 0600, see z2z-groups(7))",
       [](std::string_view v, CommandLine& cl) -> Status {
         if (cl.options.groups.empty())
           return fail("--group-secret-file must follow a --group");
         if (v.empty())
           return fail("--group-secret-file: empty file name");
         cl.options.groups.back().secretFile = v;
         return {};
       }},
      {"group-description", "", 0, true, "TEXT",
       "description of the last --group, published when this gateway creates it",
       [](std::string_view v, CommandLine& cl) -> Status {
         if (cl.options.groups.empty())
           return fail("--group-description must follow a --group");
         if (v.empty() || v.size() > 256 || !isCleanUtf8(v))
           return fail("--group-description: 1 to 256 bytes of printable UTF-8");
         cl.options.groups.back().description = v;
         return {};
       }},
      {"alias", "", 0, true, "NAME",
       "bind the alias NAME to the last --group (repeatable): joining by the alias reaches it",
       [](std::string_view v, CommandLine& cl) -> Status {
         if (cl.options.groups.empty())
           return fail("--alias must follow a --group");
         if (!isGroupName(v))
           return fail("--alias: '" + std::string(v) + "' is not a group name");
         if (v == cl.options.groups.back().name)
           return fail("--alias: same as the group's name");
         cl.options.groups.back().aliases.emplace_back(v);
         return {};
       }},
      {"list-groups", "", 0, false, "",
       "print the public groups found in the main overlay (joined with --bootstrap) and exit",
       [](std::string_view, CommandLine& cl) -> Status {
         cl.action = Action::ListGroups;
         return {};
       }},
      {"help", "", 'h', false, "", "print this help and exit",
       [](std::string_view, CommandLine& cl) -> Status {
         cl.action = Action::Help;
         return {};
       }},
      {"version", "", 'V', false, "", "print the version and exit",
       [](std::string_view, CommandLine& cl) -> Status {
         cl.action = Action::Version;
         return {};
       }},
  };
  return table;
}

const Flag* findLong(std::string_view name) {
  for (const Flag& f : flags()) {
    if (name == f.name || (!f.alias.empty() && name == f.alias))
      return &f;
  }
  return nullptr;
}

const Flag* findShort(char c) {
  for (const Flag& f : flags()) {
    if (f.shortName == c)
      return &f;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> flagNames() {
  std::vector<std::string> names;
  for (const Flag& f : flags()) {
    names.emplace_back(f.name);
    if (!f.alias.empty())
      names.emplace_back(f.alias);
  }
  return names;
}

bool isGroupName(std::string_view name) {
  if (name.empty() || name.size() > 63)
    return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok)
      return false;
  }
  return true;
}

bool isRendezvousName(std::string_view name) {
  if (name.empty() || name.size() > kMaxKeyLength)
    return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

Result<std::uint32_t> parseNetworkId(std::string_view text) {
  auto n = parseInt<std::uint32_t>(text, 0, 4294967295U);
  if (!n)
    return fail("'" + std::string(text) + "' is not a number from 0 to 4294967295");
  return *n;
}

bool isServiceType(std::string_view type) {
  // _<1..15 letters, digits, hyphens>._tcp or ._udp
  auto dot = type.find('.');
  if (dot == std::string_view::npos || dot < 2 || dot > 16 || type[0] != '_')
    return false;
  std::string_view proto = type.substr(dot + 1);
  if (proto != "_tcp" && proto != "_udp")
    return false;
  std::string_view name = type.substr(1, dot - 1);
  bool letter = false;
  for (char c : name) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alpha && !(c >= '0' && c <= '9') && c != '-')
      return false;
    letter |= alpha;
  }
  return letter && name.front() != '-' && name.back() != '-';
}

Result<Endpoint> parseEndpoint(std::string_view text, std::uint16_t defaultPort) {
  Endpoint ep;
  ep.port = defaultPort;
  std::string_view host = text;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos)
      return fail("'" + std::string(text) + "' lacks a ']'");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return fail("'" + std::string(text) + "': junk after ']'");
      port = rest.substr(1);
    }
  } else if (text.find(':') != text.rfind(':')) {
    host = text;  // a bare IPv6 address
  } else if (auto colon = text.find(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty() || host.size() > 253)
    return fail("'" + std::string(text) + "' has no host");
  if (!port.empty() || text.ends_with(":")) {
    auto p = parseInt<std::uint16_t>(port, 1, 65535);
    if (!p)
      return fail("'" + std::string(text) + "' has a bad port");
    ep.port = *p;
  }
  ep.host = host;
  return ep;
}

Result<CommandLine> parseCommandLine(std::span<const std::string_view> args) {
  CommandLine cl;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    const Flag* flag = nullptr;
    std::optional<std::string_view> inlineValue;
    if (arg.starts_with("--")) {
      std::string_view name = arg.substr(2);
      if (auto eq = name.find('='); eq != std::string_view::npos) {
        inlineValue = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      flag = findLong(name);
    } else if (arg.size() == 2 && arg[0] == '-') {
      flag = findShort(arg[1]);
    } else {
      return fail("unexpected argument '" + std::string(arg) + "'");
    }
    if (flag == nullptr)
      return fail("unknown option '" + std::string(arg) + "'");
    std::string_view value;
    if (flag->takesValue) {
      if (inlineValue) {
        value = *inlineValue;
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return fail("option '" + std::string(arg) + "' needs a value (" +
                    std::string(flag->argName) + ")");
      }
    } else if (inlineValue) {
      return fail("option '--" + std::string(flag->name) + "' takes no value");
    }
    if (Status s = flag->apply(value, cl); !s)
      return fail(s.error());
  }
  if (cl.action == Action::Status && cl.options.controlSocket.empty()) {
    cl.options.controlSocket = kDefaultControlSocket;
  }
  if (cl.action != Action::Run)
    return cl;
  const GatewayOptions& o = cl.options;
  if (o.exportTypes.empty() && !o.import) {
    return fail("nothing to do: give --export TYPE and/or --import");
  }
  if (o.key.empty() && o.groups.empty()) {
    return fail("--export and --import need --key NAME or --group NAME");
  }
  if (o.xmlrpcServe && !o.gatewayUrl.empty()) {
    return fail("--xmlrpc-listen serves an embedded DHT node: it cannot go with --gateway");
  }
  if (!o.gatewayCa.empty() && !o.gatewayUrl.starts_with("https://")) {
    return fail("--gateway-ca needs an https:// --gateway");
  }
  if (!o.rendezvous.empty() && !o.gatewayUrl.empty()) {
    return fail("--rendezvous needs an embedded DHT node: it cannot go with --gateway");
  }
  if (!o.rendezvous.empty() && o.rendezvousNetwork == o.dhtNetwork) {
    return fail("--rendezvous-network " + std::to_string(o.rendezvousNetwork) +
                " is also the main overlay's network id (--dht-network " +
                std::to_string(o.dhtNetwork) +
                "): anyone who writes under the rendezvous key could make this overlay's leaders "
                "join that overlay, and the two would merge; give --dht-network an id of this "
                "deployment's own");
  }
  return cl;
}

std::string usage() {
  std::string text =
      "Usage: z2z [--export TYPE[,TYPE...]]... [--import] --key NAME [OPTION]...\n"
      "       z2z --status [--json] [--control-socket PATH]\n"
      "       z2z [--export TYPE[,TYPE...]]... [--import] --group NAME [OPTION]...\n"
      "       z2z --list-groups --bootstrap HOST[:PORT]\n"
      "Carries DNS-SD services between LAN islands through a DHT.\n\n";
  for (const Flag& f : flags()) {
    std::string left = "  ";
    left += f.shortName ? std::string{'-', f.shortName} + ", " : std::string("    ");
    left += "--" + std::string(f.name);
    if (f.takesValue)
      left += " " + std::string(f.argName);
    if (left.size() < 30) {
      left.resize(30, ' ');
    } else {
      left += "\n" + std::string(30, ' ');
    }
    // Wrap the description at 79 columns, indented under itself.
    std::string line;
    std::string_view help = f.help;
    while (!help.empty()) {
      auto space = help.find(' ');
      std::string_view word = help.substr(0, space);
      if (!line.empty() && 30 + line.size() + 1 + word.size() > 79) {
        left += line + "\n" + std::string(30, ' ');
        line.clear();
      }
      if (!line.empty())
        line += ' ';
      line += word;
      help = space == std::string_view::npos ? std::string_view() : help.substr(space + 1);
    }
    text += left + line + "\n";
    if (!f.alias.empty())
      text += std::string(30, ' ') + "(also --" + std::string(f.alias) + ")\n";
  }
  text +=
      "\nExamples:\n"
      "  z2z --export _daap._tcp --key columbia\n"
      "  z2z --import --key columbia --bootstrap 198.19.0.1\n"
      "  z2z --export _ipp._tcp --import --key columbia --gateway http://198.19.0.1:5851/\n"
      "  z2z --export _ipp._tcp --import --group lab --bootstrap 198.19.0.1\n"
      "\nExit status: 0 on a clean stop, 1 on a failed start, 2 on bad arguments.\n";
  return text;
}

}  // namespace z2z::config
