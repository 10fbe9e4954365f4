// anylbd: the node daemon. Parses arguments, loads and validates the config, sets up logging and
// runs the control thread (Boost.Asio) until SIGTERM/SIGINT. SIGHUP re-validates the config.
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>

#include "common/logging.h"
#include "config/loader.h"
#include "daemon/node.h"

namespace {

constexpr const char* kUsage =
    "usage: anylbd [-v]... -c FILE      run the node with config FILE\n"
    "       anylbd --check-config FILE  validate FILE, print errors or a summary\n"
    "       anylbd --help | --version\n";

int usageError(const std::string& msg) {
  std::fprintf(stderr, "anylbd: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

int run(const std::string& path, int verbose) {
  auto loaded = anylb::config::loadConfigFile(path);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    return 1;
  }
  const auto& cfg = *loaded.config;
  anylb::setupLogging(cfg.logging.level, cfg.logging.file, verbose);
  spdlog::info("anylbd starting: {}", anylb::config::summary(cfg));

  boost::asio::io_context io;
  anylb::Node node(io, cfg);
  if (auto err = node.start(); !err.empty()) {
    spdlog::critical("dataplane did not start: {}", err);
    return 1;
  }
  spdlog::info("dataplane running: {} worker(s), {} uplink(s)", cfg.dataplane.workers,
               cfg.uplinks.size());

  boost::asio::signal_set stop(io, SIGTERM, SIGINT);
  boost::asio::signal_set hup(io, SIGHUP);
  boost::asio::signal_set usr1(io, SIGUSR1);
  boost::asio::steady_timer ticker(io);
  stop.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    io.stop();
  });
  // Link state, ARP, worker heartbeats. A stalled worker means a dead dataplane: the BGP
  // controller withdraws on it (dataplaneAlive), here it is logged once per change.
  bool alive = true;
  std::function<void(const boost::system::error_code&)> onTick =
      [&](const boost::system::error_code& ec) {
        if (ec) return;
        const bool now = node.tick();
        if (now != alive) {
          alive = now;
          if (!alive) spdlog::critical("dataplane is not alive: a worker stalled");
        }
        ticker.expires_after(std::chrono::milliseconds(500));
        ticker.async_wait(onTick);
      };
  ticker.expires_after(std::chrono::milliseconds(100));
  ticker.async_wait(onTick);
  std::function<void(const boost::system::error_code&, int)> onUsr1 =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        spdlog::info("stats {}", node.statsJson());
        spdlog::default_logger()->flush();
        usr1.async_wait(onUsr1);
      };
  usr1.async_wait(onUsr1);
  std::function<void(const boost::system::error_code&, int)> onHup =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        auto again = anylb::config::loadConfigFile(path);
        if (again.config) {
          spdlog::info("SIGHUP: {} is valid", path);
        } else {
          spdlog::error("SIGHUP: {} has {} error(s); keeping the running config", path,
                        again.errors.size());
          for (const auto& e : again.errors) spdlog::error("{}", e.str());
        }
        hup.async_wait(onHup);
      };
  hup.async_wait(onHup);
  io.run();
  node.stop();
  spdlog::info("anylbd stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config;
  std::string check;
  int verbose = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--version") {
      std::puts("anylbd 0.1.0");
      return 0;
    }
    if (a == "--check-config" || a == "-c" || a == "--config") {
      if (i + 1 >= argc) return usageError(a + " needs a FILE");
      (a == "--check-config" ? check : config) = argv[++i];
    } else if (a.size() >= 2 && a[0] == '-' && a.find_first_not_of('v', 1) == std::string::npos) {
      verbose += static_cast<int>(a.size() - 1);
    } else {
      return usageError("unknown argument '" + a + "'");
    }
  }
  if (!check.empty()) return anylb::config::checkConfigCommand(check);
  if (config.empty()) return usageError("no config file (-c FILE)");
  try {
    return run(config, verbose);
  } catch (const std::exception& e) {
    // Reaching here is a bug; say so plainly rather than terminate() without a word.
    std::fprintf(stderr, "anylbd: fatal: %s\n", e.what());
    return 1;
  }
}
