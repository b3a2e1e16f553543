// SPDX-License-Identifier: GPL-3.0-or-later
// z2z: the command-line gateway. Everything but argument handling lives in the libraries.
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>
#include <optional>
#include <string_view>
#include <vector>

#include "z2z/bridge/gateway.hpp"
#include "z2z/bridge/group_session.hpp"
#include "z2z/bridge/signals.hpp"
#include "z2z/config/error.hpp"
#include "z2z/config/log.hpp"
#include "z2z/config/options.hpp"
#include "z2z/dht/overlay.hpp"
#include "z2z/mdns/event_loop.hpp"

namespace {

constexpr std::chrono::milliseconds kWithdrawWait{1500};

// The UDP port of the i-th group's overlay: the ports after --dht-port, or any if it is 0.
std::uint16_t groupPort(std::uint16_t mainPort, std::size_t i) {
  std::size_t p = mainPort == 0 ? 0 : mainPort + 1 + i;
  return p > 65535 ? 0 : static_cast<std::uint16_t>(p);
}

int run(const z2z::config::GatewayOptions& options) {
  z2z::bridge::blockSignals();
  z2z::mdns::EventLoop loop;
  // The DHT node first: its sockets must get low descriptor numbers (select() ceiling).
  auto overlay = z2z::dht::startOpendht(z2z::dht::NodeOptions{
      options.dhtPort, options.dhtBind, 0, options.bootstrap});
  std::unique_ptr<z2z::bridge::Gateway> gateway;
  if (!options.key.empty()) {
    gateway = std::make_unique<z2z::bridge::Gateway>(loop, *overlay, options);
  }
  int status = 0;
  bool stopping = false;
  std::function<void()> stop;
  std::optional<z2z::groups::Identity> identity;
  std::optional<z2z::bridge::GroupContext> context;
  std::vector<std::unique_ptr<z2z::bridge::GroupSession>> groups;
  if (!options.groups.empty()) {
    identity = z2z::groups::Identity::loadOrCreate(options.stateDir);
    context.emplace(z2z::bridge::GroupContext{loop, *overlay, *identity, options,
                                              z2z::bridge::advertiseAddress(options),
                                              [&](const std::string& why) {
                                                z2z::log::error("main", why);
                                                status = 1;
                                                loop.post([&] { stop(); });
                                              }});
    for (std::size_t i = 0; i < options.groups.size(); ++i) {
      groups.push_back(std::make_unique<z2z::bridge::GroupSession>(
          *context, options.groups[i], groupPort(options.dhtPort, i)));
    }
  }
  // Everything withdraws in parallel; the loop ends when the last one is done.
  std::size_t pending = 0;
  stop = [&] {
    if (stopping) return;
    stopping = true;
    pending = groups.size() + (gateway ? 1 : 0) + 1;
    auto one = [&] {
      if (--pending == 0) loop.quit();
    };
    if (gateway) gateway->shutdown(kWithdrawWait, one);
    for (auto& g : groups) g->shutdown(kWithdrawWait, one);
    one();
  };
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
    z2z::log::notice("main", "signal ", sig, ": withdrawing and stopping");
    stop();
  });
  loop.run();
  groups.clear();
  return status;
}

int listGroups(const z2z::config::GatewayOptions& options) {
  auto overlay = z2z::dht::startOpendht(z2z::dht::NodeOptions{
      0, options.dhtBind, 0, options.bootstrap});  // a one-shot client: any port
  // Give the bootstrap a moment to answer before the lookup.
  for (int i = 0; i < 30 && overlay->stats().goodNodes == 0 && !options.bootstrap.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const std::string& line : z2z::bridge::listGroups(*overlay)) {
    std::printf("%s\n", line.c_str());
  }
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
    case z2z::config::Action::ListGroups:
      break;
  }
  z2z::log::setLevel(cl->options.logLevel);
  z2z::log::useSyslog(cl->options.syslog);
  try {
    if (cl->action == z2z::config::Action::ListGroups) return listGroups(cl->options);
    return run(cl->options);
  } catch (const std::exception& e) {
    z2z::log::error("main", e.what());
    return 1;
  }
}
