// SPDX-License-Identifier: GPL-3.0-or-later
// z2zd: the gateway daemon, configured by z2zd.conf(5). Runs in the foreground (systemd
// Type=notify, procd); see z2zd(8).
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "z2z/bridge/run.hpp"
#include "z2z/config/daemon_config.hpp"
#include "z2z/config/log.hpp"

namespace {

constexpr int kExitUsage = 2;

void usage() {
  std::string text =
      "Usage: z2zd [-f FILE] [-t | --check | --dump-config | --example-config] [--KEY VALUE]...\n"
      "The z2z gateway daemon: carries DNS-SD services between LAN islands through a DHT.\n\n"
      "  -f, --config FILE     configuration file (default /etc/z2z/z2zd.conf)\n"
      "  -t, --check           validate the configuration and exit (0, or 78 with the errors)\n"
      "      --dump-config     print the effective configuration and exit\n"
      "      --example-config  print a configuration with every key at its default and exit\n"
      "  -h, --help            print this help and exit\n"
      "  -V, --version         print the version and exit\n\n"
      "Every [server] key of z2zd.conf(5) is also an option, overriding the file:\n";
  for (const auto& k : z2z::config::schema()) {
    if (k.section != "server")
      continue;
    std::string left = "      --" + std::string(k.key) + (k.type == "yes or no" ? "" : " VALUE");
    left.resize(std::max<std::size_t>(left.size() + 1, 28), ' ');
    text += left + std::string(k.type) + "\n";
  }
  std::fputs(text.c_str(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string file(z2z::config::kDefaultConfigFile);
  enum class Mode { Run, Check, Dump, Example } mode = Mode::Run;
  z2z::config::ServerOverrides overrides;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "-f" || arg == "--config") {
      const char* v = value();
      if (!v)
        return std::fprintf(stderr, "z2zd: %s needs a file\n", argv[i]), kExitUsage;
      file = v;
    } else if (arg == "-t" || arg == "--check") {
      mode = Mode::Check;
    } else if (arg == "--dump-config") {
      mode = Mode::Dump;
    } else if (arg == "--example-config") {
      mode = Mode::Example;
    } else if (arg == "-h" || arg == "--help") {
      usage();
      return 0;
    } else if (arg == "-V" || arg == "--version") {
      std::printf("z2zd %s\n", Z2Z_VERSION);
      return 0;
    } else if (arg.starts_with("--") && arg.size() > 2) {
      std::string key(arg.substr(2));
      const z2z::config::KeyInfo* info = nullptr;
      for (const auto& k : z2z::config::schema()) {
        if (k.section == "server" && k.key == key)
          info = &k;
      }
      if (info == nullptr) {
        std::fprintf(stderr, "z2zd: unknown option '%s'\nTry 'z2zd --help'.\n", argv[i]);
        return kExitUsage;
      }
      if (info->type == "yes or no") {
        overrides.emplace_back(key, "yes");
      } else {
        const char* v = value();
        if (!v)
          return std::fprintf(stderr, "z2zd: --%s needs a value\n", key.c_str()), kExitUsage;
        overrides.emplace_back(key, v);
      }
    } else {
      std::fprintf(stderr, "z2zd: unexpected argument '%s'\nTry 'z2zd --help'.\n", argv[i]);
      return kExitUsage;
    }
  }
  if (mode == Mode::Example) {
    std::fputs(z2z::config::exampleConfig().c_str(), stdout);
    return 0;
  }

  // The file, then the command line on top, then the checks across keys; SIGHUP does the same
  // again.
  auto load = [&]() { return z2z::config::loadConfig(file, overrides); };
  auto config = load();
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().c_str());
    return z2z::config::kExitConfig;
  }
  if (mode == Mode::Check) {
    std::printf("%s: configuration is valid (%zu exports, %zu imports)\n", file.c_str(),
                config->exports.size(), config->imports.size());
    return 0;
  }
  if (mode == Mode::Dump) {
    std::fputs(z2z::config::dumpConfig(*config).c_str(), stdout);
    return 0;
  }
  try {
    return z2z::bridge::runGateway(*config, load);
  } catch (const std::exception& e) {
    z2z::log::error("main", e.what());
    return 1;
  }
}
