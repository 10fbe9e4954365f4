// Dataplane set-up and the control thread's side of it. The packet loop is worker_loop.cc.
#include "dataplane/dataplane.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <rte_arp.h>
#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_lcore.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "common/process.h"
#include "dataplane/worker_ctx.h"

namespace anylb::dataplane {

namespace {
const char* const kDpDropNames[] = {
#define ANYLB_X(id, name, help) name,
    ANYLB_DP_DROPS(ANYLB_X)
#undef ANYLB_X
};

constexpr uint16_t kRxDesc = 512;
constexpr uint16_t kTxDesc = 512;
constexpr unsigned kRedirectRing = 4096;

uint32_t rawOf(const IpAddr& a) {
  uint32_t v;
  std::memcpy(&v, a.bytes.data(), 4);
  return v;
}

// "net_af_packet0,iface=n1t1,qpairs=1" -> "n1t1" (empty if none).
std::string devArg(const std::string& device, const std::string& key) {
  const auto at = device.find(key + "=");
  if (at == std::string::npos) return {};
  const auto start = at + key.size() + 1;
  return device.substr(start, device.find(',', start) - start);
}

std::string portName(const config::Port& p) {
  return p.isVdev() ? p.device.substr(0, p.device.find(',')) : p.device;
}

bool run(const std::vector<std::string>& argv) {
  const auto r = runCommand(argv);
  if (!r.ok()) spdlog::warn("command failed: {}: {}", joinArgs(argv), r.output);
  return r.ok();
}
}  // namespace

const char* dpDropName(DpDrop d) {
  return kDpDropNames[static_cast<unsigned>(d)];
}

Dataplane::Dataplane(const config::Config& cfg)
    : cfg_(cfg), workers_(static_cast<uint16_t>(cfg.dataplane.workers)), neighbors_(16) {}

Dataplane::~Dataplane() {
  stop();
}

uint32_t Dataplane::nowMs() const {
  return static_cast<uint32_t>((rte_rdtsc() - tscStart_) * 1000 / tscHz_);
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
  tscHz_ = rte_get_tsc_hz();
  tscStart_ = rte_rdtsc();
  return {};
}

static std::string configurePort(uint16_t port, uint16_t queues, uint16_t mtu,
                                 const std::vector<rte_mempool*>& pools) {
  rte_eth_dev_info info{};
  if (rte_eth_dev_info_get(port, &info) != 0) return "cannot read device info";
  if (info.max_rx_queues < queues || info.max_tx_queues < queues) {
    return fmt::format(
        "has {} RX / {} TX queues, {} workers need {} (for net_af_packet set "
        "qpairs={})",
        info.max_rx_queues, info.max_tx_queues, queues, queues, queues);
  }
  rte_eth_conf conf{};
  if (int rc = rte_eth_dev_configure(port, queues, queues, &conf); rc != 0) {
    return fmt::format("configure: {}", rte_strerror(-rc));
  }
  rte_eth_dev_set_mtu(port, mtu);  // best effort: af_packet follows the interface's MTU
  for (uint16_t q = 0; q < queues; ++q) {
    const int socket = rte_eth_dev_socket_id(port);
    if (int rc = rte_eth_rx_queue_setup(port, q, kRxDesc, socket, nullptr, pools[q]); rc != 0) {
      return fmt::format("RX queue {}: {}", q, rte_strerror(-rc));
    }
    if (int rc = rte_eth_tx_queue_setup(port, q, kTxDesc, socket, nullptr); rc != 0) {
      return fmt::format("TX queue {}: {}", q, rte_strerror(-rc));
    }
  }
  if (int rc = rte_eth_dev_start(port); rc != 0) return fmt::format("start: {}", rte_strerror(-rc));
  rte_eth_promiscuous_enable(port);
  return {};
}

std::string Dataplane::initPorts() {
  for (uint16_t w = 0; w < workers_; ++w) {
    const auto name = fmt::format("anylb_w{}", w);
    const unsigned n = std::max<unsigned>(cfg_.dataplane.mbufsPerPort, 4096);
    rte_mempool* mp =
        rte_pktmbuf_pool_create(name.c_str(), n, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (mp == nullptr) {
      return fmt::format("no memory for {} mbufs of worker {} ({}); raise the EAL -m", n, w,
                         rte_strerror(rte_errno));
    }
    pools_.push_back(mp);
    const auto cmdName = fmt::format("anylb_cmd{}", w);
    rte_ring* cmd =
        rte_ring_create(cmdName.c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (cmd == nullptr) return fmt::format("command ring: {}", rte_strerror(rte_errno));
    commands_.push_back(cmd);
    const auto ringName = fmt::format("anylb_redir{}", w);
    rte_ring* r = rte_ring_create(ringName.c_str(), kRedirectRing, SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (r == nullptr) return fmt::format("redirect ring: {}", rte_strerror(rte_errno));
    redirect_.push_back(r);
  }
  controlPool_ =
      rte_pktmbuf_pool_create("anylb_ctl", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  controlTx_ = rte_ring_create("anylb_ctltx", 256, SOCKET_ID_ANY, RING_F_SC_DEQ | RING_F_SP_ENQ);
  if (controlPool_ == nullptr || controlTx_ == nullptr) return "no memory for the control path";

  for (size_t i = 0; i < cfg_.uplinks.size(); ++i) {
    const auto& u = cfg_.uplinks[i];
    const config::Port* port = nullptr;
    for (const auto& p : cfg_.dataplane.ports) {
      if (p.name == u.port) port = &p;
    }
    auto rt = std::make_unique<UplinkRt>();
    rt->name = u.name;
    rt->addrRaw = rawOf(u.address.addr);
    rt->netRaw = rawOf(u.address.network());
    rt->maskRaw = u.address.len == 0 ? 0 : htonl(~uint32_t{0} << (32 - u.address.len));
    const auto pname = portName(*port);
    if (rte_eth_dev_get_port_by_name(pname.c_str(), &rt->port) != 0) {
      return fmt::format("uplink {}: port {} ({}) not found; is the device present?", u.name,
                         port->name, port->device);
    }
    if (auto err = configurePort(rt->port, workers_, port->mtu, pools_); !err.empty()) {
      return fmt::format("uplink {}: port {} {}", u.name, port->name, err);
    }
    rte_ether_addr mac{};
    rte_eth_macaddr_get(rt->port, &mac);
    std::memcpy(&rt->mac, mac.addr_bytes, 6);
    rt->gateway = neighbors_.add(rawOf(u.gateway), static_cast<uint16_t>(i));
    rt->portName = port->name;
    // The kernel must not also take the packets of an af_packet interface it still owns (it
    // holds the node address on the TAP, and Linux accepts local addresses on any interface).
    // Undone in stop().
    rt->iface = devArg(port->device, "iface");
    if (!rt->iface.empty()) {
      const auto key = fmt::format("net.ipv4.conf.{}.rp_filter", rt->iface);
      auto prev = runCommand({"sysctl", "-n", key});
      rt->savedRpFilter = prev.ok() ? prev.output.substr(0, prev.output.find('\n')) : "0";
      run({"ip", "link", "set", "dev", rt->iface, "arp", "off"});
      run({"sysctl", "-qw", key + "=1"});
    }
    if (auto err = initTap(*rt, i); !err.empty()) return err;
    uplinks_.push_back(std::move(rt));
  }
  // Static routes: their next hops become neighbours on the uplink that reaches them.
  auto routes = cfg_.dataplane.routes;
  std::stable_sort(
      routes.begin(), routes.end(),
      [](const config::Route& a, const config::Route& b) { return a.prefix.len > b.prefix.len; });
  for (const auto& r : routes) {
    for (size_t i = 0; i < cfg_.uplinks.size(); ++i) {
      if (!cfg_.uplinks[i].address.contains(r.via)) continue;
      const int nh = neighbors_.add(rawOf(r.via), static_cast<uint16_t>(i));
      if (nh < 0) return "too many static route next hops";
      const uint32_t mask = r.prefix.len == 0 ? 0 : htonl(~uint32_t{0} << (32 - r.prefix.len));
      routes_.push_back(StaticRoute{rawOf(r.prefix.network()), mask, nh});
      break;
    }
  }
  return {};
}

std::string Dataplane::initTap(UplinkRt& u, size_t index) {
  const auto name = fmt::format("net_tap_anylb{}", index);
  const auto args = fmt::format("iface={},mac={}", u.name, macString(u.mac));
  if (rte_vdev_init(name.c_str(), args.c_str()) != 0) {
    return fmt::format("uplink {}: cannot create the exception TAP ({} {})", u.name, name, args);
  }
  if (rte_eth_dev_get_port_by_name(name.c_str(), &u.tap) != 0) return "TAP port not found";
  if (auto err = configurePort(u.tap, workers_, 1500, pools_); !err.empty()) {
    return fmt::format("uplink {}: TAP {}", u.name, err);
  }
  return {};
}

void Dataplane::configureKernelSide() {
  // Each uplink's node address lives on its TAP. Replies sourced from it (BGP, ping, probes)
  // leave through that TAP by a policy rule, without touching the main routing table.
  for (size_t i = 0; i < uplinks_.size(); ++i) {
    const auto& u = cfg_.uplinks[i];
    const auto table = std::to_string(100 + i);
    run({"ip", "link", "set", "dev", u.name, "up"});
    run({"ip", "addr", "replace", u.address.str(), "dev", u.name});
    run({"ip", "route", "replace", "default", "via", u.gateway.str(), "dev", u.name, "table",
         table});
    // Idempotent across restarts: remove a rule a previous run left (absent is fine).
    runCommand({"ip", "rule", "del", "from", u.address.addr.str(), "table", table});
    run({"ip", "rule", "add", "from", u.address.addr.str(), "table", table, "priority",
         std::to_string(1000 + i)});
  }
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
  // The health checks' replies come from the RS addresses (the config's at start).
  for (const auto& svc : cfg_.services) {
    for (const auto& rs : svc.realServers) {
      if (police.realServerCount == police.realServersRaw.size() || !rs.address.isV4()) continue;
      police.realServersRaw[police.realServerCount++] = rawOf(rs.address);
    }
  }
  unsigned lcore = rte_get_next_lcore(-1, 1, 0);
  for (uint16_t w = 0; w < workers_; ++w, lcore = rte_get_next_lcore(lcore, 1, 0)) {
    auto ctx = std::make_unique<WorkerCtx>();
    ctx->id = w;
    ctx->dp = this;
    ctx->policer = ExceptionPolicer(police, nowMs());
    fullnat::EngineOptions opts;
    opts.randomPortStart = true;  // no reuse of the tuples a previous run left in TIME_WAIT
    ctx->engine =
        std::make_unique<fullnat::Worker>(w, workers_, cfg_.dataplane.sessionCapacity, opts);
    ctx->engine->setSnapshot(snap);
    ctx->inUse.store(snap.get());
    ctx->lcore = lcore;
    ctx_.push_back(std::move(ctx));
  }
  retained_.push_back(snap);
  current_.store(snap.get());
  lastHeartbeat_.assign(workers_, 0);
  heartbeatStallMs_.assign(workers_, 0);
  for (auto& c : ctx_) {
    if (rte_eal_remote_launch(workerMain, c.get(), c->lcore) != 0) {
      stop();
      return fmt::format("cannot launch worker {} on lcore {}", c->id, c->lcore);
    }
  }
  running_ = true;
  // Announce ourselves and start resolving the gateways at once.
  for (const auto& u : uplinks_) {
    sendArpRequest(*u, u->addrRaw, true);
    sendArpRequest(*u, neighbors_.at(static_cast<size_t>(u->gateway)).ipRaw, false);
  }
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
      rte_eth_promiscuous_disable(port);
      rte_eth_dev_stop(port);
      rte_eth_dev_close(port);
    }
    for (const auto& u : uplinks_) {
      if (u->iface.empty()) continue;
      runCommand({"ip", "link", "set", "dev", u->iface, "arp", "on"});
      runCommand({"sysctl", "-qw",
                  fmt::format("net.ipv4.conf.{}.rp_filter={}", u->iface, u->savedRpFilter)});
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

void Dataplane::publish(std::shared_ptr<const fullnat::Snapshot> snap) {
  current_.store(snap.get(), std::memory_order_release);
  retained_.push_back(std::move(snap));
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
    }
  }
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
  q->matched.assign(ctx_.size(), 0);
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
  // Workers look once per loop (idle back-off at most idle_sleep_max_us): a few ms at most.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
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
  const uint32_t now = nowMs();
  // Free the snapshots that no worker uses any more (the current one always stays).
  const auto* cur = current_.load(std::memory_order_acquire);
  std::erase_if(retained_, [&](const std::shared_ptr<const fullnat::Snapshot>& s) {
    if (s.get() == cur) return false;
    for (const auto& c : ctx_) {
      if (c->inUse.load(std::memory_order_acquire) == s.get()) return false;
    }
    return true;
  });
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
    const uint32_t age = now - static_cast<uint32_t>(n.lastSeenMs.load());
    // Unresolved: ask every tick. Resolved: refresh before it goes stale (ToRs answer fast).
    if (!resolved || age > 15000) sendArpRequest(u, n.ipRaw, false);
    if (resolved && age > 60000) {
      n.resolved.store(false);
      spdlog::warn("neighbor {} on {}: no ARP for 60 s, unresolved",
                   IpAddr::v4(ntohl(n.ipRaw)).str(), u.name);
    }
  }
  bool alive = true;
  const uint32_t elapsed = lastTickMs_ == 0 ? 0 : now - lastTickMs_;
  lastTickMs_ = now;
  for (size_t w = 0; w < ctx_.size(); ++w) {
    const uint64_t hb = ctx_[w]->heartbeat.load(std::memory_order_relaxed);
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
  }
  alive_ = alive;
  return alive;
}

int Dataplane::route(uint32_t dstRaw, uint32_t flowHash) const {
  // Connected: the destination itself must be a known neighbour (the ToR).
  for (const auto& u : uplinks_) {
    if ((dstRaw & u->maskRaw) == u->netRaw) return neighbors_.find(dstRaw);
  }
  // Static routes, longest prefix first, while their uplink is up.
  for (const auto& r : routes_) {
    if ((dstRaw & r.maskRaw) == r.netRaw &&
        uplinks_[neighbors_.at(static_cast<size_t>(r.neighbor)).uplink]->linkUp.load(
            std::memory_order_relaxed)) {
      return r.neighbor;
    }
  }
  // Default: ECMP per flow over the gateways of the uplinks whose link is up, preferring
  // gateways that answer ARP: a ToR that stopped answering is as dead as a down link. With
  // none resolved, an up uplink is still chosen so that its packets wait for resolution.
  int up[8];
  int live[8];
  unsigned n = 0;
  unsigned nLive = 0;
  for (const auto& u : uplinks_) {
    if (!u->linkUp.load(std::memory_order_relaxed) || n == 8) continue;
    up[n++] = u->gateway;
    if (neighbors_.at(static_cast<size_t>(u->gateway)).resolved.load(std::memory_order_relaxed)) {
      live[nLive++] = u->gateway;
    }
  }
  if (nLive != 0) return live[flowHash % nLive];
  return n == 0 ? -1 : up[flowHash % n];
}

std::string Dataplane::statsJson(const std::string& extra) const {
  std::string j = "{\"workers\":[";
  for (size_t w = 0; w < ctx_.size(); ++w) {
    const auto& c = *ctx_[w];
    const auto& k = c.engine->counters();
    const auto& l = c.counters;
    std::string drops;
    uint64_t dropped = k.dropped;
    for (unsigned r = 0; r < fullnat::kDropReasonCount; ++r) {
      if (k.drops[r] != 0) {
        drops +=
            fmt::format("{}\"{}\":{}", drops.empty() ? "" : ",",
                        fullnat::dropReasonName(static_cast<fullnat::DropReason>(r)), k.drops[r]);
      }
    }
    for (unsigned r = 0; r < kDpDropCount; ++r) {
      if (l.drops[r] != 0) {
        drops += fmt::format("{}\"{}\":{}", drops.empty() ? "" : ",",
                             dpDropName(static_cast<DpDrop>(r)), l.drops[r]);
        dropped += l.drops[r];
      }
    }
    j += fmt::format(
        "{}{{\"id\":{},\"rx\":{},\"forwarded\":{},\"to_kernel\":{},\"redirected_out\":{},"
        "\"redirected_in\":{},\"dropped\":{},\"drops\":{{{}}},\"sessions\":{},"
        "\"sessions_created\":{},\"sessions_expired\":{},\"toa_inserted\":{},\"idle_sleeps\":{}}}",
        w == 0 ? "" : ",", w, k.rxPackets, k.forwarded, l.toKernel, l.redirectedOut, l.redirectedIn,
        dropped, drops, c.engine->sessions().size(), k.sessionsCreated, k.sessionsExpired,
        k.toaInserted, l.idleSleeps);
  }
  j += "],\"ports\":[";
  for (size_t i = 0; i < uplinks_.size(); ++i) {
    const auto& u = *uplinks_[i];
    rte_eth_stats s{};
    rte_eth_stats_get(u.port, &s);
    j += fmt::format(
        "{}{{\"name\":\"{}\",\"uplink\":\"{}\",\"rx\":{},\"tx\":{},\"tx_dropped\":{},"
        "\"link_up\":{}}}",
        i == 0 ? "" : ",", u.portName, u.name, s.ipackets, s.opackets, s.oerrors,
        u.linkUp.load() ? "true" : "false");
  }
  uint64_t toK = 0;
  uint64_t fromK = 0;
  for (const auto& c : ctx_) {
    toK += c->counters.toKernel;
    fromK += c->counters.fromKernel;
  }
  j += fmt::format(
      "],\"dataplane_alive\":{},\"exception\":{{\"to_kernel\":{},\"from_kernel\":{}}},"
      "\"neighbors\":[",
      alive_.load() ? "true" : "false", toK, fromK);
  for (size_t i = 0; i < neighbors_.size(); ++i) {
    const auto& n = neighbors_.at(i);
    j += fmt::format(R"({}{{"ip":"{}","mac":"{}","state":"{}"}})", i == 0 ? "" : ",",
                     IpAddr::v4(ntohl(n.ipRaw)).str(), macString(n.mac.load()),
                     n.resolved.load() ? "reachable" : "unresolved");
  }
  j += "]";
  if (!extra.empty()) j += "," + extra;
  return j + "}";
}

}  // namespace anylb::dataplane
