// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <exception>
#include <string_view>
#include <type_traits>

#include "z2z/config/log.hpp"

namespace z2z {

/// Runs `f` at a callback boundary (Avahi, OpenDHT, xmlrpc-c, a timer): an exception must not
/// escape into C code or another library's thread, so it is logged once under `tag` and the
/// callback returns a default value instead.
template <typename F>
auto guarded(std::string_view tag, const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    log::error(tag, what, ": ", e.what());
  } catch (...) {
    log::error(tag, what, ": unknown exception");
  }
  if constexpr (!std::is_void_v<decltype(f())>)
    return decltype(f())();
}

}  // namespace z2z
