#include "bgp/agent.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

namespace anylb::bgp {

namespace {

constexpr uint64_t kFirstBackoffMs = 1000;
constexpr uint64_t kMaxBackoffMs = 30000;
constexpr uint64_t kStableMs = 60000;  // a gobgpd that ran this long resets the backoff

}  // namespace

ControllerOptions controllerOptions(const config::Config& cfg) {
  ControllerOptions o;
  o.global = GlobalSpec{cfg.bgp.localAs, cfg.node.routerId, 179};
  // One session per family and uplink: IPv4 from `address`, IPv6 (if configured) from address6.
  for (const auto& u : cfg.uplinks) {
    o.peers.push_back(PeerSpec{u.peerAddress, u.peerAs, u.address.addr, u.holdTime, u.keepalive});
  }
  for (const auto& u : cfg.uplinks) {
    if (u.peerAddress6 && u.address6) {
      o.peers.push_back(
          PeerSpec{*u.peerAddress6, u.peerAs, u.address6->addr, u.holdTime, u.keepalive});
    }
  }
  o.lips = cfg.localAddresses;
  for (const auto& s : cfg.services) {
    if (std::find(o.vips.begin(), o.vips.end(), s.vip) == o.vips.end()) {
      o.vips.push_back(s.vip);
    }
  }
  for (const auto& c : cfg.bgp.communities) {
    if (auto v = config::parseCommunity(c)) o.communities.push_back(*v);  // validated at load
  }
  o.riseMs = uint64_t{cfg.bgp.riseSeconds} * 1000;
  o.holdDownMs = uint64_t{cfg.bgp.holdDownSeconds} * 1000;
  o.drainMs = uint64_t{cfg.bgp.drainSeconds} * 1000;
  return o;
}

Agent::Agent(const config::Config& cfg)
    : opts_(controllerOptions(cfg)),
      ctl_(opts_),
      proc_(cfg.bgp.gobgpd, cfg.bgp.apiSocket,
            (std::filesystem::path(cfg.bgp.apiSocket).parent_path() / "gobgpd.log").string()) {
  if (cfg.bgp.bfdIntervalMs > 0) {
    std::vector<BfdPeerConfig> peers;
    // BFD beside each BGP session, in its family (RFC 5881 over IPv4 or IPv6).
    for (const auto& u : cfg.uplinks) {
      if (u.address.addr.isV4() && u.peerAddress.isV4()) {
        peers.push_back(BfdPeerConfig{u.name, u.address.addr, u.peerAddress});
        bfdPeers_.push_back(u.peerAddress);
      }
    }
    for (const auto& u : cfg.uplinks) {
      if (u.address6 && u.peerAddress6 && !u.peerAddress6->isV4()) {
        peers.push_back(BfdPeerConfig{u.name + "/v6", u.address6->addr, *u.peerAddress6});
        bfdPeers_.push_back(*u.peerAddress6);
      }
    }
    bfd_ = std::make_unique<BfdAgent>(std::move(peers), cfg.bgp.bfdIntervalMs,
                                      static_cast<uint8_t>(cfg.bgp.bfdMultiplier));
  }
}

Agent::~Agent() {
  stop();
}

void Agent::failed(const std::string& why, uint64_t nowMs) {
  ++failures_;
  backoffMs_ = backoffMs_ == 0 ? kFirstBackoffMs : std::min(backoffMs_ * 2, kMaxBackoffMs);
  restartAt_ = nowMs + backoffMs_;
  if (why != lastFailure_) {
    spdlog::error("bgp: {}; starting gobgpd again in {} ms (failure {})", why, backoffMs_,
                  failures_);
  }
  lastFailure_ = why;
}

void Agent::supervise(uint64_t nowMs) {
  if (client_ && !proc_.alive()) {
    // Died on its own: its sessions are gone, and with them our routes at the ToRs.
    ctl_.attach(nullptr, nowMs);
    client_.reset();
    lastFailure_.clear();  // a death is a new state: always logged
    failed(fmt::format("gobgpd exited (status {})", proc_.lastExitStatus()), nowMs);
    return;
  }
  if (client_) {
    if (nowMs - startedAt_ >= kStableMs) backoffMs_ = 0;
    return;
  }
  if (nowMs < restartAt_) return;
  if (auto err = proc_.start(std::chrono::seconds(3)); !err.empty()) {
    failed(err, nowMs);
    return;
  }
  client_ = std::make_unique<GobgpClient>(proc_.socketPath(), std::chrono::seconds(1));
  if (auto err = ctl_.attach(client_.get(), nowMs); !err.empty()) {
    ctl_.attach(nullptr, nowMs);
    client_.reset();
    proc_.stop();
    failed("configuring gobgpd: " + err, nowMs);
    return;
  }
  ++starts_;
  startedAt_ = nowMs;
  spdlog::info("bgp: gobgpd running (pid {}, start {}, API {})", proc_.pid(), starts_,
               proc_.socketPath());
  lastFailure_.clear();
}

void Agent::tick(uint64_t nowMs, bool dataplaneAlive, const std::vector<bool>& vipHealthy) {
  if (stopped_) return;
  if (bfd_) bfd_->start();  // once; a no-op afterwards
  supervise(nowMs);
  ctl_.tick(nowMs, dataplaneAlive, vipHealthy);
  // BFD toward a ToR runs while the BGP session to it is up. Started before, it would be up
  // when BGP comes up, and a ToR that re-installs its BFD session at that moment (FRR 8.4)
  // would see it go down and reset the new BGP session.
  if (bfd_) {
    for (size_t i = 0; i < bfdPeers_.size(); ++i) {
      bfd_->setEnabled(i, ctl_.peerEstablished(bfdPeers_[i]));
    }
  }
}

void Agent::stop() {
  if (stopped_) return;
  stopped_ = true;
  ctl_.withdrawAll();
  ctl_.attach(nullptr, 0);
  client_.reset();
  proc_.stop();
  if (bfd_) bfd_->stop();  // last: AdminDown tells the ToRs this is no failure
}

nlohmann::json Agent::statusJson() const {
  // The controller's object, with the supervisor's and BFD's members added.
  auto st = ctl_.statusJson();
  st["gobgpd"] = {{"pid", client_ ? proc_.pid() : -1},
                  {"running", client_ != nullptr},
                  {"starts", starts_},
                  {"failures", failures_},
                  {"last_failure", lastFailure_}};
  st["bfd"] = bfd_ ? bfd_->statusJson() : nlohmann::json::array();
  return st;
}

}  // namespace anylb::bgp
