// anylbd: the node daemon. Parses arguments, loads and validates the config, sets up logging and
// runs the control thread (Boost.Asio): dataplane housekeeping, health checks and the BGP agent.
//
// Signals: SIGTERM drains (VIPs re-announced with GRACEFUL_SHUTDOWN for bgp.drain_seconds, then
// withdrawn), then stops; a second SIGTERM, or SIGINT, stops at once. SIGHUP reloads the config
// (as `anylbctl reload` does); SIGUSR1 logs the stats; SIGUSR2 reopens the log file. A file named
// "drain" next to the control socket drains the node while it exists (removing it undrains), as
// `anylbctl drain` does. The control API (docs/control-api.md) listens on control.socket, metrics
// on control.metrics_listen.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <string>

#include "anylb_version.h"  // generated: ANYLB_VERSION (cmake/version.cmake)
#include "bgp/agent.h"
#include "common/logging.h"
#include "common/sd_notify.h"
#include "config/loader.h"
#include "config/runtime_state.h"
#include "daemon/control_server.h"
#include "daemon/metrics.h"
#include "daemon/node.h"

#include <rte_version.h>

namespace {

constexpr const char* kUsage =
    "usage: anylbd [-v]... -c FILE      run the node with config FILE\n"
    "       anylbd --check-config FILE  validate FILE, print errors or a summary\n"
    "       anylbd -h | --help | --version\n"
    "\n"
    "  -c, --config FILE      the config file to run with (anylb.toml(5))\n"
    "  --check-config FILE    exit 0 if FILE is valid, else print every error and exit 1\n"
    "  -v                     lower the log level one step (info, debug, trace); -vv two\n"
    "  -h, --help             this text\n"
    "  --version              anylbd's version\n"
    "\n"
    "Signals: SIGTERM drains then stops (again: stop now), SIGINT stops, SIGHUP reloads the\n"
    "config, SIGUSR1 logs the stats, SIGUSR2 reopens the log file. See anylbd(8).\n";

int usageError(const std::string& msg) {
  std::fprintf(stderr, "anylbd: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

int run(const std::string& path, int verbose) {
  // The TOML with the runtime edits of its state file (config/runtime_state.h).
  auto loaded = anylb::config::loadEffectiveConfig(path);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.c_str());
    return 1;
  }
  const auto& cfg = *loaded.config;
  anylb::setupLogging(cfg.logging.level, cfg.logging.file, verbose);
  spdlog::info("anylbd starting: {}", anylb::config::summary(cfg));
  // The journal of runtime edits as it is in the state file (kept in step with it).
  nlohmann::json journal = anylb::config::readStateFile(cfg.control.stateFile).edits;
  if (!journal.empty()) {
    spdlog::info("runtime state {}: {} edit(s) applied over {}", cfg.control.stateFile,
                 journal.size(), path);
  }
  for (const auto& n : loaded.notes) spdlog::warn("runtime state: {}", n);

  boost::asio::io_context io;
  anylb::Node node(io, cfg);
  if (auto err = node.start(); !err.empty()) {
    spdlog::critical("dataplane did not start: {}", err);
    return 1;
  }
  spdlog::info("dataplane running: {} worker(s), {} uplink(s)", cfg.dataplane.workers,
               cfg.uplinks.size());

  // The BGP agent starts gobgpd at its first tick; it announces nothing before the health
  // checks have made the VIPs healthy for rise_seconds.
  anylb::bgp::Agent bgp(cfg);
  // keepalived's quorum_up / quorum_down: announced is up, withdrawn is down. GRACEFUL_SHUTDOWN
  // (a drain) is neither: the VIP carries traffic until the withdraw that follows it.
  bgp.onVipChange(
      [&node](const anylb::IpAddr& vip, anylb::bgp::VipAnnounce from, anylb::bgp::VipAnnounce to) {
        using A = anylb::bgp::VipAnnounce;
        if (to == A::kAnnounced && from == A::kWithdrawn) node.onVipAnnouncement(vip, true);
        if (to == A::kWithdrawn) node.onVipAnnouncement(vip, false);
      });
  const auto t0 = std::chrono::steady_clock::now();
  const auto nowMs = [&] {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count());
  };
  // Session sync: the peers' LIPs are announced as backup routes (replies to the sessions held
  // for them come here once the owner is gone), and nothing at all is announced before the
  // node holds its peers' sessions (the sync service's bulk sync, or its timeout).
  auto syncBgp = [&](const anylb::config::Config& c) {
    std::vector<anylb::Prefix> backups;
    if (c.sync.enabled) {
      for (const auto& p : c.sync.peers) {
        backups.insert(backups.end(), p.lipPrefixes.begin(), p.lipPrefixes.end());
      }
    }
    bgp.setBackupLips(std::move(backups), static_cast<uint8_t>(c.sync.backupPrepend), nowMs());
  };
  syncBgp(cfg);
  bgp.setAnnounceGate(node.syncReady());
  const auto drainFile = std::filesystem::path(cfg.control.socket).parent_path() / "drain";
  const unsigned watchdogMs = anylb::sdWatchdogMs();
  bool apiDrain = false;     // anylbctl drain (the node)
  bool stopping = false;     // SIGTERM: drain, then stop
  bool drainByFile = false;  // the drain file existed at the last tick
  uint64_t drainedAt = 0;    // when the drain completed (0 = not yet)

  boost::asio::signal_set stop(io, SIGTERM, SIGINT);
  boost::asio::signal_set hup(io, SIGHUP);
  boost::asio::signal_set usr1(io, SIGUSR1);
  boost::asio::steady_timer ticker(io);
  std::function<void(const boost::system::error_code&, int)> onStop =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGTERM && !stopping) {
          stopping = true;
          anylb::sdNotify("STOPPING=1\nSTATUS=draining before stop");
          spdlog::info(
              "received SIGTERM: draining for {} s, then stopping (SIGTERM again or "
              "SIGINT: stop now)",
              cfg.bgp.drainSeconds);
          bgp.setDrain(true, nowMs());
          stop.async_wait(onStop);
          return;
        }
        spdlog::info("received {}, stopping now", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        io.stop();
      };
  stop.async_wait(onStop);
  // Link state, ARP, worker heartbeats, then the BGP agent on the result. A stalled worker means
  // a dead dataplane: the agent withdraws everything; here it is logged once per change.
  bool alive = true;
  std::function<void(const boost::system::error_code&)> onTick =
      [&](const boost::system::error_code& ec) {
        if (ec) return;
        const bool now = node.tick();
        if (now != alive) {
          alive = now;
          if (!alive) spdlog::critical("dataplane is not alive: a worker stalled");
        }
        const auto ms = nowMs();
        if (!stopping) {
          std::error_code fe;
          const bool file = std::filesystem::exists(drainFile, fe);
          if (file != drainByFile) {
            drainByFile = file;
            spdlog::info("drain file {} {}", drainFile.string(),
                         file ? "exists: draining" : "removed: undraining");
          }
          bgp.setDrain(file || apiDrain, ms);
        }
        node.sampleRates(ms);
        // systemd's watchdog (WatchdogSec=) is fed only while the dataplane is alive: a
        // stalled worker gets the node restarted, after the BGP agent withdrew its routes.
        if (watchdogMs != 0 && alive) anylb::sdNotify("WATCHDOG=1");
        bgp.setAnnounceGate(node.syncReady());
        bgp.tick(ms, alive, node.vipHealth(bgp.vips()));
        if (stopping && bgp.drainComplete()) {
          // Withdrawn: give the ToRs a moment to act on it, then stop forwarding.
          if (drainedAt == 0) {
            drainedAt = ms;
            spdlog::info("drained: every VIP is withdrawn; stopping in 1 s");
          } else if (ms - drainedAt >= 1000) {
            io.stop();
            return;
          }
        }
        ticker.expires_after(std::chrono::milliseconds(200));
        ticker.async_wait(onTick);
      };
  ticker.expires_after(std::chrono::milliseconds(10));
  ticker.async_wait(onTick);
  // Config loads, for the metrics: the start is the first success (as Prometheus counts its
  // own); wall-clock time, since the gauge is compared with other nodes' and with alerts' now.
  struct ReloadCounts {
    uint64_t ok = 0;
    uint64_t failed = 0;
    double lastOkUnix = 0;
  } reloads;
  const auto unixNow = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  reloads.lastOkUnix = unixNow();
  auto statsObject = [&] {
    auto st = node.statsJson();
    st["bgp"] = bgp.statusJson();
    st["sync"] = node.syncJson();
    st["reload"] = {
        {"ok", reloads.ok}, {"failed", reloads.failed}, {"last_ok_unix", reloads.lastOkUnix}};
    st["build"] = {{"version", ANYLB_VERSION}, {"dpdk", rte_version()}, {"compiler", __VERSION__}};
    return st;
  };
  std::function<void(const boost::system::error_code&, int)> onUsr1 =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        spdlog::info("stats {}",
                     statsObject().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        spdlog::default_logger()->flush();
        usr1.async_wait(onUsr1);
      };
  usr1.async_wait(onUsr1);
  // SIGUSR2: reopen logging.file at its path (logrotate moved it; debian/anylb.logrotate).
  boost::asio::signal_set usr2(io, SIGUSR2);
  std::function<void(const boost::system::error_code&, int)> onUsr2 =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        if (anylb::reopenLogFile()) {
          spdlog::info("received SIGUSR2: log file {} reopened", cfg.logging.file);
        } else {
          spdlog::warn("received SIGUSR2: no log file reopened (logging.file is \"{}\")",
                       cfg.logging.file);
        }
        usr2.async_wait(onUsr2);
      };
  usr2.async_wait(onUsr2);
  // Reload (SIGHUP, anylbctl reload): validate first; an invalid file changes nothing.
  // Applies a validated config to the node, BGP and sync, as a reload does.
  auto apply = [&](const anylb::config::Config& next, const std::string& via) -> nlohmann::json {
    const auto r = node.reload(next);
    bgp.reconfigure(node.config(), nowMs());
    syncBgp(node.config());
    spdlog::info("{}: generation {}; changed: [{}]; needs a restart: [{}]", via, node.generation(),
                 fmt::join(r.changed, ", "), fmt::join(r.restartNeeded, ", "));
    return {{"generation", node.generation()},
            {"changed", r.changed},
            {"restart_needed", r.restartNeeded}};
  };
  auto invalid = [&](const std::string& what, const std::vector<std::string>& errs,
                     const std::string& how) {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& err : errs) {
      spdlog::error("{}", err);
      errors.push_back(err);
    }
    return anylb::ApiError{"invalid_config",
                           fmt::format("{}: {} error(s); {}", what, errs.size(), how),
                           std::move(errors)};
  };
  // Reload (SIGHUP, anylbctl reload): the TOML and the state file again, validated first; an
  // invalid result changes nothing.
  auto reload = [&](const char* via) -> nlohmann::json {
    auto again = anylb::config::loadEffectiveConfig(path);
    if (!again.config) {
      ++reloads.failed;
      spdlog::error("reload ({}): {} has {} error(s); the running config stays", via, path,
                    again.errors.size());
      throw invalid(path, again.errors, "the running config is unchanged");
    }
    for (const auto& n : again.notes) spdlog::warn("runtime state: {}", n);
    journal = anylb::config::readStateFile(again.config->control.stateFile).edits;
    auto result = apply(*again.config, fmt::format("reload ({})", via));
    ++reloads.ok;
    reloads.lastOkUnix = unixNow();
    return result;
  };
  // ipvsadm's changes (anylbctl -A/-E/-D/-a/-e/-d/-C/--set/-R, the API's `edit`): applied
  // strictly to the running config, validated, written to the state file, then applied like
  // a reload. Requests are handled one at a time on this thread: concurrent edits serialise.
  auto edit = [&](const nlohmann::json& req) -> nlohmann::json {
    for (const auto& item : req.items()) {
      if (item.key() != "cmd" && item.key() != "edits") {
        throw anylb::ApiError{"bad_request", "unknown field '" + item.key() + "'"};
      }
    }
    const auto it = req.find("edits");
    if (it == req.end() || !it->is_array() || it->empty()) {
      throw anylb::ApiError{"bad_request", "\"edits\" must be a non-empty array"};
    }
    if (it->size() > 100000) throw anylb::ApiError{"bad_request", "more than 100000 edits"};
    const std::string stateFile = node.config().control.stateFile;
    if (stateFile.empty()) {
      throw anylb::ApiError{"not_persistent",
                            "control.state_file is empty: runtime edits are off (they could "
                            "not survive a restart)"};
    }
    anylb::config::Config next = node.config();
    const auto r = anylb::config::applyEdits(next, *it, /*strict=*/true);
    if (!r.ok) throw anylb::ApiError{"bad_edit", r.error + " (nothing was changed)"};
    if (auto errs = anylb::config::validateEdited(next); !errs.empty()) {
      throw invalid("the edit would make the config invalid", errs, "nothing was changed");
    }
    nlohmann::json nextJournal = journal;
    anylb::config::appendEdits(nextJournal, *it);
    if (auto err = anylb::config::writeStateFile(stateFile, nextJournal); !err.empty()) {
      spdlog::error("edit: {}", err);
      throw anylb::ApiError{"state_file", err + " (nothing was changed)"};
    }
    journal = std::move(nextJournal);
    auto result = apply(next, fmt::format("edit ({} change(s))", it->size()));
    result["edits"] = journal.size();
    result["state_file"] = stateFile;
    return result;
  };
  auto runtime = [&](bool reset) -> nlohmann::json {
    const std::string stateFile = node.config().control.stateFile;
    nlohmann::json result;
    if (reset) {
      // Back to the TOML alone: checked before the state file is emptied.
      auto base = anylb::config::loadConfigFile(path);
      if (!base.config) {
        std::vector<std::string> errs;
        for (const auto& e : base.errors) errs.push_back(e.str());
        throw invalid(path, errs, "nothing was changed");
      }
      if (!stateFile.empty()) {
        if (auto err = anylb::config::writeStateFile(stateFile, nlohmann::json::array());
            !err.empty()) {
          throw anylb::ApiError{"state_file", err + " (nothing was changed)"};
        }
      }
      journal = nlohmann::json::array();
      result = apply(*base.config, "runtime reset");
    }
    const auto& t = node.config().dataplane.timeouts;
    result["config"] = path;
    result["state_file"] = stateFile;
    result["edits"] = journal;
    result["timeouts"] = {{"tcp", t.tcpEstablished}, {"tcpfin", t.tcpFinWait}, {"udp", t.udp}};
    return result;
  };
  std::function<void(const boost::system::error_code&, int)> onHup =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        try {
          reload("SIGHUP");
        } catch (const anylb::ApiError&) {
          // logged above
        }
        hup.async_wait(onHup);
      };
  hup.async_wait(onHup);

  auto drainAnswer = [&] {
    nlohmann::json vips = nlohmann::json::array();
    for (const auto& v : bgp.drainedVips()) vips.push_back(v.str());
    nlohmann::json families = nlohmann::json::array();
    if (bgp.familyDrained(anylb::Family::kV4)) families.push_back("ipv4");
    if (bgp.familyDrained(anylb::Family::kV6)) families.push_back("ipv6");
    std::error_code fe;
    return nlohmann::json{{"node", bgp.draining()},
                          {"draining", vips},
                          {"families", std::move(families)},
                          {"drain_file", std::filesystem::exists(drainFile, fe)}};
  };
  auto drainCmd = [&](const nlohmann::json& req, bool on) {
    for (const auto& [k, v] : req.items()) {
      if (k != "cmd" && k != "vip" && k != "family") {
        throw anylb::ApiError{"bad_request", "unknown field '" + k + "'"};
      }
    }
    const auto vip = req.find("vip");
    const auto family = req.find("family");
    if (family != req.end() && !family->is_null()) {
      if (vip != req.end() && !vip->is_null()) {
        throw anylb::ApiError{"bad_request", "give vip or family, not both"};
      }
      if (*family != "ipv4" && *family != "ipv6") {
        throw anylb::ApiError{"bad_request", R"(family: must be "ipv4" or "ipv6")"};
      }
      bgp.setFamilyDrain(*family == "ipv4" ? anylb::Family::kV4 : anylb::Family::kV6, on, nowMs());
    } else if (vip != req.end() && !vip->is_null()) {
      const auto a =
          vip->is_string() ? anylb::IpAddr::parse(vip->get<std::string>()) : std::nullopt;
      if (!a) throw anylb::ApiError{"bad_request", "vip: must be an address"};
      if (!bgp.setVipDrain(*a, on, nowMs())) {
        throw anylb::ApiError{"not_found", "no VIP " + a->str() + " on this node"};
      }
    } else {
      apiDrain = on;
      std::error_code fe;
      bgp.setDrain(apiDrain || std::filesystem::exists(drainFile, fe), nowMs());
    }
    return drainAnswer();
  };
  anylb::ControlServer control(
      io, cfg.control.socket, [&](const std::string& cmd, const nlohmann::json& req) {
        if (cmd == "status") {
          auto st = statsObject();
          const auto& c = node.config();
          st["node"] = {{"name", c.node.name},
                        {"router_id", c.node.routerId.str()},
                        {"config", path},
                        {"uptime_s", nowMs() / 1000},
                        {"generation", node.generation()},
                        {"draining", bgp.draining()},
                        {"drained_vips", drainAnswer()["draining"]}};
          return st;
        }
        if (cmd == "services") return node.servicesJson(/*sinceZero=*/true);
        if (cmd == "sync") return node.syncJson();
        if (cmd == "sessions") return node.sessionsJson(req);
        if (cmd == "weight") return node.setWeight(req);
        if (cmd == "drain") return drainCmd(req, true);
        if (cmd == "undrain") return drainCmd(req, false);
        if (cmd == "reload") return reload("control API");
        if (cmd == "edit") return edit(req);
        if (cmd == "zero") return node.zeroStats(req);
        if (cmd == "runtime" || cmd == "runtime_reset") {
          for (const auto& item : req.items()) {
            if (item.key() != "cmd") {
              throw anylb::ApiError{"bad_request", "unknown field '" + item.key() + "'"};
            }
          }
          return runtime(cmd == "runtime_reset");
        }
        throw anylb::ApiError{"unknown_command", "unknown command '" + cmd + "'"};
      });
  if (auto err = control.start(); !err.empty()) {
    spdlog::error("control API unavailable: {} (forwarding and BGP are not affected)", err);
  } else {
    spdlog::info("control API on {}", cfg.control.socket);
  }
  anylb::MetricsServer metrics(io, cfg.control.metricsListen, [&] {
    return anylb::prometheusText(
        statsObject(), node.servicesJson(), node.config().dataplane.sessionCapacity,
        anylb::config::localPortsPerWorker(node.config()), node.config().control.ipvsMetrics);
  });
  if (auto err = metrics.start(); !err.empty()) {
    spdlog::error("metrics unavailable: {}", err);
  } else {
    spdlog::info("metrics on http://{}/metrics", cfg.control.metricsListen.str());
  }
  anylb::sdNotify(fmt::format("READY=1\nSTATUS=forwarding: {} worker(s), {} uplink(s)",
                              cfg.dataplane.workers, cfg.uplinks.size()));
  io.run();
  control.stop();
  metrics.stop();
  bgp.stop();
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
      std::puts("anylbd " ANYLB_VERSION);
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
  } catch (...) {
    std::fprintf(stderr, "anylbd: fatal: unknown exception\n");
    return 1;
  }
}
