// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "z2z/config/error.hpp"
#include "z2z/mdns/event_loop.hpp"

namespace z2z::bridge {

/// The control socket: a UNIX stream socket on which each client sends one request line
/// ("status" or "status json") and reads one reply until the server closes. The socket is
/// created with mode 0660, so root and the daemon's group may ask. Loop thread only.
class ControlServer {
 public:
  using Handler = std::function<std::string(std::string_view request)>;
  /// Throws z2z::Error if the socket cannot be created. An existing socket file is replaced.
  ControlServer(mdns::EventLoop& loop, std::string path, Handler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Sends `request` to the control socket at `path` and returns the reply (2 s timeout).
Result<std::string> controlRequest(const std::string& path, std::string_view request);

}  // namespace z2z::bridge
