// Dataplane set-up and the control thread's side of it. The packet loop is worker_loop.cc.
#include "dataplane/dataplane.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_lcore.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <sys/random.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "common/process.h"
#include "dataplane/nd.h"
#include "dataplane/worker_ctx.h"

namespace anylb::dataplane {

namespace {
const char* const kDpDropNames[] = {
#define ANYLB_X(id, name, help) name,
    ANYLB_DP_DROPS(ANYLB_X)
#undef ANYLB_X
};

}  // namespace

namespace {
// Nanoseconds the thread `tid` of this process has run on a CPU (first field of its
// schedstat), or 0 if unknown. Control thread; one small file read.
uint64_t threadCpuNs(pid_t tid) {
  if (tid == 0) return 0;
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", static_cast<int>(tid));
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return 0;
  unsigned long long ns = 0;
  if (std::fscanf(f, "%llu", &ns) != 1) ns = 0;
  std::fclose(f);
  return ns;
}
}  // namespace

const char* dpDropName(DpDrop d) {
  return kDpDropNames[static_cast<unsigned>(d)];
}

Dataplane::Dataplane(const config::Config& cfg)
    : cfg_(cfg),
      workers_(static_cast<uint16_t>(cfg.dataplane.workers)),
      neighbors_(16),
      snapshots_(workers_) {}

Dataplane::~Dataplane() {
  stop();
}

uint64_t Dataplane::nowMs() const {
  return clock_.msAt(rte_rdtsc());
}

std::string Dataplane::initEal() {
  std::vector<std::string> args = {"anylbd"};
  bool haveLcores = false;
  for (const auto& a : cfg_.dataplane.ealArgs) {
    haveLcores = haveLcores || a == "-l" || a == "-c" || a.rfind("--lcores", 0) == 0;
    args.push_back(a);
  }
  if (!haveLcores) {
    // Main lcore 0 (control thread) and one lcore per worker, mapped onto the CPUs that exist
    // (a lab on 2 CPUs can still run 2 workers).
    const long cpus = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
    std::string map = "0@0";
    for (uint16_t w = 0; w < workers_; ++w) {
      const uint32_t lcore =
          cfg_.dataplane.workerLcores.empty() ? w + 1U : cfg_.dataplane.workerLcores[w];
      map += fmt::format(",{}@{}", lcore, lcore % cpus);
    }
    args.push_back("--lcores=" + map);
  }
  for (const auto& p : cfg_.dataplane.ports) {
    args.push_back(p.isVdev() ? "--vdev=" + p.device : "--allow=" + p.device);
  }
  spdlog::info("EAL: {}", joinArgs(args));
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (auto& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    return fmt::format("EAL initialisation failed: {} (arguments: {})", rte_strerror(rte_errno),
                       joinArgs(args));
  }
  ealUp_ = true;
  clock_ = TscClock(rte_get_tsc_hz(), rte_rdtsc());
  return {};
}

std::string Dataplane::start(const std::shared_ptr<const fullnat::Snapshot>& snap) {
  if (auto err = initEal(); !err.empty()) return err;
  if (rte_lcore_count() < workers_ + 1U) {
    return fmt::format("{} lcores for {} workers plus the control thread", rte_lcore_count(),
                       workers_);
  }
  if (auto err = initPorts(); !err.empty()) {
    stop();
    return err;
  }
  configureKernelSide();
  // Exception-path policing: the BGP/BFD peers are the uplinks' ToRs (peer -> uplink address).
  ExceptionPolicerConfig police;
  const auto& pcfg = cfg_.dataplane.exceptionPolicer;
  police.enabled = pcfg.enabled;
  police.peer = {pcfg.peerRate, pcfg.peerBurst};
  police.realServer = {pcfg.realServerRate, pcfg.realServerBurst};
  police.arpIcmp = {pcfg.arpIcmpRate, pcfg.arpIcmpBurst};
  police.other = {pcfg.otherRate, pcfg.otherBurst};
  for (const auto& u : cfg_.uplinks) {
    if (police.peerCount == police.peers.size() || !u.peerAddress.isV4()) continue;
    police.peers[police.peerCount++] = {rawOf(u.peerAddress), rawOf(u.address.addr)};
  }
  // Session-sync peers (IPv4, the validator's rule): their datagrams to the sync socket.
  if (cfg_.sync.enabled && !cfg_.uplinks.empty()) {
    const IpAddr local = cfg_.sync.address ? *cfg_.sync.address : cfg_.uplinks[0].address.addr;
    for (const auto& p : cfg_.sync.peers) {
      if (police.peerCount == police.peers.size() || !p.address.isV4() || !local.isV4()) continue;
      police.peers[police.peerCount++] = {rawOf(p.address), rawOf(local),
                                          static_cast<uint16_t>(cfg_.sync.port)};
    }
  }
  // The IPv6 BGP session (and its BFD) of a dual-stack uplink: peer_address6 on the node's
  // address6; without one, the ToR's gateway6 (the ND and ICMPv6 the link needs).
  for (const auto& u : cfg_.uplinks) {
    if (police.peer6Count == police.peers6.size() || !u.address6 || !u.gateway6) continue;
    auto& p6 = police.peers6[police.peer6Count++];
    const IpAddr& peer6 = u.peerAddress6 ? *u.peerAddress6 : *u.gateway6;
    std::memcpy(p6.peer.data(), peer6.bytes.data(), 16);
    std::memcpy(p6.local.data(), u.address6->addr.bytes.data(), 16);
  }
  // The health checks' replies come from the RS addresses (the config's at start).
  for (const auto& svc : cfg_.services) {
    for (const auto& rs : svc.realServers) {
      if (!rs.address.isV4()) {
        if (police.realServer6Count == police.realServers6.size()) continue;
        std::memcpy(police.realServers6[police.realServer6Count++].data(), rs.address.bytes.data(),
                    16);
        continue;
      }
      if (police.realServerCount == police.realServersRaw.size()) continue;
      police.realServersRaw[police.realServerCount++] = rawOf(rs.address);
    }
  }
  // One SYN-cookie secret for the node (fullnat/synproxy.h): a cookie any worker handed out is
  // valid on every worker. From the kernel's CSPRNG; never leaves the process.
  SipKey cookieKey{};
  if (getrandom(&cookieKey, sizeof(cookieKey), 0) != static_cast<ssize_t>(sizeof(cookieKey))) {
    throw std::runtime_error("getrandom: no SYN-cookie secret");
  }
  // One table of persistence templates for the node, shared by the workers (a client's
  // connections reach different workers): 64 Ki slots per worker, as many as each worker had
  // of its own before, 64 bytes each.
  auto persist = std::make_shared<fullnat::PersistTable>(65536U * workers_);
  unsigned lcore = rte_get_next_lcore(-1, 1, 0);
  for (uint16_t w = 0; w < workers_; ++w, lcore = rte_get_next_lcore(lcore, 1, 0)) {
    auto ctx = std::make_unique<WorkerCtx>();
    ctx->id = w;
    ctx->dp = this;
    ctx->policer = ExceptionPolicer(police, nowMs());
    fullnat::EngineOptions opts;
    opts.randomPortStart = true;  // no reuse of the tuples a previous run left in TIME_WAIT
    opts.cookieKey = cookieKey;
    opts.persistTable = persist;
    ctx->engine =
        std::make_unique<fullnat::Worker>(w, workers_, cfg_.dataplane.sessionCapacity, opts);
    ctx->engine->setSnapshot(snap);  // owning until its first switch; also retained below
    if (cfg_.sync.enabled) {
      ctx->syncOut = std::make_unique<fullnat::SyncRing>(kSyncOutRing);
      ctx->syncIn = std::make_unique<fullnat::SyncRing>(kSyncInRing);
      const uint64_t share =
          uint64_t{cfg_.dataplane.sessionCapacity} * cfg_.sync.replicaSharePercent / 100;
      ctx->engine->setSync(ctx->syncOut.get(), cfg_.sync.refreshSeconds * 1000U,
                           static_cast<uint32_t>(share));
    }
    ctx->lcore = lcore;
    ctx_.push_back(std::move(ctx));
  }
  snapshots_.publish(snap);
  lastHeartbeat_.assign(workers_, 0);
  heartbeatStallMs_.assign(workers_, 0);
  synproxyEdges_.assign(workers_, 0);
  for (auto& c : ctx_) {
    if (rte_eal_remote_launch(workerMain, c.get(), c->lcore) != 0) {
      stop();
      return fmt::format("cannot launch worker {} on lcore {}", c->id, c->lcore);
    }
  }
  running_ = true;
  // Announce ourselves and start resolving the gateways (and static next hops) at once. The
  // Neighbor Solicitations carry our MAC, which is what the gateway6 learns us from.
  for (const auto& u : uplinks_) sendArpRequest(*u, u->addrRaw, true);
  for (size_t i = 0; i < neighbors_.size(); ++i) solicit(i);
  return {};
}

void Dataplane::stop() {
  stop_ = true;
  if (running_) {
    rte_eal_mp_wait_lcore();
    running_ = false;
  }
  if (ealUp_) {
    uint16_t port;
    RTE_ETH_FOREACH_DEV(port) {
      rte_flow_error err{};
      rte_flow_flush(port, &err);  // reply-steering rules, where there are any
      rte_eth_promiscuous_disable(port);
      rte_eth_dev_stop(port);
      rte_eth_dev_close(port);
    }
    for (const auto& u : uplinks_) {
      if (u->iface.empty()) continue;
      runCommand({"ip", "link", "set", "dev", u->iface, "arp", "on"});
      runCommand({"sysctl", "-qw",
                  fmt::format("net.ipv4.conf.{}.rp_filter={}", u->iface, u->savedRpFilter)});
      if (!u->savedDisableIpv6.empty()) {
        runCommand(
            {"sysctl", "-qw",
             fmt::format("net.ipv6.conf.{}.disable_ipv6={}", u->iface, u->savedDisableIpv6)});
      }
    }
    ctx_.clear();
    rte_eal_cleanup();
    ealUp_ = false;
  }
}

void Dataplane::sendArpRequest(const UplinkRt& u, uint32_t targetRaw, bool gratuitous) {
  rte_mbuf* m = rte_pktmbuf_alloc(controlPool_);
  if (m == nullptr) return;
  auto* eth = reinterpret_cast<rte_ether_hdr*>(
      rte_pktmbuf_append(m, sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)));
  if (eth == nullptr) {
    rte_pktmbuf_free(m);
    return;
  }
  std::memset(eth->dst_addr.addr_bytes, 0xFF, 6);
  std::memcpy(eth->src_addr.addr_bytes, &u.mac, 6);
  eth->ether_type = htons(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
  arp->arp_hardware = htons(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = 6;
  arp->arp_plen = 4;
  arp->arp_opcode = htons(RTE_ARP_OP_REQUEST);
  std::memcpy(arp->arp_data.arp_sha.addr_bytes, &u.mac, 6);
  arp->arp_data.arp_sip = u.addrRaw;
  std::memset(arp->arp_data.arp_tha.addr_bytes, 0, 6);
  arp->arp_data.arp_tip = gratuitous ? u.addrRaw : targetRaw;
  m->port = u.port;
  if (rte_ring_enqueue(controlTx_, m) != 0) rte_pktmbuf_free(m);
}

void Dataplane::sendNeighborSolicit(const UplinkRt& u, const Addr6& target) {
  if (!u.has6) return;
  rte_mbuf* m = rte_pktmbuf_alloc(controlPool_);
  if (m == nullptr) return;
  auto* frame = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t mac[6];
  std::memcpy(mac, &u.mac, 6);
  const size_t len = nd::buildSolicit({frame, rte_pktmbuf_tailroom(m)}, mac, u.addr6, target);
  if (len == 0 || rte_pktmbuf_append(m, static_cast<uint16_t>(len)) == nullptr) {
    rte_pktmbuf_free(m);
    return;
  }
  m->port = u.port;
  if (rte_ring_enqueue(controlTx_, m) != 0) rte_pktmbuf_free(m);
}

void Dataplane::solicit(size_t neighbor) {
  const auto& n = neighbors_.at(neighbor);
  const auto& u = *uplinks_[n.uplink];
  if (n.v6) {
    sendNeighborSolicit(u, n.ip6);
  } else {
    sendArpRequest(u, n.ipRaw, false);
  }
}

void Dataplane::publish(std::shared_ptr<const fullnat::Snapshot> snap) {
  snapshots_.publish(std::move(snap));
  snapshots_.reclaim();  // the ones replaced earlier that every worker has left
}

fullnat::SyncRing* Dataplane::syncOut(uint16_t w) const {
  return w < ctx_.size() ? ctx_[w]->syncOut.get() : nullptr;
}

fullnat::SyncRing* Dataplane::syncIn(uint16_t w) const {
  return w < ctx_.size() ? ctx_[w]->syncIn.get() : nullptr;
}

bool Dataplane::startBulk(uint16_t dest) {
  if (dest == 0 || ctx_.empty() || ctx_[0]->syncOut == nullptr || bulkRunning()) return false;
  for (auto& c : ctx_) c->bulkDest.store(dest, std::memory_order_release);
  return true;
}

bool Dataplane::bulkRunning() const {
  return std::any_of(ctx_.begin(), ctx_.end(), [](const auto& c) {
    return c->bulkDest.load(std::memory_order_acquire) != 0;
  });
}

fullnat::SyncCounters Dataplane::syncTotals() const {
  fullnat::SyncCounters t;
  for (const auto& c : ctx_) {
    const auto& s = c->engine->syncCounters();
    t.eventsOut += s.eventsOut.load();
    t.eventsLost += s.eventsLost.load();
    t.installed += s.installed.load();
    t.updated += s.updated.load();
    t.replaced += s.replaced.load();
    t.conflicts += s.conflicts.load();
    t.replicaFull += s.replicaFull.load();
    t.invalid += s.invalid.load();
    t.deleted += s.deleted.load();
    t.adopted += s.adopted.load();
    t.skippedShifted += s.skippedShifted.load();
    t.bulkSent += s.bulkSent.load();
    t.replicas = t.replicas.load() + s.replicas.load();
  }
  return t;
}

void Dataplane::flushRealServer(uint32_t rsId) {
  // A command is one pointer-sized word: no allocation, nothing to free.
  for (auto* ring : commands_) {
    const uintptr_t word = (uintptr_t{kCmdFlushRs} << 32) | rsId;
    // NOLINTNEXTLINE(performance-no-int-to-ptr): the ring carries words, not pointers
    if (rte_ring_enqueue(ring, reinterpret_cast<void*>(word)) != 0) {
      spdlog::error("flush of rs {} not queued: worker command ring full", rsId);
    }
  }
}

std::vector<fullnat::RsStats> Dataplane::rsStats(uint32_t limit) const {
  std::vector<fullnat::RsStats> out(std::min(limit, fullnat::kMaxRsStats));
  for (const auto& c : ctx_) {
    const fullnat::RsStats* w = c->engine->rsStats();
    for (size_t i = 0; i < out.size(); ++i) {
      out[i].conns += w[i].conns;
      out[i].inPackets += w[i].inPackets;
      out[i].outPackets += w[i].outPackets;
      out[i].inBytes += w[i].inBytes;
      out[i].outBytes += w[i].outBytes;
      out[i].active += w[i].active;
      out[i].inactive += w[i].inactive;
      if (w[i].overloaded != 0) out[i].overloaded = 1;  // overloaded on some worker
    }
  }
  return out;
}

Dataplane::TemplateList Dataplane::listTemplates(
    size_t limit, const std::function<bool(const fullnat::PersistTemplate&)>& match) const {
  TemplateList out;
  out.nowMs = nowMs();
  if (ctx_.empty()) return out;
  // Every worker shares one table (start()), so the first worker's is the node's.
  ctx_.front()->engine->persistTable().forEachLive(out.nowMs, [&](const auto& t) {
    if (!match(t)) return;
    ++out.matched;
    if (out.templates.size() < limit) out.templates.push_back(t);
  });
  return out;
}

std::vector<uint32_t> Dataplane::persistentConns(uint32_t limit) const {
  std::vector<uint32_t> out(limit, 0);
  if (ctx_.empty()) return out;
  ctx_.front()->engine->persistTable().forEachLive(nowMs(), [&](const auto& t) {
    if (t.rsId < out.size()) ++out[t.rsId];
  });
  return out;
}

Dataplane::SessionList Dataplane::listSessions(const fullnat::SessionFilter& f, size_t limit) {
  SessionList out;
  // A worker clears its query pointer only after it has written its slot; until every worker
  // has let go of an abandoned listing, it stays alive here.
  std::erase_if(abandoned_, [&](const std::shared_ptr<SessionQuery>& q) {
    return std::none_of(ctx_.begin(), ctx_.end(), [&](const auto& c) {
      return c->query.load(std::memory_order_acquire) == q.get();
    });
  });
  if (!running_) {
    out.complete = false;
    return out;
  }
  auto q = std::make_shared<SessionQuery>();
  q->filter = f;
  q->limit = limit;
  q->perWorker.resize(ctx_.size());
  // The workers append without allocating (the API caps limit at 10000).
  for (auto& v : q->perWorker) v.reserve(std::min<size_t>(limit, 16384));
  q->matched.assign(ctx_.size(), 0);
  q->cursor.assign(ctx_.size(), 0);
  std::vector<bool> asked(ctx_.size(), false);
  for (size_t w = 0; w < ctx_.size(); ++w) {
    SessionQuery* none = nullptr;
    // A worker still busy with an abandoned listing (stalled) is not asked again.
    asked[w] = ctx_[w]->query.compare_exchange_strong(none, q.get(), std::memory_order_acq_rel);
  }
  auto answered = [&](size_t w) {
    return asked[w] && ctx_[w]->query.load(std::memory_order_acquire) != q.get();
  };
  auto allAnswered = [&] {
    for (size_t w = 0; w < ctx_.size(); ++w) {
      if (!answered(w)) return false;
    }
    return true;
  };
  // Workers walk kListBucketsPerStep index buckets per loop iteration (at most a few tens of
  // µs) and do not idle-sleep meanwhile. Allow 500 ms plus 100 µs per step, at most 5 s: a
  // 4 M-session table (2 M buckets, 8192 steps) gets 1.3 s; tables above ~40 M sessions per
  // worker may come back incomplete rather than hold the control thread longer.
  uint32_t steps = 0;
  for (const auto& c : ctx_) {
    steps = std::max(steps, (c->engine->sessions().bucketCount() + kListBucketsPerStep - 1) /
                                kListBucketsPerStep);
  }
  const auto wait = std::min(
      std::chrono::microseconds(500'000) + std::chrono::microseconds(uint64_t{steps} * 100),
      std::chrono::microseconds(5'000'000));
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (!allAnswered() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  for (size_t w = 0; w < ctx_.size(); ++w) {
    if (!answered(w)) {
      out.complete = false;
      continue;
    }
    out.matched += q->matched[w];
    for (const auto& s : q->perWorker[w]) {
      if (out.sessions.size() < limit) out.sessions.push_back(s);
    }
  }
  if (!out.complete) abandoned_.push_back(std::move(q));
  return out;
}

std::vector<bool> Dataplane::uplinksUp() const {
  std::vector<bool> out;
  out.reserve(uplinks_.size());
  for (const auto& u : uplinks_) out.push_back(u->linkUp.load(std::memory_order_relaxed));
  return out;
}

bool Dataplane::tick() {
  const uint64_t now = nowMs();
  // Free the snapshots that no worker can use any more (the current one always stays).
  snapshots_.reclaim();
  for (const auto& u : uplinks_) {
    bool up = false;
    if (!u->iface.empty()) {
      // net_af_packet does not report link changes: read the interface's carrier.
      std::FILE* f = std::fopen(fmt::format("/sys/class/net/{}/carrier", u->iface).c_str(), "r");
      int c = 0;
      if (f != nullptr) {
        up = std::fscanf(f, "%d", &c) == 1 && c == 1;
        std::fclose(f);
      }
    } else {
      rte_eth_link link{};
      rte_eth_link_get_nowait(u->port, &link);
      up = link.link_status == RTE_ETH_LINK_UP;
    }
    if (up != u->linkUp.exchange(up)) {
      spdlog::warn("uplink {}: link {}", u->name, up ? "up" : "down");
      if (up) sendArpRequest(*u, u->addrRaw, true);
    }
  }
  for (size_t i = 0; i < neighbors_.size(); ++i) {
    auto& n = neighbors_.at(i);
    const auto& u = *uplinks_[n.uplink];
    const bool resolved = n.resolved.load(std::memory_order_acquire);
    const uint64_t age = now - n.lastSeenMs.load();
    // Unresolved: ask every tick. Resolved: refresh before it goes stale (ToRs answer fast).
    // The same schedule and ageing for ARP and Neighbor Discovery.
    if (!resolved || age > 15000) solicit(i);
    if (resolved && age > 60000) {
      n.resolved.store(false);
      spdlog::warn("neighbor {} on {}: no {} for 60 s, unresolved", neighbors_.addressString(i),
                   u.name, n.v6 ? "Neighbor Advertisement" : "ARP");
    }
  }
  bool alive = true;
  const auto elapsed = static_cast<uint32_t>(lastTickMs_ == 0 ? 0 : now - lastTickMs_);
  lastTickMs_ = now;
  for (size_t w = 0; w < ctx_.size(); ++w) {
    const uint64_t hb = ctx_[w]->heartbeat.load();
    if (hb == lastHeartbeat_[w]) {
      heartbeatStallMs_[w] += elapsed;
      if (heartbeatStallMs_[w] >= 2000) {
        if (heartbeatStallMs_[w] - elapsed < 2000) spdlog::error("worker {} stalled", w);
        alive = false;
      }
    } else {
      if (heartbeatStallMs_[w] >= 2000) spdlog::info("worker {} running again", w);
      heartbeatStallMs_[w] = 0;
    }
    lastHeartbeat_[w] = hb;
    // syn_proxy = "auto": each engagement and disengagement logged once (the counters count
    // them; the worker itself never logs).
    const auto& k = ctx_[w]->engine->counters();
    const uint64_t edges = k.synproxyEngaged + k.synproxyDisengaged;
    if (edges != synproxyEdges_[w]) {
      synproxyEdges_[w] = edges;
      if (k.synproxyActive != 0) {
        spdlog::warn(
            "worker {}: SYN proxy engaged for syn_proxy = \"auto\" services ({} "
            "half-open sessions)",
            w, uint64_t{k.synRecvSessions});
      } else {
        spdlog::info("worker {}: SYN proxy disengaged ({} half-open sessions)", w,
                     uint64_t{k.synRecvSessions});
      }
    }
  }
  alive_ = alive;
  return alive;
}

nlohmann::json Dataplane::statsJson() const {
  // Built as a document, never by formatting text: names (ports, uplinks) are the operator's
  // strings and must come out escaped. Keys: docs/operations.md.
  using nlohmann::json;
  json workers = json::array();
  for (size_t w = 0; w < ctx_.size(); ++w) {
    const auto& c = *ctx_[w];
    const auto& k = c.engine->counters();
    const auto& l = c.counters;
    json drops = json::object();  // sparse: reasons that happened
    uint64_t dropped = k.dropped;
    for (unsigned r = 0; r < fullnat::kDropReasonCount; ++r) {
      if (k.drops[r] != 0) {
        drops[fullnat::dropReasonName(static_cast<fullnat::DropReason>(r))] = k.drops[r];
      }
    }
    for (unsigned r = 0; r < kDpDropCount; ++r) {
      if (l.drops[r] != 0) {
        drops[dpDropName(static_cast<DpDrop>(r))] = l.drops[r];
        dropped += l.drops[r];
      }
    }
    workers.push_back({{"id", w},
                       {"rx", k.rxPackets},
                       {"forwarded", k.forwarded},
                       {"to_kernel", l.toKernel},
                       {"redirected_out", l.redirectedOut},
                       {"redirected_in", l.redirectedIn},
                       {"dropped", dropped},
                       {"drops", std::move(drops)},
                       {"sessions", c.engine->sessions().size()},
                       {"sessions_created", k.sessionsCreated},
                       {"sessions_expired", k.sessionsExpired},
                       {"toa_inserted", k.toaInserted},
                       // ICMP / ICMPv6 errors quoting a session, translated (Packet Too Big...)
                       {"icmp_translated", k.icmpTranslated},
                       // SYNs answered by an older connection's ACK: RST to the RS
                       {"stale_rs_resets", k.staleRsResets},
                       {"syn_recv_sessions", k.synRecvSessions},
                       {"syn_proxy",
                        {{"active", k.synproxyActive != 0},
                         {"cookies_sent", k.synproxyCookiesSent},
                         {"accepted", k.synproxyAccepted},
                         {"rs_refused", k.synproxyRsRefused},
                         {"rs_timeouts", k.synproxyRsTimeouts},
                         {"engaged", k.synproxyEngaged},
                         {"disengaged", k.synproxyDisengaged}}},
                       {"ppv2_headers", k.ppv2Headers},
                       // live persistence templates of other clients this worker overwrote,
                       // and templates it could not store (another worker held the slot)
                       {"persistence_template_collisions", k.persistCollisions},
                       {"persistence_template_races", k.persistRaces},
                       {"idle_sleeps", l.idleSleeps},
                       {"busy_cycles", l.busyCycles},
                       {"busy_polls", l.busyPolls},
                       {"busy_packets", l.busyPackets},
                       {"preempted_polls", l.preemptedPolls},
                       {"cpu_ns", threadCpuNs(c.tid.load(std::memory_order_relaxed))},
                       {"tsc_hz", rte_get_tsc_hz()}});
  }
  // Per uplink port: link, RSS / reply-steering mode and the PMD's counters (ports.cc).
  json ports = portsJson();
  uint64_t toK = 0;
  uint64_t fromK = 0;
  uint64_t ndInvalid = 0;
  for (const auto& c : ctx_) {
    toK += c->counters.toKernel;
    fromK += c->counters.fromKernel;
    ndInvalid += c->counters.ndInvalid;
  }
  json neighbors = json::array();
  for (size_t i = 0; i < neighbors_.size(); ++i) {
    const auto& n = neighbors_.at(i);
    neighbors.push_back({{"ip", neighbors_.addressString(i)},
                         {"mac", macString(n.mac.load())},
                         {"uplink", uplinks_[n.uplink]->name},
                         {"state", n.resolved.load() ? "reachable" : "unresolved"}});
  }
  return {{"workers", std::move(workers)},
          {"ports", std::move(ports)},
          {"dataplane_alive", alive_.load()},
          {"exception", {{"to_kernel", toK}, {"from_kernel", fromK}, {"nd_invalid", ndInvalid}}},
          {"neighbors", std::move(neighbors)}};
}

}  // namespace anylb::dataplane
