// SPDX-License-Identifier: GPL-3.0-or-later
// z2z: the command-line gateway. Everything but argument handling lives in the libraries.
#include <csignal>
#include <cstdio>
#include <string_view>
#include <vector>

#include "z2z/bridge/gateway.hpp"
#include "z2z/bridge/signals.hpp"
#include "z2z/bridge/xmlrpc_server.hpp"
#include "z2z/config/error.hpp"
#include "z2z/config/log.hpp"
#include "z2z/config/options.hpp"
#include "z2z/dht/overlay.hpp"
#include "z2z/mdns/event_loop.hpp"

namespace {

constexpr std::chrono::milliseconds kWithdrawWait{1500};

int run(const z2z::config::GatewayOptions& options) {
  z2z::bridge::blockSignals();
  z2z::mdns::EventLoop loop;
  // The DHT node first: its sockets must get low descriptor numbers (select() ceiling).
  // With --gateway there is no node: a classic OpenDHT gateway's XML-RPC API stands in for it.
  std::unique_ptr<z2z::dht::Overlay> node;
  std::unique_ptr<z2z::dht::Overlay> overlay;
  std::unique_ptr<z2z::bridge::XmlrpcServer> server;
  if (options.gatewayUrl.empty()) {
    node = z2z::dht::startOpendht(
        z2z::dht::NodeOptions{options.dhtPort, options.dhtBind, 0, options.bootstrap});
    // Gateways see what --gateway clients wrote through a served API, reassembled.
    overlay = z2z::dht::withGatewayApiValues(*node);
    if (options.xmlrpcServe) {
      server = std::make_unique<z2z::bridge::XmlrpcServer>(
          *node, z2z::bridge::XmlrpcServerOptions{options.xmlrpcListen.host,
                                                  options.xmlrpcListen.port, options.xmlrpcRate});
    }
  } else {
    overlay = z2z::dht::startXmlrpcClient(z2z::dht::XmlrpcOptions{options.gatewayUrl, options.poll});
  }
  z2z::bridge::Gateway gateway(loop, *overlay, options);
  bool stopping = false;
  z2z::bridge::SignalWatch signals(loop, [&](int sig) {
    if (sig == SIGHUP) {
      z2z::log::notice("main", "SIGHUP: the command line has nothing to reload");
      return;
    }
    if (stopping) {
      z2z::log::warning("main", "second signal: stopping now");
      loop.quit();
      return;
    }
    stopping = true;
    z2z::log::notice("main", "signal ", sig, ": withdrawing and stopping");
    gateway.shutdown(kWithdrawWait, [&] { loop.quit(); });
  });
  loop.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  auto cl = z2z::config::parseCommandLine(args);
  if (!cl) {
    std::fprintf(stderr, "z2z: %s\nTry 'z2z --help' for more information.\n", cl.error().c_str());
    return 2;
  }
  switch (cl->action) {
    case z2z::config::Action::Help:
      std::fputs(z2z::config::usage().c_str(), stdout);
      return 0;
    case z2z::config::Action::Version:
      std::printf("z2z %s\n", Z2Z_VERSION);
      return 0;
    case z2z::config::Action::Run:
      break;
  }
  z2z::log::setLevel(cl->options.logLevel);
  z2z::log::useSyslog(cl->options.syslog);
  try {
    return run(cl->options);
  } catch (const std::exception& e) {
    z2z::log::error("main", e.what());
    return 1;
  }
}
