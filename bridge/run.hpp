// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <functional>

#include "z2z/config/daemon_config.hpp"
#include "z2z/config/error.hpp"

namespace z2z::bridge {

/// Where SIGHUP gets the new configuration from; empty: nothing to reload.
using ConfigSource = std::function<Result<config::DaemonConfig>()>;

/// The main loop of z2z and z2zd: blocks signals, starts a Daemon for `config`, tells the service
/// manager it is ready, and runs until SIGTERM or SIGINT, after which it withdraws everything
/// (at most 1.5 s) and returns 0. SIGHUP reloads from `source`; a configuration that does not
/// validate is refused and the running one kept. Throws z2z::Error if the start fails.
int runGateway(const config::DaemonConfig& config, const ConfigSource& source);

}  // namespace z2z::bridge
