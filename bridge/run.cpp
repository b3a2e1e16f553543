// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/run.hpp"

#include <csignal>

#include "z2z/bridge/daemon.hpp"
#include "z2z/bridge/notify.hpp"
#include "z2z/bridge/signals.hpp"
#include "z2z/config/log.hpp"
#include "z2z/mdns/event_loop.hpp"

namespace z2z::bridge {
namespace {

constexpr std::string_view kTag = "main";
constexpr std::chrono::milliseconds kWithdrawWait{1500};

}  // namespace

int runGateway(const config::DaemonConfig& config, const ConfigSource& source) {
  log::setLevel(config.server.logLevel);
  log::useSyslog(config.server.syslog);
  blockSignals();
  mdns::EventLoop loop;
  bool stopping = false;
  int status = 0;
  std::function<void()> stop;
  Daemon daemon(loop, config, [&](const std::string& why) {
    log::error(kTag, why);
    status = 1;
    loop.post([&] { stop(); });
  });
  stop = [&] {
    if (stopping)
      return;
    stopping = true;
    notifyServiceManager("STOPPING=1");
    daemon.shutdown(kWithdrawWait, [&] { loop.quit(); });
  };
  SignalWatch signals(loop, [&](int sig) {
    if (sig == SIGHUP) {
      if (!source) {
        log::notice(kTag, "SIGHUP: the command line has nothing to reload");
        return;
      }
      notifyServiceManager("RELOADING=1");
      auto next = source();
      if (next) {
        daemon.reload(std::move(*next));
      } else {
        log::error(kTag, "reload refused, keeping the running configuration:\n", next.error());
      }
      notifyServiceManager("READY=1\nSTATUS=" + daemon.summary());
      return;
    }
    if (stopping) {
      log::warning(kTag, "second signal: stopping now");
      loop.quit();
      return;
    }
    log::notice(kTag, "signal ", sig, ": withdrawing and stopping");
    stop();
  });
  notifyServiceManager("READY=1\nSTATUS=" + daemon.summary());
  loop.run();
  return status;
}

}  // namespace z2z::bridge
