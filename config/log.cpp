// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/config/log.hpp"

#include <syslog.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

namespace z2z::log {
namespace {

// The logger is process-wide by nature (stderr and syslog are): one instance, reached only here.
struct Sink {
  std::atomic<int> level{static_cast<int>(Level::Notice)};
  std::atomic<bool> syslog{false};
  std::mutex mutex;
};

Sink& sink() {
  static Sink s;
  return s;
}

const char* levelName(Level level) {
  switch (level) {
    case Level::Error:
      return "error";
    case Level::Warning:
      return "warning";
    case Level::Notice:
      return "notice";
    case Level::Info:
      return "info";
    case Level::Debug:
      return "debug";
  }
  return "?";
}

}  // namespace

bool parseLevel(std::string_view text, Level& out) {
  for (Level l : {Level::Error, Level::Warning, Level::Notice, Level::Info, Level::Debug}) {
    if (text == levelName(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

void setLevel(Level level) {
  sink().level = static_cast<int>(level);
}

bool enabled(Level level) {
  return static_cast<int>(level) <= sink().level.load();
}

void useSyslog(bool on) {
  if (on)
    openlog("z2z", LOG_PID, LOG_DAEMON);
  sink().syslog = on;
}

// Messages carry names and values from the network (a rejected DHT value, an mDNS name): one
// message stays one line of the log, without terminal escapes, and of bounded length.
std::string oneLine(std::string_view message) {
  std::string out;
  std::size_t n = std::min(message.size(), kMaxMessage);
  out.reserve(n + 32);
  for (std::size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(message[i]);
    if (c == '\n') {
      out += "; ";
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (n < message.size())
    out += "... (" + std::to_string(message.size()) + " bytes)";
  return out;
}

void write(Level level, std::string_view tag, std::string_view raw) {
  if (!enabled(level))
    return;
  std::string message = oneLine(raw);
  Sink& s = sink();
  if (s.syslog) {
    syslog(static_cast<int>(level), "[%.*s] %.*s", static_cast<int>(tag.size()), tag.data(),
           static_cast<int>(message.size()), message.data());
    return;
  }
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm local{};
  localtime_r(&ts.tv_sec, &local);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
  std::lock_guard lock(s.mutex);
  std::fprintf(stderr, "%s.%03ld %s [%.*s] %.*s\n", stamp, ts.tv_nsec / 1000000, levelName(level),
               static_cast<int>(tag.size()), tag.data(), static_cast<int>(message.size()),
               message.data());
}

}  // namespace z2z::log
