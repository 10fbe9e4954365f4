// The node: config, forwarding snapshots, dataplane and health checks, driven by the control
// thread (one Boost.Asio io_context). Health changes become new snapshots (a failed RS gets
// weight 0, or also loses its sessions with on_rs_down = "flush"); per-service healthy counts
// are what the BGP controller will announce on.
#pragma once

#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
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
    uint64_t healthyWeight = 0;  // the sum of the effective weights of those RS (quorum)
    bool quorumMet = true;       // keepalived's quorum (with hysteresis); true without quorum
    bool sorryActive = false;    // new sessions go to the sorry server
  };
  [[nodiscard]] ServiceHealth serviceHealth(size_t service) const;
  // --- control API (node_api.cc, docs/control-api.md); errors are thrown as ApiError
  [[nodiscard]] const config::Config& config() const { return cfg_; }
  [[nodiscard]] uint64_t generation() const { return dataplane_.generation(); }
  // `sinceZero`: the counters since the last `zero` (ipvsadm -Z; the listings), else since the
  // start (the metrics, which must never go back).
  [[nodiscard]] nlohmann::json servicesJson(bool sinceZero = false) const;
  // ipvsadm -Z [-t|-u SERVICE]: zero the listed counters of every service or of one.
  nlohmann::json zeroStats(const nlohmann::json& req);
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

  // Per VIP address: every service on it serves (min_healthy healthy RS and its quorum), or
  // serves its sorry server instead (daemon/service_state.h).
  [[nodiscard]] std::vector<bool> vipHealth(const std::vector<IpAddr>& vips) const;
  // The VIP was announced (up) or withdrawn (down) by the BGP controller: runs the quorum_up /
  // quorum_down commands of every service on it, with "VIP up|down" appended.
  void onVipAnnouncement(const IpAddr& vip, bool up);

 private:
  std::vector<health::Target> targets() const;
  [[nodiscard]] uint32_t effectiveWeight(uint32_t rsId) const;
  bool recomputeWeights();  // weights_ from health states and operator weights; true if changed
  // quorumMet_ and sorryActive_ from the health states and weights_; true if a service's sorry
  // state changed (a new snapshot is due). Logs each change.
  bool updateServiceStates();
  // After a health or weight change: recomputes both and publishes a snapshot if either moved.
  void republish();
  void indexRealServers();
  [[nodiscard]] nlohmann::json statsOf(const fullnat::RsStats& st) const;
  // The uplink address probes to an RS of `family` leave from (daemon/probe_source.h).
  [[nodiscard]] std::optional<IpAddr> probeSource(Family family) const;
  void onHealthChange(const health::Change& c);
  // quorum_up / quorum_down of the services on `vip` ("VIP up|down" appended); omegaOnly: only
  // of the services with omega (a check of one of their RS has it).
  void runQuorumHooks(const std::vector<config::Service>& services, const IpAddr& vip, bool up,
                      bool omegaOnly);
  static bool hasOmega(const config::Service& svc);
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
  // keepalived's quorum state per service, by serviceKey() so that it survives reloads (a
  // service that is new starts with its quorum lost). Control thread only.
  std::map<std::string, bool> quorumMet_;
  std::set<IpAddr> announced_;      // VIPs announced (onVipAnnouncement), for omega
  std::vector<bool> sorryActive_;   // per service of cfg_: new sessions go to the sorry server
  std::vector<uint32_t> sorryIds_;  // per service of cfg_: its sorry server's rsId, or UINT32_MAX
  // Rates: the totals at the last sample and the per-second rates since the one before.
  std::vector<fullnat::RsStats> lastTotals_;
  std::map<uint32_t, fullnat::RsStats> zeroBase_;  // rsId -> totals at the last zero
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
