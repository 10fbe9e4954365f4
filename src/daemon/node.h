// The node: config, forwarding snapshots, dataplane and health checks, driven by the control
// thread (one Boost.Asio io_context). Health changes become new snapshots (a failed RS gets
// weight 0, or also loses its sessions with on_rs_down = "flush"); per-service healthy counts
// are what the BGP controller will announce on.
#pragma once

#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "dataplane/dataplane.h"
#include "fullnat/snapshot.h"
#include "health/health_checker.h"
#include "sync/service.h"

namespace anylb {

class Node {
 public:
  Node(boost::asio::io_context& io, config::Config cfg);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Starts the dataplane and the health checks. Returns an error message or "".
  std::string start();
  void stop();
  // Periodic (200 ms): dataplane housekeeping; health probes move to an uplink whose link is
  // up. False when the dataplane is not alive.
  bool tick();
  // The stats object (docs/operations.md): the dataplane's members, `generation`, `services`
  // (health view) and `health`; the caller adds `bgp`.
  [[nodiscard]] nlohmann::json statsJson() const;

  struct ServiceHealth {
    uint32_t healthy = 0;  // RS whose check is up
    uint32_t total = 0;
    uint32_t minHealthy = 0;
  };
  [[nodiscard]] ServiceHealth serviceHealth(size_t service) const;
  // --- control API (node_api.cc, docs/control-api.md); errors are thrown as ApiError
  [[nodiscard]] const config::Config& config() const { return cfg_; }
  [[nodiscard]] uint64_t generation() const { return dataplane_.generation(); }
  [[nodiscard]] nlohmann::json servicesJson() const;
  [[nodiscard]] nlohmann::json sessionsJson(const nlohmann::json& req);
  [[nodiscard]] nlohmann::json templatesJson(const fullnat::SessionFilter& f, size_t limit) const;
  // weight SERVICE RS N: the operator's weight for an RS until the next reload.
  [[nodiscard]] nlohmann::json setWeight(const nlohmann::json& req);
  // Applies a validated config without stopping the workers; keys only a restart can apply
  // keep their running values and are listed.
  struct ReloadResult {
    std::vector<std::string> changed;
    std::vector<std::string> restartNeeded;
  };
  ReloadResult reload(const config::Config& next);
  // Per-RS packet/byte/connection rates over the last sampling interval (every 2 s).
  void sampleRates(uint64_t nowMs);

  // Session sync: the node holds its peers' sessions (or gave up waiting): it may announce.
  // True without [sync].
  [[nodiscard]] bool syncReady() const { return !sync_ || sync_->ready(); }
  // anylbctl sync: the service's status plus the workers' replica counters; {"enabled": false}
  // without [sync].
  [[nodiscard]] nlohmann::json syncJson() const;
  [[nodiscard]] const sync::Service* syncService() const { return sync_.get(); }
  [[nodiscard]] fullnat::SyncCounters syncTotals() const { return dataplane_.syncTotals(); }

  // Per VIP address: every service on it has at least min_healthy healthy RS.
  [[nodiscard]] std::vector<bool> vipHealth(const std::vector<IpAddr>& vips) const;
  // The VIP was announced (up) or withdrawn (down) by the BGP controller: runs the quorum_up /
  // quorum_down commands of every service on it, with "VIP up|down" appended.
  void onVipAnnouncement(const IpAddr& vip, bool up);

 private:
  std::vector<health::Target> targets() const;
  [[nodiscard]] uint32_t effectiveWeight(uint32_t rsId) const;
  bool recomputeWeights();  // weights_ from health states and operator weights; true if changed
  void indexRealServers();
  [[nodiscard]] nlohmann::json statsOf(const fullnat::RsStats& st) const;
  // The uplink address probes to an RS of `family` leave from (daemon/probe_source.h).
  [[nodiscard]] std::optional<IpAddr> probeSource(Family family) const;
  void onHealthChange(const health::Change& c);
  std::shared_ptr<const fullnat::Snapshot> buildSnapshot();

  boost::asio::io_context& io_;
  config::Config cfg_;
  fullnat::RsRegistry registry_;
  dataplane::Dataplane dataplane_;
  // Session sync (src/sync/): the dataplane's rings as the service sees them, and the service.
  class SyncWorkers;
  std::unique_ptr<SyncWorkers> syncWorkers_;
  std::unique_ptr<sync::Service> sync_;
  std::unique_ptr<health::HealthChecker> health_;
  health::Notifier vipHooks_;               // quorum_up / quorum_down commands
  std::map<uint32_t, uint32_t> weights_;    // rsId -> effective weight where it differs
  std::map<uint32_t, uint32_t> opWeights_;  // rsId -> operator's weight (until reload)
  // Rates: the totals at the last sample and the per-second rates since the one before.
  std::vector<fullnat::RsStats> lastTotals_;
  struct Rate {
    double cps = 0, inPps = 0, outPps = 0, inBps = 0, outBps = 0;
  };
  std::vector<Rate> rates_;
  uint64_t lastSampleMs_ = 0;
  struct RsRef {
    size_t service;
    size_t rs;
  };
  std::map<uint32_t, RsRef> rsById_;
  uint64_t generation_ = 0;
  std::vector<bool> uplinksUp_;
};

}  // namespace anylb
