// The worker lcore loop: RX bursts from the uplinks, the engine, routing to a next hop, TX in
// batches; the kernel's packets from the TAPs out of their uplinks; packets redirected from
// other workers; session expiry; a heartbeat; and an idle back-off for shared machines.
// No syscalls, allocation, locks or logging per packet (the back-off sleeps only when idle).
#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/crc.h"
#include "dataplane/nd.h"
#include "dataplane/worker_ctx.h"

namespace anylb::dataplane {

namespace {

void dropCount(Dataplane::WorkerCtx& w, DpDrop d, uint16_t n = 1) {
  w.counters.drops[static_cast<unsigned>(d)] += n;
}

DpDrop policedDrop(ExceptionClass c) {
  switch (c) {
    case ExceptionClass::kPeerControl:
      return DpDrop::kPolicedPeerControl;
    case ExceptionClass::kRealServer:
      return DpDrop::kPolicedRealServer;
    case ExceptionClass::kArpIcmp:
      return DpDrop::kPolicedArpIcmp;
    case ExceptionClass::kOther:
    case ExceptionClass::kCount:
      break;
  }
  return DpDrop::kPolicedOther;
}

void txQueue(Dataplane::WorkerCtx& w, uint16_t port, rte_mbuf* m) {
  auto& b = w.tx[port];
  if (b.n == std::size(b.m)) {
    rte_pktmbuf_free(m);
    dropCount(w, DpDrop::kTxFull);
    return;
  }
  b.m[b.n++] = m;
}

void txFlush(Dataplane::WorkerCtx& w, const bool toKernelPort[kMaxPorts]) {
  for (uint16_t port = 0; port < kMaxPorts; ++port) {
    auto& b = w.tx[port];
    if (b.n == 0) continue;
    const uint16_t sent = rte_eth_tx_burst(port, w.id, b.m, b.n);
    if (sent < b.n) {
      rte_pktmbuf_free_bulk(b.m + sent, b.n - sent);
      dropCount(w, toKernelPort[port] ? DpDrop::kKernelFull : DpDrop::kTxFull, b.n - sent);
    }
    b.n = 0;
  }
}

// Learns the sender of an ARP frame if it is one of our neighbours.
void learnArp(NeighborTable& nt, rte_mbuf* m, uint64_t nowMs) {
  if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)) return;
  const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) return;
  const auto* arp = reinterpret_cast<const rte_arp_hdr*>(eth + 1);
  if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) || arp->arp_hlen != 6 ||
      arp->arp_plen != 4) {
    return;
  }
  nt.learn(arp->arp_data.arp_sip, arp->arp_data.arp_sha.addr_bytes, nowMs);
}

// Learns a gateway's MAC from a Neighbor Advertisement (or a Neighbor Solicitation with a
// source link-layer option) if it is one of our neighbours; counts NS/NA that fail validation
// (nd.h). Anything else costs one ether-type compare.
void learnNd(NeighborTable& nt, rte_mbuf* m, uint64_t nowMs, LoopCounters& counters) {
  const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6)) return;
  nd::NdBinding b;
  switch (nd::parseNd({rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)}, b)) {
    case nd::NdResult::kLearn:
      nt.learn6(b.addr.data(), b.mac.data(), nowMs);
      break;
    case nd::NdResult::kInvalid:
      ++counters.ndInvalid;
      break;
    case nd::NdResult::kNotNd:
    case nd::NdResult::kNoBinding:
      break;
  }
}

// The per-flow ECMP hash of a forwarded packet: its addresses (IPv4 or IPv6 header at offset
// 14, as the engine left it). Both families fold into one CRC32-C; a packet that is neither
// hashes to 0 (one path).
uint32_t flowHash(const rte_ether_hdr* eth) {
  if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6)) {
    const auto* ip6 = reinterpret_cast<const rte_ipv6_hdr*>(eth + 1);
    uint64_t w[4];
    std::memcpy(w, ip6->src_addr, 16);
    std::memcpy(w + 2, ip6->dst_addr, 16);
    return crc64(w[3], crc64(w[2], crc64(w[1], crc64(w[0], 0))));
  }
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eth + 1);
  return crc64(uint64_t{ip->src_addr} | uint64_t{ip->dst_addr} << 32, 0);
}

}  // namespace

int workerMain(void* arg) {
  auto* w = static_cast<Dataplane::WorkerCtx*>(arg);
  return w->dp->runWorker(*w);
}

int Dataplane::runWorker(WorkerCtx& w) {
  rte_mbuf* pkts[kBurst];
  fullnat::PacketVerdict verdicts[kBurst];
  bool kernelPort[kMaxPorts] = {};
  for (const auto& u : uplinks_) kernelPort[u->tap] = true;
  uint32_t idleRounds = 0;
  w.tid.store(static_cast<pid_t>(syscall(SYS_gettid)), std::memory_order_relaxed);
  const uint32_t maxSleep = cfg_.dataplane.idleSleepMaxUs;
  const uint64_t preemptedCycles = rte_get_tsc_hz() / 1'000'000 * kPreemptedUs;

  // Sends a forwarded packet to its next hop, or parks it until the next hop resolves.
  auto forward = [&](rte_mbuf* m, uint64_t now) {
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    // The engine forwards IPv4 and IPv6 (its header at offset 14, destination = next
    // destination); the route follows the family.
    const uint32_t flow = flowHash(eth);
    const int nh =
        eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6)
            ? routes_.route6(reinterpret_cast<const rte_ipv6_hdr*>(eth + 1)->dst_addr, flow)
            : routes_.route(reinterpret_cast<const rte_ipv4_hdr*>(eth + 1)->dst_addr, flow);
    if (nh < 0) {
      rte_pktmbuf_free(m);
      dropCount(w, DpDrop::kNoRoute);
      return;
    }
    const Neighbor& n = neighbors_.at(static_cast<size_t>(nh));
    if (!n.resolved.load(std::memory_order_acquire)) {
      auto& p = w.pending[static_cast<size_t>(nh)];
      if (p.n == kPendingPerNeighbor) {
        rte_pktmbuf_free(m);
        dropCount(w, DpDrop::kNeighborQueueFull);
        return;
      }
      if (p.n == 0) p.sinceMs = now;
      p.m[p.n++] = m;
      return;
    }
    const auto& up = *uplinks_[n.uplink];
    const uint64_t mac = n.mac.load(std::memory_order_relaxed);
    std::memcpy(eth->dst_addr.addr_bytes, &mac, 6);
    std::memcpy(eth->src_addr.addr_bytes, &up.mac, 6);
    txQueue(w, up.port, m);
  };

  // Runs the engine over packets received on `arrival` (uplink index; redirected packets use
  // the uplink they first came in on, which the exception path does not need) and acts on
  // the verdicts.
  auto handle = [&](size_t arrival, rte_mbuf** ms, uint16_t n, uint64_t now) {
    for (uint16_t i = 0; i < n; ++i) {
      learnArp(neighbors_, ms[i], now);
      learnNd(neighbors_, ms[i], now, w.counters);
    }
    w.engine->processBurst(ms, n, now, verdicts);
    for (uint16_t i = 0; i < n; ++i) {
      switch (verdicts[i].verdict) {
        case fullnat::Verdict::kForward:
          forward(ms[i], now);
          break;
        case fullnat::Verdict::kToKernel:
          // ARP, ICMP and anything else for a node address: policed per class so that a flood
          // cannot fill the TAP that BGP and BFD share (exception_policer.h).
          if (const auto d = w.policer.admit(
                  {rte_pktmbuf_mtod(ms[i], const uint8_t*), rte_pktmbuf_data_len(ms[i])}, now);
              !d.pass) {
            rte_pktmbuf_free(ms[i]);
            dropCount(w, policedDrop(d.cls));
            break;
          }
          txQueue(w, uplinks_[arrival]->tap, ms[i]);
          ++w.counters.toKernel;
          break;
        case fullnat::Verdict::kRedirect:
          if (rte_ring_enqueue(redirect_[verdicts[i].worker], ms[i]) != 0) {
            rte_pktmbuf_free(ms[i]);
            dropCount(w, DpDrop::kRedirectFull);
          } else {
            ++w.counters.redirectedOut;
          }
          break;
        case fullnat::Verdict::kDrop:
          rte_pktmbuf_free(ms[i]);  // counted by the engine
          break;
      }
    }
  };

  while (!stop_.load(std::memory_order_relaxed)) {
    const uint64_t loopStart = rte_rdtsc();
    const uint64_t now = clock_.msAt(loopStart);
    ++w.heartbeat;
    // A new snapshot: switch between bursts. The engine gets a non-owning pointer (aliasing
    // shared_ptr without owner); the control thread keeps it alive while this worker's
    // announcement names it (snapshot_rcu.h). One acquire load when nothing changed.
    snapshots_.refresh(w.id, [&](const fullnat::Snapshot* snap) {
      w.engine->setSnapshot(std::shared_ptr<const fullnat::Snapshot>(
          std::shared_ptr<const fullnat::Snapshot>(), snap));
    });
    // A session listing: one bounded step per iteration (kListBucketsPerStep), answered
    // (query cleared) once this worker's whole index is walked.
    bool listing = false;
    if (auto* q = w.query.load(std::memory_order_acquire); q != nullptr) {
      uint32_t& cursor = q->cursor[w.id];
      cursor = w.engine->listSessionsStep(q->filter, q->limit, now, cursor, kListBucketsPerStep,
                                          q->perWorker[w.id], q->matched[w.id]);
      listing = cursor != fullnat::Worker::kListDone;
      if (!listing) w.query.store(nullptr, std::memory_order_release);
    }
    // Session sync: peers' sessions in, and a step of a bulk sync a peer asked for.
    if (w.syncIn != nullptr) {
      w.engine->applySync(*w.syncIn, now, kSyncApplyPerLoop);
      if (const uint16_t dest = w.bulkDest.load(std::memory_order_acquire); dest != 0) {
        if (w.engine->bulkStep(dest, w.bulkCursor, kBulkBucketsPerStep, now)) {
          w.bulkCursor = 0;
          w.bulkDest.store(0, std::memory_order_release);
        }
      }
    }
    void* cmd = nullptr;
    while (rte_ring_dequeue(commands_[w.id], &cmd) == 0) {
      const auto word = reinterpret_cast<uintptr_t>(cmd);
      if ((word >> 32) == kCmdFlushRs) w.engine->flushRealServer(static_cast<uint32_t>(word));
    }
    unsigned work = 0;
    for (size_t u = 0; u < uplinks_.size(); ++u) {
      uint16_t n = rte_eth_rx_burst(uplinks_[u]->port, w.id, pkts, kBurst);
      if (n != 0) {
        // Remember the arrival port in the mbuf for a redirect's exception-path needs.
        for (uint16_t i = 0; i < n; ++i) pkts[i]->port = static_cast<uint16_t>(u);
        handle(u, pkts, n, now);
        work += n;
      }
      // The kernel's packets (ARP replies, BGP, ICMP, probes) go out of this uplink as they are.
      n = rte_eth_rx_burst(uplinks_[u]->tap, w.id, pkts, kBurst);
      for (uint16_t i = 0; i < n; ++i) txQueue(w, uplinks_[u]->port, pkts[i]);
      w.counters.fromKernel += n;
      work += n;
    }
    auto n = static_cast<uint16_t>(
        rte_ring_dequeue_burst(redirect_[w.id], reinterpret_cast<void**>(pkts), kBurst, nullptr));
    if (n != 0) {
      w.counters.redirectedIn += n;
      // Group by arrival uplink is unnecessary: redirected packets are replies to sessions.
      handle(std::min<size_t>(pkts[0]->port, uplinks_.size() - 1), pkts, n, now);
      work += n;
    }
    if (w.id == 0) {
      n = static_cast<uint16_t>(
          rte_ring_dequeue_burst(controlTx_, reinterpret_cast<void**>(pkts), kBurst, nullptr));
      for (uint16_t i = 0; i < n; ++i) txQueue(w, pkts[i]->port, pkts[i]);
    }
    // Parked packets: send once their next hop resolved, drop after the timeout.
    for (size_t nh = 0; nh < neighbors_.size(); ++nh) {
      auto& p = w.pending[nh];
      if (p.n == 0) continue;
      if (neighbors_.at(nh).resolved.load(std::memory_order_acquire)) {
        const uint16_t cnt = p.n;
        p.n = 0;
        for (uint16_t i = 0; i < cnt; ++i) forward(p.m[i], now);
      } else if (now - p.sinceMs > kPendingTimeoutMs) {
        rte_pktmbuf_free_bulk(p.m, p.n);
        dropCount(w, DpDrop::kNeighborTimeout, p.n);
        p.n = 0;
      }
    }
    txFlush(w, kernelPort);
    w.engine->expire(now);
    // What expiry made (a RST to a SYN-proxied client whose RS never answered): forwarded.
    n = w.engine->takeGenerated(pkts, kBurst);
    for (uint16_t i = 0; i < n; ++i) forward(pkts[i], now);

    if (work != 0) {
      const uint64_t spent = rte_rdtsc() - loopStart;
      if (spent < preemptedCycles) {
        w.counters.busyCycles += spent;
        w.counters.busyPackets += work;
        ++w.counters.busyPolls;
      } else {
        ++w.counters.preemptedPolls;
      }
    }
    if (work == 0 && !listing && maxSleep != 0) {
      // Idle back-off (lab only): 1, 2, 4 ... µs up to idle_sleep_max_us.
      const uint32_t us = std::min<uint32_t>(maxSleep, 1U << std::min<uint32_t>(idleRounds, 20));
      ++idleRounds;
      ++w.counters.idleSleeps;
      rte_delay_us_sleep(us);
    } else {
      idleRounds = 0;
    }
  }
  return 0;
}

}  // namespace anylb::dataplane
