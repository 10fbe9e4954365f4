// One worker lcore's state, owned by that lcore (the control thread only reads counters and
// the heartbeat).
#pragma once

#include <rte_mbuf.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <memory>
#include <vector>

#include "dataplane/dataplane.h"
#include "dataplane/exception_policer.h"
#include "fullnat/worker.h"

namespace anylb::dataplane {

inline constexpr unsigned kMaxNeighbors = 16;
inline constexpr unsigned kPendingPerNeighbor = 16;
inline constexpr uint32_t kPendingTimeoutMs = 3000;
inline constexpr unsigned kMaxPorts = 8;  // uplinks + their TAPs
inline constexpr uint16_t kBurst = 32;
// A loop iteration with work that takes longer than this was preempted, not busy: 200 µs is
// ~8x a full iteration (2 x 32 packets at 1,000 cycles each, 2.6 GHz), and far below a
// scheduler time slice (ms).
inline constexpr uint64_t kPreemptedUs = 200;
inline constexpr uintptr_t kCmdFlushRs = 1;  // control command: (kCmdFlushRs << 32) | rsId
// Session index buckets (64 bytes, 7 entries, ~2 sessions at full load) a worker walks per
// loop iteration for a listing. Measured (make bench: listing.json, 1 M sessions, CPU time):
// 4096 buckets took 140 µs unfiltered and 610 µs with a filter (every session read, a cache
// miss each); 256 keeps a step within a few tens of µs, the time of a few bursts, where the
// whole walk took 5.7 ms (unfiltered) to 45 ms (filtered) in one iteration. A 4 M-session table
// (2 M buckets) is listed in 8192 iterations.
inline constexpr uint32_t kListBucketsPerStep = 256;
// Session sync: peers' sessions a worker installs per loop iteration, index buckets a bulk
// sync walks per iteration (~2 sessions each at full load), and the rings' sizes (events of
// 192 bytes: 6 MiB out, 3 MiB in per worker).
inline constexpr uint32_t kSyncApplyPerLoop = 256;
inline constexpr uint32_t kBulkBucketsPerStep = 64;
inline constexpr size_t kSyncOutRing = 32768;
inline constexpr size_t kSyncInRing = 16384;

// One listing request, shared by every worker (each writes only its own slots: its sessions,
// match count and cursor), walked one step per loop iteration until the cursor is done.
struct SessionQuery {
  fullnat::SessionFilter filter;
  size_t limit = 0;
  std::vector<std::vector<fullnat::SessionInfo>> perWorker;
  std::vector<uint64_t> matched;
  std::vector<uint32_t> cursor;  // per worker: next index bucket (0 at the start)
};

struct alignas(64) Dataplane::WorkerCtx {
  uint16_t id = 0;
  unsigned lcore = 0;
  Dataplane* dp = nullptr;
  std::unique_ptr<fullnat::Worker> engine;
  RelaxedCounter heartbeat;  // +1 per loop iteration; tick() reads it
  // The worker thread's Linux thread id, set when its loop starts (0 before): statsJson reads
  // its CPU time from /proc/self/task/<tid>/schedstat.
  std::atomic<pid_t> tid{0};
  // A session listing the control thread asks for: the worker fills its slot and clears this.
  std::atomic<SessionQuery*> query{nullptr};
  LoopCounters counters;
  // Polices the frames this worker hands to the TAPs (the kToKernel verdicts).
  ExceptionPolicer policer;

  // Session sync (src/sync/; null when [sync] is off): the worker's events out to the sync
  // service and peers' sessions in (single producer, single consumer each), and a bulk sync
  // the service asked for: the peer's node id, 0 = none; the worker clears it when done.
  std::unique_ptr<fullnat::SyncRing> syncOut;
  std::unique_ptr<fullnat::SyncRing> syncIn;
  std::atomic<uint16_t> bulkDest{0};
  uint32_t bulkCursor = 0;

  // Packets waiting for a next hop's MAC, per neighbour.
  struct Pending {
    rte_mbuf* m[kPendingPerNeighbor];
    uint16_t n = 0;
    uint64_t sinceMs = 0;
  };
  std::array<Pending, kMaxNeighbors> pending{};

  // TX batches per DPDK port id, flushed after each RX burst.
  struct TxBatch {
    rte_mbuf* m[kBurst * 2];
    uint16_t n = 0;
  };
  std::array<TxBatch, kMaxPorts> tx{};
};

}  // namespace anylb::dataplane
