// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/config/daemon_config.hpp"

#include <doctest/doctest.h>

#include "source_file.hpp"

using namespace z2z::config;

namespace {

const char* kGood = R"(# a router
[server]
dht-port = 5000
bootstrap = gw.example.org, [2001:db8::7]:4333 , 198.19.0.1
log-level = info
syslog = yes

[export home]
types = _daap._tcp,_ipp._tcp
key = columbia
interfaces = br-lan
ttl = 60

; imports
[import home]
key = columbia
)";

}  // namespace

TEST_CASE("a good file") {
  auto c = parseConfig(kGood, "z2zd.conf");
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c->server.dhtPort == 5000);
  REQUIRE(c->server.bootstrap.size() == 3);
  CHECK(c->server.bootstrap[1] == Endpoint{"2001:db8::7", 4333});
  CHECK(c->server.logLevel == z2z::log::Level::Info);
  CHECK(c->server.syslog);
  CHECK(c->server.stateDirectory == "/var/lib/z2z");  // default
  CHECK(c->server.controlSocket == "/run/z2z/z2zd.sock");
  REQUIRE(c->exports.size() == 1);
  CHECK(c->exports[0].name == "home");
  CHECK(c->exports[0].types == std::vector<std::string>{"_daap._tcp", "_ipp._tcp"});
  CHECK(c->exports[0].interfaces == std::vector<std::string>{"br-lan"});
  CHECK(c->exports[0].ttl == std::chrono::seconds(60));
  REQUIRE(c->imports.size() == 1);
  CHECK(c->imports[0].key == "columbia");
  CHECK(c->imports[0].interfaces.empty());
}

TEST_CASE("defaults come from the schema") {
  auto c = parseConfig("", "empty.conf");
  REQUIRE(c.ok());
  CHECK(c->server.dhtPort == 4222);
  CHECK(c->server.logLevel == z2z::log::Level::Notice);
  CHECK_FALSE(c->server.syslog);
  auto e = parseConfig("[export a]\ntypes=_x._tcp\nkey=k\n", "f");
  REQUIRE(e.ok());
  CHECK(e->exports[0].ttl == std::chrono::seconds(120));
}

TEST_CASE("every class of error, all reported with file and line") {
  const char* bad = R"([server]
dht-prot = 4222
dht-port = 99999
syslog = maybe
log-level = loud
control-socket = relative/path
bootstrap = host:0
dht-port = 1
oops
[server]
[exprot x]
types = _a._tcp
[export]
[export two]
types = daap
ttl = 1
[export three]
types = _a._tcp
key = k
[export four]
types = _a._tcp
key = k
[import i]
interfaces = this-name-is-far-too-long
[import i]
[server
)";
  auto c = parseConfig(bad, "/etc/z2z/z2zd.conf");
  REQUIRE_FALSE(c.ok());
  const std::string& e = c.error();
  INFO(e);
  CHECK(e.find(
            "/etc/z2z/z2zd.conf:2: unknown key 'dht-prot' in [server]; did you mean 'dht-port'?") !=
        std::string::npos);
  CHECK(e.find(":3: dht-port: '99999' is not a port number") != std::string::npos);
  CHECK(e.find(":4: syslog: 'maybe' is not yes or no") != std::string::npos);
  CHECK(e.find(":5: log-level: 'loud'") != std::string::npos);
  CHECK(e.find(":6: control-socket: 'relative/path' is not an absolute path") != std::string::npos);
  CHECK(e.find(":7: bootstrap: 'host:0' has a bad port") != std::string::npos);
  CHECK(e.find(":8: 'dht-port' is set twice") != std::string::npos);
  CHECK(e.find(":9: expected 'key = value' or '[section]'") != std::string::npos);
  CHECK(e.find(":10: [server] appears twice") != std::string::npos);
  CHECK(e.find(":11: unknown section [exprot x]; did you mean 'export'?") != std::string::npos);
  CHECK(e.find(":12:") == std::string::npos);  // keys under a bad header are not reported again
  CHECK(e.find(":13: [export NAME] needs a name") != std::string::npos);
  CHECK(e.find(":15: types: 'daap' is not a DNS-SD service type") != std::string::npos);
  CHECK(e.find(":16: ttl: '1' is not a number of seconds") != std::string::npos);
  CHECK(e.find(":14: [export] lacks the required key 'key'") != std::string::npos);
  CHECK(e.find(":20: type _a._tcp is exported under key 'k' by [export three] already") !=
        std::string::npos);
  CHECK(e.find(":24: interfaces: 'this-name-is-far-too-long' is not an interface name") !=
        std::string::npos);
  CHECK(e.find(":23: [import] lacks the required key 'key'") != std::string::npos);
  CHECK(e.find(":25: [import i] appears twice") != std::string::npos);
  CHECK(e.find(":26: a section header must end with ']'") != std::string::npos);
  CHECK(e.find(":1:") == std::string::npos);
}

TEST_CASE("limits") {
  std::string longLine = "[server]\nbootstrap = " + std::string(5000, 'a') + "\n";
  auto c = parseConfig(longLine, "f");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().find("f:2: line longer than 4096 bytes") != std::string::npos);
  CHECK(parseConfig("[server]\ndht-port = 1\r\n", "crlf").ok());
}

TEST_CASE("command-line overrides of [server] keys") {
  auto c = parseConfig(kGood, "f");
  REQUIRE(c.ok());
  CHECK(setServerKey(*c, "dht-port", "6000").ok());
  CHECK(c->server.dhtPort == 6000);
  auto bad = setServerKey(*c, "dht-port", "x");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("dht-port") != std::string::npos);
  CHECK_FALSE(setServerKey(*c, "types", "_a._tcp").ok());
}

TEST_CASE("the dump parses back to the same configuration") {
  auto c = parseConfig(kGood, "f");
  REQUIRE(c.ok());
  auto again = parseConfig(dumpConfig(*c), "dump");
  REQUIRE_MESSAGE(again.ok(), again.error());
  CHECK(again->server == c->server);
  REQUIRE(again->exports.size() == 1);
  CHECK(again->exports[0].sameAs(c->exports[0]));
  CHECK(again->imports[0].sameAs(c->imports[0]));
}

TEST_CASE("contrib/z2zd.conf is the generated example and parses") {
  std::string shipped = sourceFile("contrib/z2zd.conf");
  CHECK(shipped == exampleConfig());
  auto c = parseConfig(shipped, "contrib/z2zd.conf");
  REQUIRE_MESSAGE(c.ok(), c.error());
  for (const KeyInfo& k : schema()) {
    CAPTURE(k.key);
    CHECK(shipped.find("#" + std::string(k.key) + " =") != std::string::npos);
  }
}

TEST_CASE("z2zd.conf.5 documents every key with its default") {
  std::string page = sourceFile("man/z2zd.conf.5");
  REQUIRE_FALSE(page.empty());
  for (const KeyInfo& k : schema()) {
    std::string section = "[" + std::string(k.section) + (k.section == "server" ? "]" : " NAME]");
    auto at = page.find(".SS " + section);
    CAPTURE(k.key);
    REQUIRE(at != std::string::npos);
    std::string key;
    for (char ch : k.key)
      key += ch == '-' ? std::string("\\-") : std::string(1, ch);
    auto entry = page.find(".TP\n.B " + key + "\n", at);
    REQUIRE(entry != std::string::npos);
    auto next = page.find(".TP", entry + 1);
    std::string body =
        page.substr(entry, next == std::string::npos ? std::string::npos : next - entry);
    std::string def =
        k.defaultValue.empty() ? (k.required ? "none" : "empty") : std::string(k.defaultValue);
    CHECK(body.find("Default: " + def + ".") != std::string::npos);
  }
}

TEST_CASE("dht-network: the main overlay's network id") {
  auto c = parseConfig("[server]\n", "f");
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c->server.dhtNetwork == 0);  // the public network's, as before the key existed
  c = parseConfig("[server]\ndht-network = 4294967295\n", "f");
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c->server.dhtNetwork == 4294967295U);
  CHECK(dumpConfig(*c).find("dht-network = 4294967295\n") != std::string::npos);
  CHECK(parseConfig(dumpConfig(*c), "dump")->server.dhtNetwork == 4294967295U);
  for (const char* bad : {"4294967296", "-1", "x", ""}) {
    CAPTURE(bad);
    auto b = parseConfig("[server]\ndht-network = " + std::string(bad) + "\n", "f");
    REQUIRE_FALSE(b.ok());
    CHECK(b.error().find("f:2: dht-network:") != std::string::npos);
  }
  // A node cannot change overlays under way: a reload keeps the old id (and says so).
  for (const KeyInfo& k : schema()) {
    if (k.key == "dht-network") {
      CHECK_FALSE(k.reloadable);
      CHECK(k.defaultValue == "0");
    }
  }
}

TEST_CASE("the rendezvous refuses the main overlay's network id") {
  // Both at their default, 0: the rendezvous would be the main overlay's own network.
  auto c = parseConfig("[server]\nrendezvous = 198.19.0.9\n", "f");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().find("f:2: [server] rendezvous-network 0 is also the main overlay's network id "
                       "(dht-network 0)") != std::string::npos);
  // The line of the key that makes them equal.
  c = parseConfig("[server]\nrendezvous = 198.19.0.9\ndht-network = 7\nrendezvous-network = 7\n",
                  "f");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().find("f:4: [server] rendezvous-network 7") != std::string::npos);
  c = parseConfig("[server]\ndht-network = 7\nrendezvous = 198.19.0.9\n", "f");
  REQUIRE_MESSAGE(c.ok(), c.error());
  c = parseConfig("[server]\nrendezvous = 198.19.0.9\nrendezvous-network = 77\n", "f");
  REQUIRE_MESSAGE(c.ok(), c.error());
  // Without a rendezvous the ids may be anything.
  CHECK(parseConfig("[server]\ndht-network = 7\nrendezvous-network = 7\n", "f").ok());

  // Command-line overrides count: they apply before the check, and are named.
  ServerOverrides fix{{"dht-network", "5"}};
  CHECK(parseConfig("[server]\nrendezvous = 198.19.0.9\n", "f", fix).ok());
  ServerOverrides clash{{"rendezvous-network", "7"}};
  c = parseConfig("[server]\ndht-network = 7\nrendezvous = 198.19.0.9\nrendezvous-network = 77\n",
                  "f", clash);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().find("command line: [server] rendezvous-network 7 is also the main overlay's "
                       "network id (dht-network 7)") != std::string::npos);
  ServerOverrides bad{{"dht-network", "x"}};
  c = parseConfig("[server]\n", "f", bad);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().find("command line: --dht-network: 'x' is not a number") != std::string::npos);
}

TEST_CASE("the command line becomes sections") {
  GatewayOptions o;
  o.exportTypes = {"_daap._tcp"};
  o.import = true;
  o.key = "columbia";
  DaemonConfig c = fromCommandLine(o);
  REQUIRE(c.exports.size() == 1);
  REQUIRE(c.imports.size() == 1);
  CHECK(c.exports[0].key == "columbia");
  CHECK(c.server.stateDirectory.empty());
}

TEST_CASE("gateway-ca goes with an https:// gateway") {
  auto c = parseConfig(
      "[server]\ngateway = https://198.19.0.1:5851/\ngateway-ca = /etc/z2z/gateway-ca.pem\n", "f");
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c->server.gatewayCa == "/etc/z2z/gateway-ca.pem");
  c = parseConfig(
      "[server]\ngateway = http://198.19.0.1:5851/\ngateway-ca = /etc/z2z/gateway-ca.pem\n", "f");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().find("f:1: [server] gateway-ca needs an https:// gateway") != std::string::npos);
}

TEST_CASE("rendezvous keys") {
  auto c = parseConfig("[server]\n", "f");
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c->server.rendezvous.empty());
  CHECK(c->server.rendezvousName == "main");
  CHECK(c->server.rendezvousPort == 0);
  CHECK(c->server.rendezvousNetwork == 0);
  c = parseConfig(
      "[server]\nrendezvous = 198.19.0.9:4700, [fd00:ff::9]:4701\nrendezvous-name = our sites\n"
      "rendezvous-port = 4223\nrendezvous-network = 7\n",
      "f");
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c->server.rendezvous == std::vector<Endpoint>{{"198.19.0.9", 4700}, {"fd00:ff::9", 4701}});
  CHECK(c->server.rendezvousName == "our sites");
  CHECK(c->server.rendezvousPort == 4223);
  CHECK(c->server.rendezvousNetwork == 7);
  CHECK(dumpConfig(*c).find("rendezvous = 198.19.0.9:4700, [fd00:ff::9]:4701\n") !=
        std::string::npos);

  auto bad = parseConfig(
      "[server]\nrendezvous = [fd00::1\nrendezvous-name =\nrendezvous-port = x\n"
      "rendezvous-network = 4294967296\n",
      "f");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("f:2: rendezvous:") != std::string::npos);
  CHECK(bad.error().find("f:3: rendezvous-name:") != std::string::npos);
  CHECK(bad.error().find("f:4: rendezvous-port:") != std::string::npos);
  CHECK(bad.error().find("f:5: rendezvous-network:") != std::string::npos);

  auto both =
      parseConfig("[server]\ngateway = http://198.19.0.1:5851/\nrendezvous = 198.19.0.9\n", "f");
  REQUIRE_FALSE(both.ok());
  CHECK(both.error().find("gateway and rendezvous exclude each other") != std::string::npos);
}
