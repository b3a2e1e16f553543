// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "z2z/config/error.hpp"
#include "z2z/config/log.hpp"
#include "z2z/config/options.hpp"

namespace z2z::config {

inline constexpr std::string_view kDefaultConfigFile = "/etc/z2z/z2zd.conf";
/// sysexits.h EX_CONFIG: the exit status of z2zd for a bad configuration.
inline constexpr int kExitConfig = 78;

/// [server]: the process and its DHT node.
struct ServerConfig {
  std::uint16_t dhtPort = kDefaultDhtPort;
  std::string dhtBind;
  std::uint32_t dhtNetwork = 0;  ///< the main overlay's opendht network id
  std::vector<Endpoint> bootstrap;
  std::string stateDirectory;
  std::string identity;  ///< the identity key file; empty: identity.pem in the state directory
  std::string controlSocket;
  int priority = 0;
  std::string gateway;    ///< a classic OpenDHT gateway's URL instead of an embedded node
  std::string gatewayCa;  ///< PEM file of the CAs an https:// gateway is checked against
  std::chrono::seconds poll = kDefaultPoll;
  std::string xmlrpcListen;  ///< "[ADDRESS:]PORT" to serve the gateway API on; empty: none
  Endpoint xmlrpcEndpoint{"127.0.0.1", kDefaultXmlrpcPort};
  unsigned xmlrpcRate = kDefaultXmlrpcRate;
  /// Bootstrap nodes of the rendezvous overlay (for instance the public OpenDHT network);
  /// empty: no rendezvous.
  std::vector<Endpoint> rendezvous;
  std::string rendezvousName{kDefaultRendezvousName};
  std::uint16_t rendezvousPort = 0;     ///< UDP port of the rendezvous node; 0: any free one
  std::uint32_t rendezvousNetwork = 0;  ///< the rendezvous overlay's opendht network id
  log::Level logLevel = log::Level::Notice;
  bool syslog = false;
  bool operator==(const ServerConfig&) const = default;
};

/// [export NAME]: service types of the link stored under a key.
struct ExportSection {
  std::string name;
  std::vector<std::string> types;
  std::string key;
  std::vector<std::string> interfaces;
  std::chrono::seconds ttl = kDefaultTtl;
  int line = 0;  ///< where the section starts, for messages
  /// Equal in everything that matters to a running gateway (not the line).
  bool sameAs(const ExportSection& o) const {
    return name == o.name && types == o.types && key == o.key && interfaces == o.interfaces &&
           ttl == o.ttl;
  }
};

/// [import NAME]: services stored under a key, published on the link.
struct ImportSection {
  std::string name;
  std::string key;
  std::vector<std::string> interfaces;
  int line = 0;
  bool sameAs(const ImportSection& o) const {
    return name == o.name && key == o.key && interfaces == o.interfaces;
  }
};

/// [group NAME]: a group joined, in its own overlay (z2z-groups(7)).
struct GroupSection {
  std::string name;
  std::vector<std::string> types;  ///< exported into the group
  bool import = false;             ///< the group's services published on the link
  std::vector<std::string> interfaces;
  std::chrono::seconds ttl = kDefaultTtl;
  std::string secretFile;
  std::string description;
  std::vector<std::string> aliases;
  int line = 0;
  bool sameAs(const GroupSection& o) const {
    return name == o.name && types == o.types && import == o.import && interfaces == o.interfaces &&
           ttl == o.ttl && secretFile == o.secretFile && description == o.description &&
           aliases == o.aliases;
  }
};

/// The whole z2zd.conf.
struct DaemonConfig {
  ServerConfig server;
  std::vector<ExportSection> exports;
  std::vector<ImportSection> imports;
  std::vector<GroupSection> groups;
};

/// How one key is declared, once: the parser, `z2zd --check`, the example config, `--dump-config`
/// and the man page test all read this table.
struct KeyInfo {
  std::string_view section;  ///< "server", "export", "import" or "group"
  std::string_view key;
  std::string_view type;          ///< for humans: "port", "list of service types", ...
  std::string_view defaultValue;  ///< as written in the file; empty: no default
  bool required;
  bool reloadable;  ///< SIGHUP applies it without a restart
  std::string_view description;
};

/// Every key, in the order the example config and the man page list them.
const std::vector<KeyInfo>& schema();

/// [server] keys set on the command line (key without dashes, value as the file writes it).
using ServerOverrides = std::vector<std::pair<std::string, std::string>>;

/// Parses a configuration file's text. Reports every error, as "FILE:LINE: message".
/// Unknown sections and keys are errors, with the closest known key suggested. `overrides`
/// apply on top of the file before the checks that relate keys to each other; their errors
/// read "command line: --KEY: message".
Result<DaemonConfig> parseConfig(std::string_view text, std::string_view fileName,
                                 const ServerOverrides& overrides = {});

/// Reads and parses a file (at most 1 MiB).
Result<DaemonConfig> loadConfig(const std::string& path, const ServerOverrides& overrides = {});

/// Sets one [server] key as the file would (command-line overrides). Fails with a message that
/// names the key.
Status setServerKey(DaemonConfig& config, std::string_view key, std::string_view value);

/// A config file with every key commented out at its default (contrib/z2zd.conf).
std::string exampleConfig();

/// The effective configuration in config-file syntax; secrets are never printed.
std::string dumpConfig(const DaemonConfig& config);

/// The configuration the `z2z` command line describes: one [export cli] and/or [import cli].
DaemonConfig fromCommandLine(const GatewayOptions& options);

}  // namespace z2z::config
