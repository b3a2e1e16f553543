// SPDX-License-Identifier: GPL-3.0-or-later
// z2z: the command-line gateway. Everything but argument handling lives in the libraries.
#include <chrono>
#include <cstdio>
#include <string_view>
#include <thread>
#include <vector>

#include "z2z/bridge/control.hpp"
#include "z2z/bridge/group_session.hpp"
#include "z2z/bridge/run.hpp"
#include "z2z/config/daemon_config.hpp"
#include "z2z/config/log.hpp"
#include "z2z/config/options.hpp"
#include "z2z/dht/overlay.hpp"

namespace {

// --list-groups: a one-shot client of the main overlay.
int listGroups(const z2z::config::GatewayOptions& options) {
  auto overlay = z2z::dht::startOpendht(
      z2z::dht::NodeOptions{0, options.dhtBind, options.dhtNetwork, options.bootstrap});
  for (int i = 0; i < 30 && overlay->stats().goodNodes == 0 && !options.bootstrap.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the bootstrap answering
  }
  for (const std::string& line : z2z::bridge::listGroups(*overlay))
    std::printf("%s\n", line.c_str());
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
    case z2z::config::Action::Status: {
      auto reply = z2z::bridge::controlRequest(cl->options.controlSocket,
                                               cl->options.json ? "status json" : "status");
      if (!reply) {
        std::fprintf(stderr, "z2z: %s\n", reply.error().c_str());
        return 1;
      }
      std::fputs(reply->c_str(), stdout);
      return 0;
    }
    case z2z::config::Action::ListGroups:
      z2z::log::setLevel(cl->options.logLevel);
      try {
        return listGroups(cl->options);
      } catch (const std::exception& e) {
        z2z::log::error("main", e.what());
        return 1;
      }
    case z2z::config::Action::Run:
      break;
  }
  try {
    return z2z::bridge::runGateway(z2z::config::fromCommandLine(cl->options), {});
  } catch (const std::exception& e) {
    z2z::log::error("main", e.what());
    return 1;
  }
}
