// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "z2z/config/daemon_config.hpp"
#include "z2z/mdns/event_loop.hpp"

namespace z2z::bridge {

/// A running gateway process, for z2zd and the z2z command line alike: the embedded DHT node,
/// one Gateway per [export] and [import] section, and the control socket. Loop thread only.
class Daemon {
 public:
  /// Starts everything `config` describes. Throws z2z::Error if that fails (a taken port, an
  /// unknown interface, an unusable state directory). `fatal` is called when something cannot
  /// go on later (a group's wrong secret): the process should stop with a non-zero status.
  Daemon(mdns::EventLoop& loop, config::DaemonConfig config,
         std::function<void(const std::string& why)> fatal = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// Applies a new, already validated configuration. Sections that did not change keep running
  /// untouched; changed ones are withdrawn and started again; removed ones are withdrawn.
  /// [server] keys that cannot change at run time are kept, and the log says so.
  void reload(config::DaemonConfig next);

  /// Withdraws every export from the DHT and every import from the link, then calls `done`
  /// (after at most `wait`).
  void shutdown(std::chrono::milliseconds wait, std::function<void()> done);

  /// Human-readable status, or JSON.
  std::string status(bool json) const;
  /// One line for the service manager's STATUS=.
  std::string summary() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace z2z::bridge
