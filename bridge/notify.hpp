// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <string_view>

namespace z2z::bridge {

/// Tells the service manager (systemd, Type=notify) something, e.g. "READY=1" or
/// "STATUS=...", through $NOTIFY_SOCKET. Does nothing when the variable is unset.
void notifyServiceManager(std::string_view state);

}  // namespace z2z::bridge
