// What session sync costs on the packet path (issue 16): cycles per packet of the engine with
// Worker::setSync(ring, ...) on and off, in alternating turns of 256 bursts within one run, on
// the same tables and frames as engine_bench.cc (its method: rdtsc around rebuild +
// processBurst, the rebuild alone subtracted, bursts of 32 from 262,144 prebuilt frames):
// - new TCP sessions (a SYN each): with sync on, every new session is copied into the sync
//   ring (kSyncDirty -> pushSync);
// - established inbound and outbound packets of sessions not due for a refresh: with sync on,
//   one compare (syncAfterPacket).
// The ring is the dataplane's size (kSyncOutRing, 32768 events) and is emptied by this thread,
// outside the timed region, whenever it is half full: it is never full (a full ring is the cheap
// path: the event is counted in eventsLost and dropped; `events_lost` must stay 0), and the slots
// the worker writes have left its L1/L2 as they would after the sync thread read them on another
// core (the cross-core invalidation itself is not measured). Run through `make bench`
// (scripts/bench), which takes medians; docs/performance.md, "Session sync".
#include <benchmark/benchmark.h>
#include <rte_cycles.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "bench_setup.h"

namespace anylb::bench {
namespace {

constexpr uint16_t kBurst = 32;
constexpr size_t kFrames = 262144;
constexpr size_t kRing = 32768;          // the dataplane's kSyncOutRing (dataplane/worker_ctx.h)
constexpr uint32_t kRefreshMs = 10'000;  // [sync] refresh_seconds default

// Tables for the SYN benchmarks (1 M of spare capacity for their churn) and, apart, for the
// established ones: the SYN benchmarks move the clock by 40 s per round, which would make every
// established session due for a refresh.
Populated& synTable(uint32_t n) {
  static std::map<uint32_t, std::unique_ptr<Populated>> cache;
  auto& p = cache[n];
  if (!p) p = std::make_unique<Populated>(n, 1U << 20);
  return *p;
}
Populated& establishedTable(uint32_t n) {
  static std::map<uint32_t, std::unique_ptr<Populated>> cache;
  auto& p = cache[n];
  if (!p) p = std::make_unique<Populated>(n);
  return *p;
}

struct Mbufs {
  rte_mbuf* m[kBurst];
  Mbufs() {
    if (rte_pktmbuf_alloc_bulk(testing::mbufPool(), m, kBurst) != 0) throw std::bad_alloc();
  }
  ~Mbufs() { rte_pktmbuf_free_bulk(m, kBurst); }
  Mbufs(const Mbufs&) = delete;
  Mbufs& operator=(const Mbufs&) = delete;
};

double rebuildCycles(const FrameSet& fs, Mbufs& b) {
  size_t cursor = 0;
  const uint64_t t0 = rte_rdtsc();
  constexpr int kBursts = 20000;
  for (int k = 0; k < kBursts; ++k) {
    for (auto* m : b.m) fs.load(cursor++ % fs.size(), m);
    benchmark::DoNotOptimize(b.m[0]->buf_addr);
    benchmark::ClobberMemory();
  }
  return static_cast<double>(rte_rdtsc() - t0) / (kBursts * kBurst);
}

// Bursts of `fs` through p's worker, sync on (`ring`) and off alternately: kSpan bursts each,
// so that both see the same frames, table and machine load (a paired measurement: on the shared
// machine two separate runs differ by more than what is measured). `betweenWraps` runs
// (untimed) before the first burst and each time the frame set wraps around.
constexpr size_t kSpan = 256;  // bursts per turn (8192 packets)

template <typename BetweenWraps>
void run(benchmark::State& state, Populated& p, const FrameSet& fs, sync::EventRing& ring,
         BetweenWraps&& betweenWraps) {
  fullnat::Worker& w = p.worker();
  Mbufs b;
  const double rebuild = rebuildCycles(fs, b);
  fullnat::PacketVerdict v[kBurst];
  size_t cursor = 0;
  size_t bursts = 0;
  uint64_t cycles[2] = {0, 0};  // [off, on]
  uint64_t packets[2] = {0, 0};
  // Google Benchmark calls this function more than once: each call starts its frames afresh
  // (for the SYNs: past the previous call's sessions, or they would meet them).
  p.now = betweenWraps(p.now);
  const uint64_t createdBefore = w.counters().sessionsCreated;
  const uint64_t outBefore = w.syncCounters().eventsOut;
  const uint64_t lostBefore = w.syncCounters().eventsLost;
  sync::Event ev;
  for (auto _ : state) {
    if (cursor + kBurst > fs.size()) {
      state.PauseTiming();
      p.now = betweenWraps(p.now);
      cursor = 0;
      state.ResumeTiming();
    }
    const int on = static_cast<int>((bursts++ / kSpan) & 1U);
    if (bursts % kSpan == 1) w.setSync(on != 0 ? &ring : nullptr, kRefreshMs, 0);
    const uint64_t t0 = rte_rdtsc();
    for (auto* m : b.m) fs.load(cursor++, m);
    w.processBurst(b.m, kBurst, p.now, v);
    cycles[on] += rte_rdtsc() - t0;
    packets[on] += kBurst;
    if (ring.size() >= kRing / 2) {
      while (ring.pop(ev)) benchmark::DoNotOptimize(ev.s.lport);
    }
    if (v[0].verdict != fullnat::Verdict::kForward) {
      static std::string error;  // SkipWithError keeps the pointer
      error =
          std::string("unexpected verdict, drop reason ") + fullnat::dropReasonName(v[0].reason);
      state.SkipWithError(error.c_str());
      break;
    }
  }
  while (ring.pop(ev)) {
  }
  w.setSync(nullptr, kRefreshMs, 0);
  const auto per = [](uint64_t n, uint64_t pk) {
    return pk != 0 ? static_cast<double>(n) / static_cast<double>(pk) : 0;
  };
  const double off = per(cycles[0], packets[0]) - rebuild;
  const double onNet = per(cycles[1], packets[1]) - rebuild;
  state.counters["off_net_cycles_per_pkt"] = off;
  state.counters["on_net_cycles_per_pkt"] = onNet;
  state.counters["extra_cycles_per_pkt"] = onNet - off;
  state.counters["rebuild_cycles"] = rebuild;
  state.counters["sessions"] = static_cast<double>(w.sessions().size());
  // Sanity: created 1 per SYN, 0 otherwise; events 1 per SYN with sync on (so 1 per packet of
  // the "on" turns), else 0; lost 0.
  const uint64_t all = packets[0] + packets[1];
  state.counters["created_per_pkt"] = per(w.counters().sessionsCreated - createdBefore, all);
  state.counters["events_per_on_pkt"] = per(w.syncCounters().eventsOut - outBefore, packets[1]);
  state.counters["events_lost"] = static_cast<double>(w.syncCounters().eventsLost - lostBefore);
  state.SetItemsProcessed(static_cast<int64_t>(all));
}

sync::EventRing& ring() {
  static sync::EventRing r(kRing);
  return r;
}

// Arg: sessions in the table.
void newTcpSessionSync(benchmark::State& state) {
  auto& p = synTable(static_cast<uint32_t>(state.range(0)));
  const auto fs = Populated::unknown(kFrames, testing::kSyn, 50'000'000);
  run(state, p, fs, ring(), [&](uint32_t now) {
    now += 40'000;  // SYN_RECV times out after 30 s: the next round creates them again
    while (p.worker().expire(now, 1U << 20) != 0) {
    }
    return now;
  });
}

uint32_t noWrap(uint32_t now) {
  return now;
}

void establishedInboundSync(benchmark::State& state) {
  auto& p = establishedTable(static_cast<uint32_t>(state.range(0)));
  run(state, p, p.inbound(kFrames), ring(), noWrap);
}

void establishedOutboundSync(benchmark::State& state) {
  auto& p = establishedTable(static_cast<uint32_t>(state.range(0)));
  run(state, p, p.outbound(kFrames), ring(), noWrap);
}

#define ANYLB_SYNC_ARGS Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kNanosecond)
BENCHMARK(newTcpSessionSync)->ANYLB_SYNC_ARGS;
BENCHMARK(establishedInboundSync)->ANYLB_SYNC_ARGS;
BENCHMARK(establishedOutboundSync)->ANYLB_SYNC_ARGS;

// For callgrind (instructions, repeatable on a busy machine): `packets` packets of `kind` (syn,
// inbound, outbound) through a 10 k table with sync on or off, in bursts of 32. The ring is
// emptied outside processBurst as above. The table's population is the same either way, so
// (instructions inside processBurst with sync on - off) / packets is the cost of sync.
int workload(const std::string& kind, bool on, uint32_t packets) {
  auto& p = synTable(10'000);
  const FrameSet fs = kind == "syn"       ? Populated::unknown(packets, testing::kSyn, 50'000'000)
                      : kind == "inbound" ? p.inbound(packets)
                                          : p.outbound(packets);
  p.worker().setSync(on ? &ring() : nullptr, kRefreshMs, 0);
  Mbufs b;
  fullnat::PacketVerdict v[kBurst];
  sync::Event ev;
  uint32_t forwarded = 0;
  for (uint32_t i = 0; i + kBurst <= packets; i += kBurst) {
    for (uint16_t k = 0; k < kBurst; ++k) fs.load(i + k, b.m[k]);
    p.worker().processBurst(b.m, kBurst, p.now, v);
    for (const auto& x : v) forwarded += x.verdict == fullnat::Verdict::kForward ? 1 : 0;
    if (ring().size() >= kRing / 2) {
      while (ring().pop(ev)) {
      }
    }
  }
  std::printf("%s sync=%d packets=%u forwarded=%u events=%llu lost=%llu\n", kind.c_str(),
              on ? 1 : 0, packets, forwarded,
              static_cast<unsigned long long>(p.worker().syncCounters().eventsOut.load()),
              static_cast<unsigned long long>(p.worker().syncCounters().eventsLost.load()));
  return forwarded == packets / kBurst * kBurst ? 0 : 1;
}

}  // namespace
}  // namespace anylb::bench

// usage: sync_engine_bench [Google Benchmark flags]
//        sync_engine_bench --workload syn|inbound|outbound 0|1 PACKETS   (for callgrind)
int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "--workload") {
    return anylb::bench::workload(argv[2], std::string(argv[3]) == "1",
                                  static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 10)));
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
