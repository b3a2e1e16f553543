// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "z2z/config/error.hpp"
#include "z2z/config/log.hpp"

namespace z2z::config {

inline constexpr std::uint16_t kDefaultDhtPort = 4222;
inline constexpr std::chrono::seconds kDefaultTtl{120};
inline constexpr std::chrono::seconds kMinTtl{5};
inline constexpr std::chrono::seconds kMaxTtl{86400};
inline constexpr std::size_t kMaxKeyLength = 255;
inline constexpr std::uint16_t kDefaultXmlrpcPort = 5851;
inline constexpr std::chrono::seconds kDefaultPoll{5};
inline constexpr unsigned kDefaultXmlrpcRate = 50;
inline constexpr std::string_view kDefaultRendezvousName = "main";

/// A host name or address literal with a UDP port: a DHT node to bootstrap from.
struct Endpoint {
  std::string host;
  std::uint16_t port = kDefaultDhtPort;
  bool operator==(const Endpoint&) const = default;
};

/// Parses HOST, HOST:PORT, IPV6, [IPV6] or [IPV6]:PORT.
Result<Endpoint> parseEndpoint(std::string_view text, std::uint16_t defaultPort = kDefaultDhtPort);

/// True for a DNS-SD service type of the form _name._tcp or _name._udp (RFC 6763 section 7).
bool isServiceType(std::string_view type);

/// One named group the gateway joins (z2z-groups(7)); the process's --export and --import apply
/// to it as to --key.
struct GroupOptions {
  std::string name;
  std::string secretFile;            ///< private group: its shared secret; empty: public
  std::string description;           ///< written into the group-info when this gateway creates it
  std::vector<std::string> aliases;  ///< alias names bound to the group
  bool operator==(const GroupOptions&) const = default;
};

inline constexpr std::string_view kDefaultStateDir = "/var/lib/z2z";

/// True for a group or alias name: 1 to 63 bytes of letters, digits, '-', '_' and '.'.
bool isGroupName(std::string_view name);

/// Everything one gateway process does, from the command line (and, later, the config file).
struct GatewayOptions {
  std::vector<std::string> exportTypes;  ///< service types browsed and stored under `key`
  bool import = false;                   ///< publish what is stored under `key` on the link
  std::string key;                       ///< the DHT key name shared by exporters and importers
  std::vector<Endpoint> bootstrap;       ///< DHT nodes to join; none: start a new overlay
  std::uint16_t dhtPort = kDefaultDhtPort;
  std::string dhtBind;                     ///< address to bind the DHT node to; empty: all
  std::uint32_t dhtNetwork = 0;            ///< the main overlay's opendht network id
  std::chrono::seconds ttl = kDefaultTtl;  ///< lease of exported records
  std::vector<std::string> interfaces;     ///< link interfaces to browse and publish on; empty: all
  log::Level logLevel = log::Level::Notice;
  bool syslog = false;
  std::string controlSocket;  ///< serve status here; --status: ask here
  std::string stateDir;       ///< identity key, node cache; empty: none kept (groups: /var/lib/z2z)
  int priority = 0;           ///< leader election on the link: higher wins
  bool json = false;          ///< --status prints JSON
  std::string gatewayUrl;     ///< use this OpenDHT gateway (XML-RPC) instead of a node
  std::string gatewayCa;      ///< PEM file of the CAs an https:// gateway is checked against
  std::chrono::seconds poll = kDefaultPoll;  ///< how often --gateway imports are read
  bool xmlrpcServe = false;                  ///< serve the gateway API in front of the node
  Endpoint xmlrpcListen{"127.0.0.1", kDefaultXmlrpcPort};
  unsigned xmlrpcRate = kDefaultXmlrpcRate;  ///< requests a second per client; 0: no limit
  std::vector<GroupOptions> groups;          ///< groups joined, each in its own overlay
  std::vector<Endpoint> rendezvous;  ///< the rendezvous overlay's bootstrap nodes; empty: none
  std::string rendezvousName{kDefaultRendezvousName};  ///< leaders meet under this name there
  std::uint16_t rendezvousPort = 0;                    ///< the rendezvous node's UDP port
  std::uint32_t rendezvousNetwork = 0;                 ///< its opendht network id
};

inline constexpr std::string_view kDefaultControlSocket = "/run/z2z/z2zd.sock";

enum class Action { Run, Help, Version, Status, ListGroups };

struct CommandLine {
  Action action = Action::Run;
  GatewayOptions options;
};

/// Parses the arguments of `z2z` (without the program name). A failure names the offending
/// argument; the caller prints it with a hint to --help and exits with status 2.
Result<CommandLine> parseCommandLine(std::span<const std::string_view> args);

/// The text `z2z --help` prints.
std::string usage();

/// Every long option name, aliases included (for the test that the man page documents them).
std::vector<std::string> flagNames();

/// A rendezvous name: 1 to 255 bytes, no control characters.
bool isRendezvousName(std::string_view name);

/// Parses an opendht network id: a decimal number from 0 to 4294967295.
Result<std::uint32_t> parseNetworkId(std::string_view text);

}  // namespace z2z::config
