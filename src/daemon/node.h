// The node: config, forwarding snapshots, dataplane and health checks, driven by the control
// thread (one Boost.Asio io_context). Health changes become new snapshots (a failed RS gets
// weight 0, or also loses its sessions with on_rs_down = "flush"); per-service healthy counts
// are what the BGP controller will announce on.
#pragma once

#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "dataplane/dataplane.h"
#include "fullnat/snapshot.h"
#include "health/health_checker.h"

namespace anylb {

class Node {
 public:
  Node(boost::asio::io_context& io, config::Config cfg);
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Starts the dataplane and the health checks. Returns an error message or "".
  std::string start();
  void stop();
  // Periodic (200 ms): dataplane housekeeping; health probes move to an uplink whose link is
  // up. False when the dataplane is not alive.
  bool tick();
  // The stats object; `extra` ("\"key\":value,...") is added to it.
  [[nodiscard]] std::string statsJson(const std::string& extra = {}) const;

  struct ServiceHealth {
    uint32_t healthy = 0;  // RS whose check is up
    uint32_t total = 0;
    uint32_t minHealthy = 0;
  };
  [[nodiscard]] ServiceHealth serviceHealth(size_t service) const;
  // Per VIP address: every service on it has at least min_healthy healthy RS.
  [[nodiscard]] std::vector<bool> vipHealth(const std::vector<IpAddr>& vips) const;

 private:
  std::vector<health::Target> targets() const;
  // The uplink address probes leave from: the first uplink whose link is up (else the first).
  [[nodiscard]] std::optional<IpAddr> probeSource() const;
  void onHealthChange(const health::Change& c);
  std::shared_ptr<const fullnat::Snapshot> buildSnapshot();

  boost::asio::io_context& io_;
  config::Config cfg_;
  fullnat::RsRegistry registry_;
  dataplane::Dataplane dataplane_;
  std::unique_ptr<health::HealthChecker> health_;
  std::map<uint32_t, uint32_t> weights_;  // rsId -> effective weight where it differs
  struct RsRef {
    size_t service;
    size_t rs;
  };
  std::map<uint32_t, RsRef> rsById_;
  uint64_t generation_ = 0;
  std::vector<bool> uplinksUp_;
};

}  // namespace anylb
