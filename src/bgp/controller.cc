#include "bgp/controller.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace anylb::bgp {

namespace {

std::vector<uint32_t> sorted(std::vector<uint32_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

Prefix hostPrefix(const IpAddr& a) {
  return Prefix{a, static_cast<uint8_t>(a.isV4() ? 32 : 128)};
}

// The next hop "unspecified" of a's family: gobgpd puts the session's local address there.
IpAddr unspecified(const IpAddr& a) {
  return *IpAddr::parse(a.isV4() ? "0.0.0.0" : "::");
}

bool isVip(const ControllerOptions& o, const Prefix& p) {
  return std::any_of(o.vips.begin(), o.vips.end(),
                     [&](const IpAddr& v) { return p == hostPrefix(v); });
}

}  // namespace

void Controller::normalize(ControllerOptions& o) {
  // gobgpd reports prefixes by their network address.
  for (auto& l : o.lips) l = Prefix{l.network(), l.len};
  std::vector<Prefix> backups;
  for (const auto& b : o.backupLips) {
    const Prefix n{b.network(), b.len};
    const bool own = std::find(o.lips.begin(), o.lips.end(), n) != o.lips.end();
    if (own || std::find(backups.begin(), backups.end(), n) != backups.end()) continue;
    backups.push_back(n);
  }
  o.backupLips = std::move(backups);
}

Controller::Controller(ControllerOptions o) : o_(std::move(o)) {
  normalize(o_);
  vips_.reserve(o_.vips.size());
  for (size_t i = 0; i < o_.vips.size(); ++i)
    vips_.emplace_back(o_.riseMs, o_.holdDownMs, o_.drainMs);
  vipHealthy_.assign(o_.vips.size(), false);
  vipDrain_.assign(o_.vips.size(), false);
}

bool Controller::outcome(const char* op, const std::string& err) {
  auto& last = errors_[op];
  if (err.empty()) {
    if (!last.empty()) spdlog::info("bgp: {} works again", op);
    last.clear();
    return true;
  }
  ++counters_.apiErrors;
  if (err != last) spdlog::warn("bgp: {} failed: {}", op, err);
  last = err;
  return false;
}

std::string Controller::attach(BgpClient* client, uint64_t nowMs) {
  client_ = nullptr;
  announced_.clear();
  announcedKnown_ = false;
  peers_.clear();
  if (client == nullptr) return {};
  if (auto err = client->startBgp(o_.global); !outcome("StartBgp", err)) return err;
  for (const auto& p : o_.peers) {
    if (auto err = client->addPeer(p); !outcome("AddPeer", err)) return err;
  }
  client_ = client;
  dirty_ = true;
  nextReconcile_ = nowMs;
  nextPeerPoll_ = nowMs;
  spdlog::info("bgp: speaker configured: AS {}, router id {}, {} peer(s)", o_.global.asn,
               o_.global.routerId.str(), o_.peers.size());
  return {};
}

std::vector<PathSpec> Controller::desired() const {
  std::vector<PathSpec> out;
  if (!dataplaneAlive_) return out;  // a dead dataplane attracts nothing
  if (!gateOpen_) return out;        // nor does a node that does not hold the fleet's sessions
  for (const auto& l : o_.lips) out.push_back(PathSpec{l, unspecified(l.addr), o_.communities});
  for (const auto& b : o_.backupLips) {
    out.push_back(PathSpec{b, unspecified(b.addr), o_.communities, o_.backupPrepend});
  }
  for (size_t i = 0; i < vips_.size(); ++i) {
    const auto st = vips_[i].current();
    if (st == VipAnnounce::kWithdrawn) continue;
    PathSpec p{hostPrefix(o_.vips[i]), unspecified(o_.vips[i]), o_.communities};
    if (st == VipAnnounce::kGracefulShutdown) p.communities.push_back(kGracefulShutdown);
    out.push_back(std::move(p));
  }
  return out;
}

bool Controller::setVipDrain(const IpAddr& vip, bool on, uint64_t nowMs) {
  const auto it = std::find(o_.vips.begin(), o_.vips.end(), vip);
  if (it == o_.vips.end()) return false;
  const auto i = static_cast<size_t>(it - o_.vips.begin());
  if (vipDrain_[i] != on) {
    vipDrain_[i] = on;
    vips_[i].drain(vipDrained(i), nowMs);
    dirty_ = true;
    spdlog::info("bgp: VIP {} {}", vip.str(), on ? "drained" : "undrained");
  }
  return true;
}

std::vector<IpAddr> Controller::drainedVips() const {
  std::vector<IpAddr> out;
  for (size_t i = 0; i < vips_.size(); ++i) {
    if (vipDrained(i)) out.push_back(o_.vips[i]);
  }
  return out;
}

void Controller::reconfigure(ControllerOptions o, uint64_t nowMs) {
  for (auto& l : o.lips) l = Prefix{l.network(), l.len};
  for (const auto& old : o_.lips) {
    if (std::find(o.lips.begin(), o.lips.end(), old) == o.lips.end()) o.lips.push_back(old);
  }
  // Backups are taken as given (a removed one is withdrawn by the next reconcile), minus the
  // own LIPs, old ones included.
  normalize(o);
  std::vector<VipState> vips;
  std::vector<bool> healthy;
  std::vector<bool> drain;
  for (const auto& v : o.vips) {
    const auto it = std::find(o_.vips.begin(), o_.vips.end(), v);
    if (it != o_.vips.end()) {
      const auto i = static_cast<size_t>(it - o_.vips.begin());
      vips.push_back(vips_[i]);
      vips.back().setTimers(o.riseMs, o.holdDownMs, o.drainMs);
      healthy.push_back(vipHealthy_[i]);
      drain.push_back(vipDrain_[i]);
    } else {
      vips.emplace_back(o.riseMs, o.holdDownMs, o.drainMs);
      if (draining_ || familyDrain_[index(v.family)]) vips.back().drain(true, nowMs);
      healthy.push_back(false);
      drain.push_back(false);
    }
  }
  o.peers = o_.peers;  // sessions change only with a restart
  o.global = o_.global;
  o_ = std::move(o);
  vips_ = std::move(vips);
  vipHealthy_ = std::move(healthy);
  vipDrain_ = std::move(drain);
  dirty_ = true;
}

void Controller::setAnnounceGate(bool open) {
  if (open == gateOpen_) return;
  gateOpen_ = open;
  dirty_ = true;
  spdlog::info("bgp: announce gate {}", open ? "open: announcing LIPs, backup LIPs and VIPs "
                                               "(after rise)"
                                             : "closed: withdrawing every prefix");
}

void Controller::setDrain(bool on, uint64_t nowMs) {
  if (on == draining_) return;
  draining_ = on;
  for (size_t i = 0; i < vips_.size(); ++i) vips_[i].drain(vipDrained(i), nowMs);
  dirty_ = true;
  spdlog::info("bgp: {}", on ? fmt::format("draining: VIPs carry GRACEFUL_SHUTDOWN for {} ms, "
                                           "then are withdrawn",
                                           o_.drainMs)
                             : std::string("undrained: VIPs are announced again after rise"));
}

void Controller::setFamilyDrain(Family f, bool on, uint64_t nowMs) {
  if (familyDrain_[index(f)] == on) return;
  familyDrain_[index(f)] = on;
  for (size_t i = 0; i < vips_.size(); ++i) {
    if (o_.vips[i].family == f) vips_[i].drain(vipDrained(i), nowMs);
  }
  dirty_ = true;
  spdlog::info("bgp: IPv{} VIPs {}", static_cast<int>(f),
               on ? fmt::format("draining: GRACEFUL_SHUTDOWN for {} ms, then withdrawn", o_.drainMs)
                  : std::string("undrained: announced again after rise"));
}

bool Controller::familyDrainComplete(Family f) const {
  if (!familyDrain_[index(f)]) return false;
  for (size_t i = 0; i < vips_.size(); ++i) {
    if (o_.vips[i].family == f && vips_[i].current() != VipAnnounce::kWithdrawn) return false;
  }
  if (client_ == nullptr) return true;
  return announcedKnown_ && !dirty_ &&
         std::none_of(announced_.begin(), announced_.end(), [&](const PathSpec& p) {
           return p.prefix.addr.family == f && isVip(o_, p.prefix);
         });
}

bool Controller::drainComplete() const {
  if (!draining_) return false;
  if (std::any_of(vips_.begin(), vips_.end(),
                  [](const VipState& v) { return v.current() != VipAnnounce::kWithdrawn; })) {
    return false;
  }
  if (client_ == nullptr) return true;
  return announcedKnown_ && !dirty_ &&
         std::none_of(announced_.begin(), announced_.end(),
                      [&](const PathSpec& p) { return isVip(o_, p.prefix); });
}

void Controller::tick(uint64_t nowMs, bool dataplaneAlive, const std::vector<bool>& vipHealthy) {
  const auto before = desired();
  if (dataplaneAlive != dataplaneAlive_) {
    spdlog::log(dataplaneAlive ? spdlog::level::info : spdlog::level::critical, "bgp: dataplane {}",
                dataplaneAlive ? "alive: announcing LIPs" : "dead: withdrawing every prefix");
  }
  dataplaneAlive_ = dataplaneAlive;
  for (size_t i = 0; i < vips_.size(); ++i) {
    const bool healthy = dataplaneAlive && i < vipHealthy.size() && vipHealthy[i];
    const auto old = vips_[i].current();
    // A closed gate holds every VIP down: its rise counts from the opening.
    const auto now = vips_[i].update(healthy && gateOpen_, nowMs);
    if (now != old) {
      spdlog::info("bgp: VIP {} {} -> {} ({}; hold-down {} ms)", o_.vips[i].str(), toString(old),
                   toString(now),
                   !healthy    ? "not healthy"
                   : gateOpen_ ? "healthy"
                               : "announce gate closed",
                   vips_[i].holdDownMs());
      if (onVipChange_) onVipChange_(o_.vips[i], old, now);
    }
    vipHealthy_[i] = healthy;
  }
  if (desired() != before) dirty_ = true;
  if (client_ == nullptr) return;
  if (dirty_ || nowMs >= nextReconcile_) reconcile(nowMs);
  if (nowMs >= nextPeerPoll_) {
    nextPeerPoll_ = nowMs + o_.peerPollMs;
    pollPeers();
  }
}

void Controller::reconcile(uint64_t nowMs) {
  ++counters_.reconciles;
  std::vector<PathSpec> have;
  if (!outcome("ListPath", client_->listPaths(have))) {
    announcedKnown_ = false;
    dirty_ = true;
    return;
  }
  const auto want = desired();
  bool ok = true;
  for (const auto& w : want) {
    const auto it = std::find_if(have.begin(), have.end(),
                                 [&](const PathSpec& h) { return h.prefix == w.prefix; });
    if (it != have.end() && it->prepend == w.prepend &&
        sorted(it->communities) == sorted(w.communities)) {
      continue;
    }
    if (outcome("AddPath", client_->addPath(w))) {
      ++counters_.pathsAdded;
      spdlog::info("bgp: announce {}{}{}", w.prefix.str(),
                   w.prepend == 0 ? std::string()
                                  : fmt::format(" (backup, AS path prepended {} times)", w.prepend),
                   w.communities.empty() ? std::string() : fmt::format(" (communities {})", [&] {
                     std::string c;
                     for (auto x : w.communities) {
                       if (!c.empty()) c += ' ';
                       c += communityString(x);
                     }
                     return c;
                   }()));
      if (it != have.end()) {
        *it = w;
      } else {
        have.push_back(w);
      }
    } else {
      ok = false;
    }
  }
  for (auto it = have.begin(); it != have.end();) {
    const bool wanted = std::any_of(want.begin(), want.end(),
                                    [&](const PathSpec& w) { return w.prefix == it->prefix; });
    if (wanted) {
      ++it;
      continue;
    }
    if (outcome("DeletePath", client_->deletePath(*it))) {
      ++counters_.pathsDeleted;
      spdlog::info("bgp: withdraw {}", it->prefix.str());
      it = have.erase(it);
    } else {
      ok = false;
      ++it;
    }
  }
  announced_ = std::move(have);
  announcedKnown_ = true;
  dirty_ = !ok;
  nextReconcile_ = nowMs + o_.reconcileMs;
}

void Controller::pollPeers() {
  std::vector<PeerStatus> now;
  if (!outcome("ListPeer", client_->listPeers(now))) return;
  for (const auto& p : now) {
    const auto key = p.address.str();
    const auto it = peers_.find(key);
    if (it == peers_.end() || it->second.established != p.established) {
      if (it != peers_.end() || p.established) {
        ++counters_.peerChanges;
        spdlog::log(p.established ? spdlog::level::info : spdlog::level::warn, "bgp: peer {} {}",
                    key, p.established ? "established" : "down (" + p.state + ")");
      }
    }
    peers_[key] = p;
  }
}

bool Controller::peerEstablished(const IpAddr& peer) const {
  const auto it = peers_.find(peer.str());
  return client_ != nullptr && it != peers_.end() && it->second.established;
}

void Controller::withdrawAll() {
  if (client_ == nullptr) return;
  std::vector<PathSpec> have;
  if (!outcome("ListPath", client_->listPaths(have))) return;
  for (const auto& p : have) {
    if (outcome("DeletePath", client_->deletePath(p))) ++counters_.pathsDeleted;
  }
  announced_.clear();
  announcedKnown_ = true;
}

nlohmann::json Controller::statusJson() const {
  // A document, not formatted text: peer states are gobgpd's strings.
  using nlohmann::json;
  json peers = json::array();
  for (const auto& [addr, p] : peers_) {
    peers.push_back({{"address", addr}, {"state", p.state}, {"established", p.established}});
  }
  json vips = json::array();
  for (size_t i = 0; i < vips_.size(); ++i) {
    vips.push_back({{"vip", o_.vips[i].str()},
                    {"state", toString(vips_[i].current())},
                    {"healthy", static_cast<bool>(vipHealthy_[i])},
                    {"hold_down_ms", vips_[i].holdDownMs()}});
  }
  json announced = json::array();
  for (const auto& p : announced_) {
    json communities = json::array();
    for (auto c : p.communities) communities.push_back(communityString(c));
    announced.push_back({{"prefix", p.prefix.str()},
                         {"communities", std::move(communities)},
                         {"prepend", p.prepend}});
  }
  json backups = json::array();
  for (const auto& b : o_.backupLips) backups.push_back(b.str());
  json families = json::array();
  for (const Family f : {Family::kV4, Family::kV6}) {
    if (familyDrain_[index(f)]) families.push_back(f == Family::kV4 ? "ipv4" : "ipv6");
  }
  return {{"speaker_attached", client_ != nullptr},
          {"announce_gate", gateOpen_ ? "open" : "closed"},
          {"backup_lips", std::move(backups)},
          {"backup_prepend", o_.backupPrepend},
          {"draining", draining_},
          {"draining_families", std::move(families)},
          {"drain_complete", drainComplete()},
          {"peers", std::move(peers)},
          {"vips", std::move(vips)},
          {"announced", std::move(announced)},
          {"announced_known", announcedKnown_},
          {"api_errors", counters_.apiErrors},
          {"paths_added", counters_.pathsAdded},
          {"paths_deleted", counters_.pathsDeleted},
          {"reconciles", counters_.reconciles},
          {"peer_changes", counters_.peerChanges}};
}

}  // namespace anylb::bgp
