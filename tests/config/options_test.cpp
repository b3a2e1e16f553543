// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/config/options.hpp"

#include "z2z/config/daemon_config.hpp"

#include <doctest/doctest.h>

#include <string_view>
#include <vector>

using namespace z2z::config;

namespace {
z2z::Result<CommandLine> parse(std::vector<std::string_view> args) {
  return parseCommandLine(args);
}
}  // namespace

TEST_CASE("export and import flags with their original z2z spellings") {
  auto cl = parse({"--exportopendht", "_daap._tcp", "--key", "columbia"});
  REQUIRE(cl.ok());
  CHECK(cl->options.exportTypes == std::vector<std::string>{"_daap._tcp"});
  CHECK(cl->options.key == "columbia");
  CHECK_FALSE(cl->options.import);

  cl = parse({"--importopendht", "--key=columbia", "--bootstrap", "198.19.0.1"});
  REQUIRE(cl.ok());
  CHECK(cl->options.import);
  REQUIRE(cl->options.bootstrap.size() == 1);
  CHECK(cl->options.bootstrap[0] == Endpoint{"198.19.0.1", 4222});
}

TEST_CASE("several export types, comma lists and repeats") {
  auto cl = parse({"-e", "_daap._tcp,_ipp._tcp", "--export", "_ssh._tcp", "-k", "k", "-i"});
  REQUIRE(cl.ok());
  CHECK(cl->options.exportTypes ==
        std::vector<std::string>{"_daap._tcp", "_ipp._tcp", "_ssh._tcp"});
  CHECK(cl->options.import);
}

TEST_CASE("defaults") {
  auto cl = parse({"--import", "--key", "k"});
  REQUIRE(cl.ok());
  CHECK(cl->options.dhtPort == 4222);
  CHECK(cl->options.ttl == std::chrono::seconds(120));
  CHECK(cl->options.interfaces.empty());
  CHECK(cl->options.bootstrap.empty());
}

TEST_CASE("every value flag") {
  auto cl = parse(
      {"--import", "--key",          "k",          "--dht-port", "5000",        "--ttl",
       "30",       "--interface",    "br-lan",     "-I",         "wlan0",       "--log-level",
       "debug",    "--syslog",       "--dht-bind", "198.19.0.1", "--bootstrap", "[fd00::1]:4333",
       "-b",       "gw.example:4444"});
  REQUIRE(cl.ok());
  const GatewayOptions& o = cl->options;
  CHECK(o.dhtPort == 5000);
  CHECK(o.ttl == std::chrono::seconds(30));
  CHECK(o.interfaces == std::vector<std::string>{"br-lan", "wlan0"});
  CHECK(o.logLevel == z2z::log::Level::Debug);
  CHECK(o.syslog);
  CHECK(o.dhtBind == "198.19.0.1");
  REQUIRE(o.bootstrap.size() == 2);
  CHECK(o.bootstrap[0] == Endpoint{"fd00::1", 4333});
  CHECK(o.bootstrap[1] == Endpoint{"gw.example", 4444});
}

TEST_CASE("help and version need nothing else") {
  CHECK(parse({"--help"})->action == Action::Help);
  CHECK(parse({"-V"})->action == Action::Version);
  CHECK(usage().find("--exportopendht") != std::string::npos);
}

TEST_CASE("bad arguments are named in the message") {
  struct Case {
    std::vector<std::string_view> args;
    std::string_view mentions;
  };
  std::vector<Case> cases = {
      {{"--frobnicate"}, "--frobnicate"},
      {{"--export", "daap", "--key", "k"}, "daap"},
      {{"--export", "_daap._sctp", "--key", "k"}, "_daap._sctp"},
      {{"--import"}, "--key"},
      {{"--key", "k"}, "nothing to do"},
      {{"--import", "--key"}, "needs a value"},
      {{"--import", "--key", "k", "--ttl", "1"}, "--ttl"},
      {{"--import", "--key", "k", "--ttl", "12x"}, "12x"},
      {{"--import", "--key", "k", "--dht-port", "70000"}, "70000"},
      {{"--import", "--key", "k", "--bootstrap", "host:0"}, "bad port"},
      {{"--import", "--key", "k", "--bootstrap", "[fd00::1"}, "]"},
      {{"--import", "--key", "k", "--log-level", "loud"}, "loud"},
      {{"--import=yes", "--key", "k"}, "takes no value"},
      {{"--import", "--key", "k", "stray"}, "stray"},
      {{"--import", "--key", ""}, "--key"},
  };
  for (const Case& c : cases) {
    auto cl = parseCommandLine(c.args);
    CAPTURE(c.mentions);
    REQUIRE_FALSE(cl.ok());
    CHECK(cl.error().find(c.mentions) != std::string::npos);
  }
}

TEST_CASE("service types") {
  CHECK(isServiceType("_daap._tcp"));
  CHECK(isServiceType("_ipp._tcp"));
  CHECK(isServiceType("_z2z._udp"));
  CHECK(isServiceType("_x-y1._tcp"));
  CHECK_FALSE(isServiceType("daap._tcp"));
  CHECK_FALSE(isServiceType("_daap"));
  CHECK_FALSE(isServiceType("_._tcp"));
  CHECK_FALSE(isServiceType("_123._tcp"));
  CHECK_FALSE(isServiceType("_-a._tcp"));
  CHECK_FALSE(isServiceType("_abcdefghijklmnop._tcp"));
  CHECK_FALSE(isServiceType("_daap._tcp.local"));
}

TEST_CASE("groups on the command line") {
  std::vector<std::string_view> args = {
      "--export", "_ipp._tcp",           "--import",          "--key",       "k",     "--group",
      "A",        "--group-secret-file", "/etc/z2z/a.secret", "--alias",     "a2",    "--group",
      "B",        "--group-description", "lab printers",      "--state-dir", "/tmp/s"};
  auto cl = parseCommandLine(args);
  REQUIRE_MESSAGE(cl.ok(), cl.error());
  const GatewayOptions& o = cl->options;
  REQUIRE(o.groups.size() == 2);
  CHECK(o.groups[0] == GroupOptions{"A", "/etc/z2z/a.secret", "", {"a2"}});
  CHECK(o.groups[1] == GroupOptions{"B", "", "lab printers", {}});
  CHECK(o.key == "k");
  CHECK(o.stateDir == "/tmp/s");
  std::vector<std::string_view> groupOnly = {"--import", "--group", "A"};
  CHECK(parseCommandLine(groupOnly).ok());
  std::vector<std::string_view> list = {"--list-groups", "--bootstrap", "198.19.0.1"};
  auto l = parseCommandLine(list);
  REQUIRE(l.ok());
  CHECK(l->action == Action::ListGroups);
  CHECK(parseCommandLine(std::vector<std::string_view>{"--import"}).error().find("--group") !=
        std::string::npos);

  struct Case {
    std::vector<std::string_view> args;
    std::string_view mentions;
  };
  std::vector<Case> cases = {
      {{"--import", "--group", "a b"}, "not a group name"},
      {{"--import", "--group", "A", "--group", "A"}, "twice"},
      {{"--import", "--group-secret-file", "f", "--group", "A"}, "must follow a --group"},
      {{"--import", "--alias", "x", "--group", "A"}, "must follow a --group"},
      {{"--import", "--group-description", "x", "--group", "A"}, "must follow a --group"},
      {{"--import", "--group", "A", "--group-description", "lab\tprinters"}, "printable UTF-8"},
      {{"--import", "--group", "A", "--group-description", "caf\xe9"}, "printable UTF-8"},
      {{"--import", "--group", "A", "--alias", "A"}, "same as the group"},
      {{"--import", "--group", "A", "--alias", "x/y"}, "not a group name"},
      {{"--import", "--group", "A", "--state-dir", ""}, "--state-dir"},
  };
  for (const Case& c : cases) {
    auto r = parseCommandLine(c.args);
    CAPTURE(c.mentions);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find(c.mentions) != std::string::npos);
  }
}

TEST_CASE("--gateway-ca goes with an https:// --gateway") {
  auto cl = parse({"--import", "--key", "k", "--gateway", "https://198.19.0.1:5851/",
                   "--gateway-ca", "/etc/z2z/gateway-ca.pem"});
  REQUIRE(cl.ok());
  CHECK(cl->options.gatewayCa == "/etc/z2z/gateway-ca.pem");
  auto bad = parse({"--import", "--key", "k", "--gateway", "http://198.19.0.1:5851/",
                    "--gateway-ca", "/etc/z2z/gateway-ca.pem"});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("--gateway-ca needs an https:// --gateway") != std::string::npos);
  CHECK_FALSE(parse({"--import", "--key", "k", "--gateway-ca", "/etc/z2z/gateway-ca.pem"}).ok());
}

TEST_CASE("--dht-network") {
  auto cl = parse({"--import", "--key", "k"});
  REQUIRE(cl.ok());
  CHECK(cl->options.dhtNetwork == 0);
  CHECK(fromCommandLine(cl->options).server.dhtNetwork == 0);
  cl = parse({"--import", "--key", "k", "--dht-network", "4294967295"});
  REQUIRE_MESSAGE(cl.ok(), cl.error());
  CHECK(cl->options.dhtNetwork == 4294967295U);
  CHECK(fromCommandLine(cl->options).server.dhtNetwork == 4294967295U);
  for (std::string_view bad : {"4294967296", "-1", "x", ""}) {
    auto r = parse({"--import", "--key", "k", "--dht-network", bad});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("--dht-network:") != std::string::npos);
  }
}

TEST_CASE("the rendezvous refuses the main overlay's network id") {
  auto r = parse({"--import", "--key", "k", "--rendezvous", "198.19.0.9"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("--rendezvous-network 0 is also the main overlay's network id "
                       "(--dht-network 0)") != std::string::npos);
  r = parse({"--import", "--key", "k", "--rendezvous", "198.19.0.9", "--dht-network", "7",
             "--rendezvous-network", "7"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("--rendezvous-network 7") != std::string::npos);
  CHECK(parse({"--import", "--key", "k", "--rendezvous", "198.19.0.9", "--dht-network", "7"}).ok());
  CHECK(
      parse({"--import", "--key", "k", "--rendezvous", "198.19.0.9", "--rendezvous-network", "77"})
          .ok());
  CHECK(parse({"--import", "--key", "k", "--dht-network", "7", "--rendezvous-network", "7"}).ok());
}

TEST_CASE("rendezvous flags") {
  auto cl = parse({"--import", "--key", "k"});
  REQUIRE(cl.ok());
  CHECK(cl->options.rendezvous.empty());
  CHECK(cl->options.rendezvousName == "main");
  CHECK(cl->options.rendezvousPort == 0);
  CHECK(cl->options.rendezvousNetwork == 0);
  cl = parse({"--import", "--key", "k", "--rendezvous", "198.19.0.9:4700", "--rendezvous",
              "[fd00:ff::9]", "--rendezvous-name", "our sites", "--rendezvous-port", "4223",
              "--rendezvous-network", "4294967295"});
  REQUIRE_MESSAGE(cl.ok(), cl.error());
  REQUIRE(cl->options.rendezvous.size() == 2);
  CHECK(cl->options.rendezvous[0] == Endpoint{"198.19.0.9", 4700});
  CHECK(cl->options.rendezvous[1] == Endpoint{"fd00:ff::9", 4222});
  CHECK(cl->options.rendezvousName == "our sites");
  CHECK(cl->options.rendezvousPort == 4223);
  CHECK(cl->options.rendezvousNetwork == 4294967295U);
  auto c = fromCommandLine(cl->options);
  CHECK(c.server.rendezvous == cl->options.rendezvous);
  CHECK(c.server.rendezvousName == "our sites");
  CHECK(c.server.rendezvousPort == 4223);
  CHECK(c.server.rendezvousNetwork == 4294967295U);

  for (auto bad : std::vector<std::vector<std::string_view>>{
           {"--import", "--key", "k", "--rendezvous", "[fd00::1"},
           {"--import", "--key", "k", "--rendezvous-name", ""},
           {"--import", "--key", "k", "--rendezvous-name", "a\nb"},
           {"--import", "--key", "k", "--rendezvous-port", "65536"},
           {"--import", "--key", "k", "--rendezvous-network", "4294967296"},
           {"--import", "--key", "k", "--rendezvous-network", "-1"},
           {"--import", "--key", "k", "--rendezvous", "198.19.0.9", "--gateway",
            "http://198.19.0.1:5851/"}}) {
    auto r = parse(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("rendezvous") != std::string::npos);
  }
}
