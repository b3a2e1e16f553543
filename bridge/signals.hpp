// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <functional>
#include <memory>

#include "z2z/mdns/event_loop.hpp"

namespace z2z::bridge {

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and so in every thread started
/// after it) and ignores SIGPIPE. Call first thing in main, before any library starts a thread.
void blockSignals();

/// Delivers the blocked signals through a signalfd watched by the loop.
class SignalWatch {
 public:
  /// Throws z2z::Error if the signalfd cannot be created.
  SignalWatch(mdns::EventLoop& loop, std::function<void(int signal)> handler);
  ~SignalWatch();

 private:
  int fd_ = -1;
  std::function<void(int)> handler_;
  std::unique_ptr<mdns::EventLoop::Watch> watch_;
};

}  // namespace z2z::bridge
