// The running dataplane: EAL, ports (uplinks and their TAP exception ports), worker lcores,
// redirect rings, neighbours and routes. Created and driven by the control thread; the packet
// work happens in worker_loop.cc on the worker lcores.
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/relaxed_counter.h"
#include "common/tsc_clock.h"
#include "config/config.h"
#include "dataplane/neighbors.h"
#include "dataplane/ports.h"
#include "dataplane/routes.h"
#include "dataplane/snapshot_rcu.h"
#include "fullnat/worker.h"

namespace anylb::dataplane {

// An IPv4 address as the packet path holds it: 4 bytes, network order (config validation
// refuses IPv6 where the dataplane would need it).
inline uint32_t rawOf(const IpAddr& a) {
  uint32_t v;
  std::memcpy(&v, a.bytes.data(), 4);
  return v;
}
// An IPv6 address as the packet path holds it: 16 bytes, network order.
using Addr6 = std::array<uint8_t, 16>;

struct SessionQuery;

// Drops that happen outside the engine, after its verdict. With the engine's reasons they
// make up every dropped packet.
#define ANYLB_DP_DROPS(X)                                                         \
  X(kNoRoute, "no_route", "no route (no uplink up)")                              \
  X(kNeighborQueueFull, "neighbor_queue_full", "next hop unresolved, queue full") \
  X(kNeighborTimeout, "neighbor_timeout", "next hop did not resolve in time")     \
  X(kTxFull, "tx_full", "port TX ring full")                                      \
  X(kRedirectFull, "redirect_full", "ring to the owning worker full")             \
  X(kKernelFull, "kernel_full", "exception path (TAP) TX full")                   \
  X(kPolicedPeerControl, "policed_peer_control", "to kernel: BGP/BFD over rate")  \
  X(kPolicedRealServer, "policed_real_server", "to kernel: from RS over rate")    \
  X(kPolicedArpIcmp, "policed_arp_icmp", "to kernel: ARP/ICMP over its rate")     \
  X(kPolicedOther, "policed_other", "to kernel: other traffic over its rate")

enum class DpDrop : uint8_t {
#define ANYLB_X(id, name, help) id,
  ANYLB_DP_DROPS(ANYLB_X)
#undef ANYLB_X
      kCount
};
inline constexpr unsigned kDpDropCount = static_cast<unsigned>(DpDrop::kCount);
const char* dpDropName(DpDrop d);

// Written by the worker, read by the control thread: relaxed single-writer counters.
struct alignas(64) LoopCounters {
  std::array<RelaxedCounter, kDpDropCount> drops{};
  RelaxedCounter toKernel;       // packets handed to a TAP
  RelaxedCounter fromKernel;     // packets the kernel sent out through a TAP
  RelaxedCounter redirectedOut;  // handed to another worker
  RelaxedCounter redirectedIn;   // received from another worker
  RelaxedCounter idleSleeps;
  // Neighbor Solicitations / Advertisements that failed RFC 4861 validation (hop limit, checksum,
  // options): never learnt from. They still go to the kernel (which ignores them too).
  RelaxedCounter ndInvalid;
  // TSC cycles of the loop iterations that handled at least one packet, how many such
  // iterations and how many packets they handled: busyCycles / busyPackets is the worker's
  // cost per packet, idle polls excluded (docs/performance.md, the memif node benchmark). An
  // iteration that took longer than kPreemptedUs was preempted by another process (a shared
  // machine): it is counted in preemptedPolls only, so the ratio stays the worker's own cost.
  RelaxedCounter busyCycles;
  RelaxedCounter busyPolls;
  RelaxedCounter busyPackets;
  RelaxedCounter preemptedPolls;
};

struct UplinkRt {
  std::string name;
  uint16_t port = 0;  // DPDK port id of the uplink
  uint16_t tap = 0;   // DPDK port id of its TAP
  uint32_t addrRaw = 0;
  int gateway = -1;  // neighbour index
  // Dual stack (uplink address6/gateway6): the node's IPv6 address and the gateway6
  // neighbour; has6 false when the uplink is IPv4 only.
  bool has6 = false;
  Addr6 addr6{};
  int gateway6 = -1;
  uint64_t mac = 0;           // the uplink port's MAC
  std::string portName;       // config name of the port ("up0")
  std::string iface;          // kernel interface of an af_packet port ("n1t1"), else empty
  std::string savedRpFilter;  // restored at stop
  // net.ipv6.conf.<iface>.disable_ipv6, restored at stop (empty: the interface had no such key)
  std::string savedDisableIpv6;
  std::atomic<bool> linkUp{false};
  PortSetup setup;  // RSS / reply steering as configured at start (control thread only)
};

class Dataplane {
 public:
  explicit Dataplane(const config::Config& cfg);
  ~Dataplane();
  Dataplane(const Dataplane&) = delete;
  Dataplane& operator=(const Dataplane&) = delete;

  // Initialises the EAL, ports, TAPs and workers, and launches the worker lcores.
  // Returns an empty string on success, else what went wrong (and nothing is left running).
  std::string start(const std::shared_ptr<const fullnat::Snapshot>& snap);
  void stop();

  // Control thread: a new forwarding snapshot (weights from health checks, a reload). Workers
  // switch between bursts; an old one is freed (here or by tick()) once no worker can use it
  // (snapshot_rcu.h).
  void publish(std::shared_ptr<const fullnat::Snapshot> snap);
  // Control thread: remove every session of a real server on every worker (on_rs_down or
  // on_rs_removed = "flush"). Asynchronous; workers act within one loop.
  void flushRealServer(uint32_t rsId);
  [[nodiscard]] uint64_t generation() const { return snapshots_.current()->generation(); }

  // Control thread, periodically (~every 500 ms): link state, ARP requests and Neighbor
  // Solicitations for unresolved or stale neighbours, worker heartbeats. Returns false when a
  // worker has stalled.
  bool tick();
  // Control thread: the dataplane's part of the stats object (workers, ports,
  // dataplane_alive, exception, neighbors) that the SIGUSR1 dump, the control API's status
  // and the tests read; the daemon adds its own members to it.
  [[nodiscard]] nlohmann::json statsJson() const;
  // The dataplane clock (common/tsc_clock.h): ms since start, 64-bit, monotonic.
  [[nodiscard]] uint64_t nowMs() const;
  [[nodiscard]] bool running() const { return running_; }
  // Control thread: per-RS totals over all workers, indexed by rsId (`limit` entries).
  [[nodiscard]] std::vector<fullnat::RsStats> rsStats(uint32_t limit) const;
  // Control thread: the sessions matching `f` on every worker, at most `limit`, and the exact
  // number that matched. Each worker walks its index a bounded step per loop iteration; this
  // waits at most 500 ms + 100 µs per step, capped at 5 s (1.3 s at 4 M sessions per worker);
  // `complete` is false if a worker did not finish in time.
  struct SessionList {
    std::vector<fullnat::SessionInfo> sessions;
    uint64_t matched = 0;
    bool complete = true;
  };
  SessionList listSessions(const fullnat::SessionFilter& f, size_t limit);
  // Control thread: the node's live persistence templates, at most `limit` (and how many are
  // live), and per rsId how many point at it (`limit` entries; ipvsadm --persistent-conn).
  // Reads the table the workers share without stopping them (fullnat/persist_table.h).
  struct TemplateList {
    std::vector<fullnat::PersistTemplate> templates;
    uint64_t matched = 0;
    uint64_t nowMs = 0;  // the dataplane clock the expiries compare with
  };
  [[nodiscard]] TemplateList listTemplates(
      size_t limit, const std::function<bool(const fullnat::PersistTemplate&)>& match) const;
  [[nodiscard]] std::vector<uint32_t> persistentConns(uint32_t limit) const;
  // Link state of each uplink (config order) as of the last tick().
  [[nodiscard]] std::vector<bool> uplinksUp() const;
  // Control thread: per uplink port, its RX spreading / reply steering mode and the PMD's
  // counters (rte_eth_stats: imissed, ierrors, rx_nombuf, oerrors, per-queue RX).
  [[nodiscard]] nlohmann::json portsJson() const;

  // --- session sync (src/sync/): the sync service's side of the workers' rings. Null rings
  // when [sync] is off. Any thread once started.
  [[nodiscard]] uint16_t workerCount() const { return workers_; }
  [[nodiscard]] fullnat::SyncRing* syncOut(uint16_t w) const;
  [[nodiscard]] fullnat::SyncRing* syncIn(uint16_t w) const;
  // Asks every worker to send its whole table to peer `dest` (kBulkEnd markers end each
  // worker's part). False while a bulk sync is still under way.
  bool startBulk(uint16_t dest);
  [[nodiscard]] bool bulkRunning() const;
  // The workers' sync counters added up.
  [[nodiscard]] fullnat::SyncCounters syncTotals() const;

  // --- used by worker_loop.cc
  struct WorkerCtx;
  int runWorker(WorkerCtx& w);
  friend int workerMain(void* arg);

 private:
  std::string initEal();
  std::string initPorts();
  std::string initTap(UplinkRt& u, size_t index);
  void initReplySteering(UplinkRt& u);
  void configureKernelSide();
  void sendArpRequest(const UplinkRt& u, uint32_t targetRaw, bool gratuitous);
  // A Neighbor Solicitation for `target` from the uplink's address6 (nd.h).
  void sendNeighborSolicit(const UplinkRt& u, const Addr6& target);
  // Asks for neighbour i's MAC in its family (ARP request or Neighbor Solicitation).
  void solicit(size_t neighbor);

  const config::Config& cfg_;
  uint16_t workers_;
  std::vector<std::unique_ptr<UplinkRt>> uplinks_;
  NeighborTable neighbors_;
  RouteTable routes_{neighbors_};    // both families (routes.h)
  std::vector<rte_mempool*> pools_;  // per worker
  std::vector<rte_ring*> redirect_;  // per destination worker, multi-producer
  std::vector<std::unique_ptr<WorkerCtx>> ctx_;
  rte_mempool* controlPool_ = nullptr;  // the control thread's frames (ARP)
  rte_ring* controlTx_ = nullptr;       // ... sent by worker 0 (mbuf->port = uplink port)
  std::atomic<bool> stop_{false};
  bool ealUp_ = false;
  bool running_ = false;
  TscClock clock_;
  std::vector<uint64_t> lastHeartbeat_;
  std::vector<uint32_t> heartbeatStallMs_;
  std::vector<uint64_t> synproxyEdges_;  // per worker: SYN-proxy edges already logged
  uint64_t lastTickMs_ = 0;
  std::atomic<bool> alive_{true};  // no worker stalled (last tick)
  // Snapshot publication: one reader per worker (reader index = worker id).
  SnapshotRcu<fullnat::Snapshot> snapshots_;
  std::vector<rte_ring*> commands_;  // control -> worker, one SP/SC ring per worker
  // Listings a worker had not answered in time: kept until every worker let go of them.
  std::vector<std::shared_ptr<SessionQuery>> abandoned_;
};

int workerMain(void* arg);  // rte_eal_remote_launch entry: arg is a Dataplane::WorkerCtx

}  // namespace anylb::dataplane
