// The node's BGP side: gobgpd as a supervised child plus the Controller that drives it.
//
// gobgpd is started at start() and restarted whenever it dies on its own, after a backoff that
// doubles from 1 s up to 30 s and resets once it has run for a minute. Each start gets a fresh
// gRPC client (a channel to a dead socket would sit in gRPC's own reconnect backoff) and is
// configured from scratch by Controller::attach; the next tick reconciles the paths. A start
// or configuration failure is counted, logged once per change of the reason, and retried.
// BFD toward the ToRs (bfd.h) runs beside it on its own thread. Control thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bgp/bfd.h"
#include "bgp/controller.h"
#include "bgp/gobgp_client.h"
#include "bgp/gobgpd_process.h"
#include "config/config.h"

namespace anylb::bgp {

// The controller's view of a config: peers per uplink and family, LIPs, distinct VIPs of both
// families, timers.
ControllerOptions controllerOptions(const config::Config& cfg);

class Agent {
 public:
  explicit Agent(const config::Config& cfg);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // The VIPs in the order tick() expects their health.
  [[nodiscard]] const std::vector<IpAddr>& vips() const { return opts_.vips; }

  void tick(uint64_t nowMs, bool dataplaneAlive, const std::vector<bool>& vipHealthy);
  void setDrain(bool on, uint64_t nowMs) { ctl_.setDrain(on, nowMs); }
  bool setVipDrain(const IpAddr& vip, bool on, uint64_t nowMs) {
    return ctl_.setVipDrain(vip, on, nowMs);
  }
  void setFamilyDrain(Family f, bool on, uint64_t nowMs) { ctl_.setFamilyDrain(f, on, nowMs); }
  [[nodiscard]] bool familyDrained(Family f) const { return ctl_.familyDrained(f); }
  // A reload (the keys a restart needs were kept at their running values by the caller). The
  // backup LIPs set with setBackupLips stay.
  void reconfigure(const config::Config& cfg, uint64_t nowMs) {
    opts_ = controllerOptions(cfg);
    opts_.backupLips = backupLips_;
    opts_.backupPrepend = backupPrepend_;
    ctl_.reconfigure(opts_, nowMs);
  }
  // Session sync (issue 16): the peers' LIP prefixes (both families), announced as backup
  // routes with `prepend` extra AS-path prepends (Controller, "Backup routes"); an empty list
  // withdraws them. Kept across reconfigure() until set again.
  void setBackupLips(std::vector<Prefix> prefixes, uint8_t prepend, uint64_t nowMs) {
    backupLips_ = std::move(prefixes);
    backupPrepend_ = prepend;
    opts_.backupLips = backupLips_;
    opts_.backupPrepend = backupPrepend_;
    ctl_.reconfigure(opts_, nowMs);
  }
  // Session sync: closed until the node holds its peers' sessions; nothing is announced while
  // it is closed (Controller::setAnnounceGate). Open unless closed.
  void setAnnounceGate(bool open) { ctl_.setAnnounceGate(open); }
  // See Controller::onVipChange; kept across reloads.
  void onVipChange(Controller::VipChange cb) { ctl_.onVipChange(std::move(cb)); }
  [[nodiscard]] bool draining() const { return ctl_.draining(); }
  [[nodiscard]] std::vector<IpAddr> drainedVips() const { return ctl_.drainedVips(); }
  [[nodiscard]] bool drainComplete() const { return ctl_.drainComplete(); }
  // Withdraws every path, then stops gobgpd (its peers get a Cease).
  void stop();
  // The `bgp` member of the stats: the controller's status, `gobgpd` and `bfd`.
  [[nodiscard]] nlohmann::json statusJson() const;
  [[nodiscard]] const Controller& controller() const { return ctl_; }

 private:
  void supervise(uint64_t nowMs);
  void failed(const std::string& why, uint64_t nowMs);

  ControllerOptions opts_;
  Controller ctl_;
  GobgpdProcess proc_;
  std::unique_ptr<GobgpClient> client_;
  std::unique_ptr<BfdAgent> bfd_;  // null when bgp.bfd_interval_ms = 0
  std::vector<IpAddr> bfdPeers_;   // the BFD peers, in BfdAgent's order
  std::vector<Prefix> backupLips_;
  uint8_t backupPrepend_ = ControllerOptions{}.backupPrepend;
  bool stopped_ = false;
  uint64_t restartAt_ = 0;
  uint64_t backoffMs_ = 0;
  uint64_t startedAt_ = 0;
  uint64_t starts_ = 0;
  uint64_t failures_ = 0;
  std::string lastFailure_;
};

}  // namespace anylb::bgp
