// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/signals.hpp"

#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "z2z/config/error.hpp"

namespace z2z::bridge {
namespace {

sigset_t handledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void blockSignals() {
  sigset_t set = handledSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

SignalWatch::SignalWatch(mdns::EventLoop& loop, std::function<void(int)> handler)
    : handler_(std::move(handler)) {
  sigset_t set = handledSignals();
  fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd_ < 0)
    throw Error(std::string("signalfd: ") + std::strerror(errno));
  watch_ = loop.watchReadable(fd_, [this] {
    signalfd_siginfo info{};
    while (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      handler_(static_cast<int>(info.ssi_signo));
    }
  });
}

SignalWatch::~SignalWatch() {
  watch_.reset();
  ::close(fd_);
}

}  // namespace z2z::bridge
