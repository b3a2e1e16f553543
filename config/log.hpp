// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace z2z::log {

/// syslog(3) severities, most severe first.
enum class Level { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

/// Parses "error", "warning", "notice", "info" or "debug".
bool parseLevel(std::string_view text, Level& out);

/// Sets the most verbose level that is written. Any thread.
void setLevel(Level level);
bool enabled(Level level);

/// Sends lines to syslog (ident "z2z", facility daemon) instead of stderr. Call before threads
/// start.
void useSyslog(bool on);

/// Messages are cut at this many bytes (with the full length said).
inline constexpr std::size_t kMaxMessage = 2048;

/// `message` as it is written: newlines as "; ", other control bytes as \xHH, at most kMaxMessage
/// bytes of it. Messages carry names and values from the network.
std::string oneLine(std::string_view message);

/// Writes one line (oneLine) tagged with the module that speaks. Any thread.
void write(Level level, std::string_view tag, std::string_view message);

template <typename... Args>
void emit(Level level, std::string_view tag, const Args&... args) {
  if (!enabled(level))
    return;
  std::ostringstream out;
  (out << ... << args);
  write(level, tag, out.str());
}

template <typename... Args>
void error(std::string_view tag, const Args&... args) {
  emit(Level::Error, tag, args...);
}
template <typename... Args>
void warning(std::string_view tag, const Args&... args) {
  emit(Level::Warning, tag, args...);
}
template <typename... Args>
void notice(std::string_view tag, const Args&... args) {
  emit(Level::Notice, tag, args...);
}
template <typename... Args>
void info(std::string_view tag, const Args&... args) {
  emit(Level::Info, tag, args...);
}
template <typename... Args>
void debug(std::string_view tag, const Args&... args) {
  emit(Level::Debug, tag, args...);
}

}  // namespace z2z::log
