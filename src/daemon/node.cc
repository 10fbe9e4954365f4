#include "daemon/node.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "common/process.h"
#include "daemon/probe_source.h"
#include "daemon/service_state.h"
#include "dataplane/worker_ctx.h"
#include "health/check_prober.h"

namespace anylb {

namespace {
// A service as ipvsadm names it: "10.100.0.10:80/tcp", "[fd00:100::10]:80/tcp".
std::string serviceKey(const config::Service& svc) {
  return fmt::format("{}/{}", Endpoint{svc.vip, svc.port}.str(), config::toString(svc.protocol));
}
}  // namespace

// The config validator bounds what the dataplane holds in fixed arrays by its own copies of
// the limits (the config library sits below the dataplane); they must stay the same numbers.
static_assert(config::kMaxDpdkPorts == dataplane::kMaxPorts);
static_assert(config::kMaxNextHops == dataplane::kMaxNeighbors);
static_assert(config::kMaxRealServers == fullnat::kMaxRsStats);

Node::Node(boost::asio::io_context& io, config::Config cfg)
    : io_(io), cfg_(std::move(cfg)), dataplane_(cfg_), vipHooks_(io) {
  indexRealServers();
}

void Node::indexRealServers() {
  rsById_.clear();
  sorryIds_.assign(cfg_.services.size(), UINT32_MAX);
  for (size_t s = 0; s < cfg_.services.size(); ++s) {
    if (const auto& sorry = cfg_.services[s].sorryServer) {
      // The same id Snapshot::build gives it (the registry's key is service, address, port).
      config::RealServer asRs;
      asRs.address = sorry->addr;
      asRs.port = sorry->port;
      sorryIds_[s] = registry_.idFor(cfg_.services[s], asRs);
    }
    for (size_t r = 0; r < cfg_.services[s].realServers.size(); ++r) {
      rsById_[registry_.idFor(cfg_.services[s], cfg_.services[s].realServers[r])] = {s, r};
    }
  }
}

uint32_t Node::effectiveWeight(uint32_t rsId) const {
  const auto it = rsById_.find(rsId);
  if (it == rsById_.end()) return 0;
  const auto state = health_ ? health_->state(rsId) : health::State::kUnknown;
  if (state == health::State::kDown) return 0;
  // keepalived's alpha: an RS whose state is not known yet gets no new sessions until its
  // rise probes pass (without alpha it serves from the start, as before).
  const auto& rs = cfg_.services[it->second.service].realServers[it->second.rs];
  if (state == health::State::kUnknown && rs.check.alpha) return 0;
  // A misc_dynamic script's weight rules while it is set: the script is the operator's
  // standing instruction, as in keepalived (where it overwrites ipvsadm -e at the next check).
  if (health_) {
    if (const auto w = health_->rsStats(rsId).dynamicWeight) return *w;
  }
  const auto op = opWeights_.find(rsId);
  return op != opWeights_.end() ? op->second : rs.weight;
}

bool Node::recomputeWeights() {
  std::map<uint32_t, uint32_t> next;
  for (const auto& [rsId, ref] : rsById_) {
    const uint32_t w = effectiveWeight(rsId);
    if (w != cfg_.services[ref.service].realServers[ref.rs].weight) next[rsId] = w;
  }
  if (next == weights_) return false;
  weights_ = std::move(next);
  return true;
}

bool Node::updateServiceStates() {
  std::vector<bool> sorry(cfg_.services.size(), false);
  std::map<std::string, bool> quorum;
  for (size_t i = 0; i < cfg_.services.size(); ++i) {
    const auto& svc = cfg_.services[i];
    const std::string key = serviceKey(svc);
    const auto h = serviceHealth(i);  // still the previous quorum state
    const bool was = h.quorumMet;
    const bool met = quorumMet(was, h.healthyWeight, svc.quorum, svc.hysteresis);
    quorum[key] = met;
    if (svc.quorum != 0 && met != was && quorumMet_.contains(key)) {
      spdlog::log(met ? spdlog::level::info : spdlog::level::warn,
                  "service {}: quorum {}: healthy weight {} (quorum {}, hysteresis {})", key,
                  met ? "regained" : "lost", h.healthyWeight, svc.quorum, svc.hysteresis);
    }
    sorry[i] = serviceVerdict(h.healthy, h.minHealthy, met, svc.sorryServer.has_value()).sorry;
    const bool before = i < sorryActive_.size() && sorryActive_[i];
    if (sorry[i] != before) {
      spdlog::log(sorry[i] ? spdlog::level::warn : spdlog::level::info,
                  "service {}: {} ({} of {} real servers healthy, min_healthy {}, quorum {})", key,
                  sorry[i] ? "new sessions go to the sorry server " + svc.sorryServer->str()
                           : "new sessions go to the real servers again",
                  h.healthy, h.total, h.minHealthy, met ? "met" : "lost");
    }
  }
  quorumMet_ = std::move(quorum);  // services a reload removed are forgotten
  const bool changed = sorry != sorryActive_;
  sorryActive_ = std::move(sorry);
  return changed;
}

void Node::republish() {
  const bool weights = recomputeWeights();
  const bool sorry = updateServiceStates();
  if (weights || sorry) dataplane_.publish(buildSnapshot());
}

std::shared_ptr<const fullnat::Snapshot> Node::buildSnapshot() {
  return fullnat::Snapshot::build(cfg_, ++generation_, cfg_.dataplane.workers, registry_, weights_,
                                  sorryActive_);
}

std::optional<IpAddr> Node::probeSource(Family family) const {
  return probeSourceFor(cfg_.uplinks, uplinksUp_, family);
}

bool Node::tick() {
  const bool alive = dataplane_.tick();
  // A probe bound to the address of an uplink whose link is down cannot leave (the kernel's
  // policy rule sends it out of that uplink): move the probes to a live one. Targets keep
  // their state; the source applies from the next probe.
  auto up = dataplane_.uplinksUp();
  if (up != uplinksUp_) {
    const auto before4 = probeSource(Family::kV4);
    const auto before6 = probeSource(Family::kV6);
    uplinksUp_ = std::move(up);
    const auto after4 = probeSource(Family::kV4);
    const auto after6 = probeSource(Family::kV6);
    if (health_ && (before4 != after4 || before6 != after6)) {
      spdlog::info("health: probes now leave from {} (IPv4), {} (IPv6)",
                   after4 ? after4->str() : "-", after6 ? after6->str() : "-");
      health_->setTargets(targets());
    }
  }
  return alive;
}

std::vector<health::Target> Node::targets() const {
  std::vector<health::Target> out;
  // Probes leave from an uplink address of the RS's family, through the exception path.
  const std::optional<IpAddr> source4 = probeSource(Family::kV4);
  const std::optional<IpAddr> source6 = probeSource(Family::kV6);
  for (const auto& [rsId, ref] : rsById_) {
    const auto& svc = cfg_.services[ref.service];
    const auto& rs = svc.realServers[ref.rs];
    health::Target t;
    t.rsId = rsId;
    t.service = svc.name.empty() ? serviceKey(svc) : svc.name;
    t.address = rs.address;
    t.port = rs.port;
    t.check = rs.check;
    t.source = rs.address.isV4() ? source4 : source6;
    t.notify = svc.notify;
    t.notifyUp = rs.notifyUp;
    t.notifyDown = rs.notifyDown;
    out.push_back(std::move(t));
  }
  return out;
}

class Node::SyncWorkers : public sync::Workers {
 public:
  explicit SyncWorkers(dataplane::Dataplane& dp) : dp_(dp) {}
  [[nodiscard]] uint16_t count() const override { return dp_.workerCount(); }
  [[nodiscard]] sync::EventRing* out(uint16_t w) const override { return dp_.syncOut(w); }
  [[nodiscard]] sync::EventRing* in(uint16_t w) const override { return dp_.syncIn(w); }
  [[nodiscard]] uint16_t ownerOf(uint16_t lportBe) const override {
    return fullnat::Worker::ownerOf(lportBe, dp_.workerCount());
  }
  bool startBulk(uint16_t dest) override { return dp_.startBulk(dest); }

 private:
  dataplane::Dataplane& dp_;
};

Node::~Node() {
  if (sync_) sync_->stop();
}

std::string Node::start() {
  std::optional<sync::Key> key;
  if (cfg_.sync.enabled) {
    std::string err;
    key = sync::loadKey(cfg_.sync.keyFile, err);
    if (!key) return "sync.key_file: " + err;
  }
  updateServiceStates();  // nothing is healthy yet: a sorry server serves from the start
  if (auto err = dataplane_.start(buildSnapshot()); !err.empty()) return err;
  if (cfg_.sync.enabled) {
    // After the dataplane: the socket binds a node address, which lives on the uplink's TAP.
    sync::ServiceOptions o;
    o.nodeId = static_cast<uint16_t>(cfg_.sync.nodeId);
    o.bind = cfg_.sync.address ? *cfg_.sync.address : cfg_.uplinks.at(0).address.addr;
    o.port = static_cast<uint16_t>(cfg_.sync.port);
    o.key = *key;
    o.replicas = cfg_.sync.replicas;
    o.bulkTimeoutMs = cfg_.sync.bulkTimeoutMs;
    // Bulk datagrams stay under the receiver's exception-path rate for one peer.
    o.bulkDatagramsPerSecond =
        std::max<uint32_t>(100, cfg_.dataplane.exceptionPolicer.peerRate * 4 / 5);
    o.peers = cfg_.sync.peers;
    syncWorkers_ = std::make_unique<SyncWorkers>(dataplane_);
    sync_ = std::make_unique<sync::Service>(std::move(o), *syncWorkers_);
    sync_->start();
  }
  health_ =
      std::make_unique<health::HealthChecker>(io_, std::make_unique<health::CheckProber>(io_));
  health_->onChange([this](const health::Change& c) { onHealthChange(c); });
  health_->onWeightChange([this](uint32_t) { republish(); });
  health_->setTargets(targets());
  return {};
}

nlohmann::json Node::syncJson() const {
  if (!sync_) return {{"enabled", false}};
  auto j = sync_->statusJson();
  j["enabled"] = true;
  const auto t = dataplane_.syncTotals();
  j["workers"] = {{"events_out", t.eventsOut.load()},
                  {"events_lost", t.eventsLost.load()},
                  {"installed", t.installed.load()},
                  {"updated", t.updated.load()},
                  {"replaced", t.replaced.load()},
                  {"conflicts", t.conflicts.load()},
                  {"replica_full", t.replicaFull.load()},
                  {"invalid", t.invalid.load()},
                  {"deleted", t.deleted.load()},
                  {"adopted", t.adopted.load()},
                  {"skipped_shifted", t.skippedShifted.load()},
                  {"bulk_sent", t.bulkSent.load()},
                  {"replicas", t.replicas.load()}};
  return j;
}

void Node::stop() {
  if (sync_) sync_->stop();
  // keepalived's omega: the up RS run their notify_down, the announced VIPs their quorum_down.
  if (health_) health_->stopOmega();
  for (const auto& vip : std::vector<IpAddr>(announced_.begin(), announced_.end())) {
    runQuorumHooks(cfg_.services, vip, false, true);
  }
  announced_.clear();
  health_.reset();
  dataplane_.stop();
}

void Node::onHealthChange(const health::Change& c) {
  const auto it = rsById_.find(c.rsId);
  if (it == rsById_.end()) return;
  const auto& svc = cfg_.services[it->second.service];
  // Unknown keeps serving (a node that just started must not refuse everything) unless the
  // check has alpha; Down gets weight 0: existing sessions finish, no new ones. The healthy
  // count and weight may switch the service to or from its sorry server.
  republish();
  if (c.to == health::State::kDown && svc.onRsDown == config::OnRemove::kFlush) {
    dataplane_.flushRealServer(c.rsId);
  }
  const auto h = serviceHealth(it->second.service);
  if (h.healthy < h.minHealthy && !h.sorryActive) {
    spdlog::warn("service {}:{}: {} of {} real servers healthy, below min_healthy {}",
                 svc.vip.str(), svc.port, h.healthy, h.total, h.minHealthy);
  }
}

Node::ServiceHealth Node::serviceHealth(size_t service) const {
  ServiceHealth h;
  const auto& svc = cfg_.services[service];
  h.minHealthy = svc.minHealthy;
  for (const auto& [rsId, ref] : rsById_) {
    if (ref.service != service) continue;
    ++h.total;
    if (health_ && health_->state(rsId) == health::State::kUp) {
      ++h.healthy;
      h.healthyWeight += effectiveWeight(rsId);
    }
  }
  const auto q = quorumMet_.find(serviceKey(svc));
  h.quorumMet = svc.quorum == 0 || (q != quorumMet_.end() && q->second);
  h.sorryActive = service < sorryActive_.size() && sorryActive_[service];
  return h;
}

std::vector<bool> Node::vipHealth(const std::vector<IpAddr>& vips) const {
  std::vector<bool> out(vips.size(), false);
  for (size_t v = 0; v < vips.size(); ++v) {
    bool any = false;
    bool all = true;
    for (size_t i = 0; i < cfg_.services.size(); ++i) {
      if (cfg_.services[i].vip != vips[v]) continue;
      any = true;
      const auto h = serviceHealth(i);
      all = all && serviceVerdict(h.healthy, h.minHealthy, h.quorumMet,
                                  cfg_.services[i].sorryServer.has_value())
                       .announce();
    }
    out[v] = any && all;
  }
  return out;
}

void Node::onVipAnnouncement(const IpAddr& vip, bool up) {
  if (up) {
    announced_.insert(vip);
  } else {
    announced_.erase(vip);
  }
  runQuorumHooks(cfg_.services, vip, up, false);
}

bool Node::hasOmega(const config::Service& svc) {
  return std::any_of(svc.realServers.begin(), svc.realServers.end(),
                     [](const config::RealServer& rs) { return rs.check.omega; });
}

void Node::runQuorumHooks(const std::vector<config::Service>& services, const IpAddr& vip, bool up,
                          bool omegaOnly) {
  for (const auto& svc : services) {
    if (svc.vip != vip) continue;
    if (omegaOnly && !hasOmega(svc)) continue;
    const std::string& command = up ? svc.quorumUp : svc.quorumDown;
    if (command.empty()) continue;
    auto argv = splitCommandLine(command);  // validated at load
    if (!argv) continue;
    argv->insert(argv->end(), {vip.str(), up ? "up" : "down"});
    vipHooks_.run(std::move(*argv));
  }
}

nlohmann::json Node::statsJson() const {
  using nlohmann::json;
  json st = dataplane_.statsJson();
  st["generation"] = dataplane_.generation();
  json services = json::array();
  for (size_t i = 0; i < cfg_.services.size(); ++i) {
    const auto& svc = cfg_.services[i];
    const auto h = serviceHealth(i);
    json rsList = json::array();
    for (const auto& [rsId, ref] : rsById_) {
      if (ref.service != i) continue;
      const auto& rs = svc.realServers[ref.rs];
      const auto w = weights_.find(rsId);
      const auto ps = health_ ? health_->rsStats(rsId) : health::HealthChecker::RsProbeStats{};
      rsList.push_back(
          {{"address", Endpoint{rs.address, rs.port}.str()},
           {"state", health::toString(health_ ? health_->state(rsId) : health::State::kUnknown)},
           {"weight", w == weights_.end() ? rs.weight : w->second},
           {"configured_weight", rs.weight},
           {"check", config::toString(rs.check.kind)},
           {"probes", ps.probes},
           {"probe_failures", ps.failures}});
    }
    services.push_back({{"vip", serviceKey(svc)},
                        {"healthy", h.healthy},
                        {"total", h.total},
                        {"min_healthy", h.minHealthy},
                        {"healthy_weight", h.healthyWeight},
                        {"quorum", svc.quorum},
                        {"quorum_met", h.quorumMet},
                        {"sorry_server", svc.sorryServer ? nlohmann::json(svc.sorryServer->str())
                                                         : nlohmann::json(nullptr)},
                        {"sorry_active", h.sorryActive},
                        {"real_servers", std::move(rsList)}});
  }
  st["services"] = std::move(services);
  if (health_) {
    const auto hs = health_->stats();
    // One decimal, as before: a p99 in ms needs no more.
    st["health"] = {{"probes", hs.probes},
                    {"failures", hs.failures},
                    {"changes", hs.changes},
                    {"lag_p99_ms", std::round(hs.lagP99Ms * 10) / 10}};
  }
  return st;
}

}  // namespace anylb
