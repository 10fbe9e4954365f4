// Engine benchmark: cycles per packet (rdtsc) and Mpps on one core for established inbound,
// established outbound, new TCP sessions and misses, at 10 k, 1 M and 4 M sessions. Each
// benchmark also times the frame rebuild alone over the same frames and reports the net cost
// (`net_cycles_per_pkt`). Run through `make bench` (scripts/bench), which takes medians.
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_ring.h>

#include <map>
#include <memory>

#include "bench_setup.h"
#include "common/crc.h"
#include "common/keyed_hash.h"

namespace anylb::bench {
namespace {

constexpr uint16_t kBurst = 32;
constexpr size_t kFrames = 262144;  // distinct frames per benchmark: beyond L2, like real load

Populated& populated(uint32_t n) {
  static std::map<uint32_t, std::unique_ptr<Populated>> cache;
  auto& p = cache[n];
  // One extra million of capacity for the new-session benchmark's churn.
  if (!p) p = std::make_unique<Populated>(n, 1U << 20);
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

// Cycles per packet of rebuilding bursts from `fs` without processing them.
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

// Runs bursts of `fs` through the worker; `betweenWraps` runs (untimed) each time the frame
// set wraps around.
template <typename BetweenWraps>
void run(benchmark::State& state, Populated& p, const FrameSet& fs, BetweenWraps&& betweenWraps,
         fullnat::Verdict expect) {
  Mbufs b;
  const double rebuild = rebuildCycles(fs, b);
  fullnat::PacketVerdict v[kBurst];
  size_t cursor = 0;
  uint64_t cycles = 0;
  uint64_t packets = 0;
  // The table's clock must never go backwards across the benchmark's repeated calls.
  uint32_t& now = p.now;
  const uint64_t createdBefore = p.worker().counters().sessionsCreated;
  for (auto _ : state) {
    if (cursor + kBurst > fs.size()) {
      state.PauseTiming();
      now = betweenWraps(now);
      cursor = 0;
      state.ResumeTiming();
    }
    const uint64_t t0 = rte_rdtsc();
    for (auto* m : b.m) fs.load(cursor++, m);
    p.worker().processBurst(b.m, kBurst, now, v);
    cycles += rte_rdtsc() - t0;
    packets += kBurst;
    if (v[0].verdict != expect) {
      static std::string error;
      const auto& k = p.worker().counters();
      error = std::string("unexpected verdict, drop reason ") +
              fullnat::dropReasonName(v[0].reason) + " (sessions " +
              std::to_string(p.worker().sessions().size()) + "/" +
              std::to_string(p.worker().sessions().capacity()) + ", created " +
              std::to_string(k.sessionsCreated) + ", expired " + std::to_string(k.sessionsExpired) +
              ", now " + std::to_string(now) + ")";
      state.SkipWithError(error.c_str());
      break;
    }
  }
  const double gross =
      packets != 0 ? static_cast<double>(cycles) / static_cast<double>(packets) : 0;
  const double net = gross - rebuild;
  const auto hz = static_cast<double>(rte_get_tsc_hz());
  state.counters["cycles_per_pkt"] = gross;
  state.counters["rebuild_cycles"] = rebuild;
  state.counters["net_cycles_per_pkt"] = net;
  state.counters["net_Mpps"] = net > 0 ? hz / net / 1e6 : 0;
  state.counters["sessions"] = static_cast<double>(p.worker().sessions().size());
  // Sanity: 1 for the new-session benchmark, 0 for the others.
  state.counters["created_per_pkt"] =
      packets != 0 ? static_cast<double>(p.worker().counters().sessionsCreated - createdBefore) /
                         static_cast<double>(packets)
                   : 0;
  state.SetItemsProcessed(static_cast<int64_t>(packets));
}

uint32_t noWrap(uint32_t now) {
  return now;
}

void establishedInbound(benchmark::State& state) {
  auto& p = populated(static_cast<uint32_t>(state.range(0)));
  const auto fs = p.inbound(kFrames);
  run(state, p, fs, noWrap, fullnat::Verdict::kForward);
}

void establishedOutbound(benchmark::State& state) {
  auto& p = populated(static_cast<uint32_t>(state.range(0)));
  const auto fs = p.outbound(kFrames);
  run(state, p, fs, noWrap, fullnat::Verdict::kForward);
}

void newTcpSession(benchmark::State& state) {
  auto& p = populated(static_cast<uint32_t>(state.range(0)));
  // SYNs of clients the table has never seen; when the set wraps, their sessions are expired
  // (SYN_RECV times out after 30 s) so the next round creates them again.
  const auto fs = Populated::unknown(kFrames, testing::kSyn, 50'000'000);
  run(
      state, p, fs,
      [&](uint32_t now) {
        now += 40'000;
        while (p.worker().expire(now, 1U << 20) != 0) {
        }
        return now;
      },
      fullnat::Verdict::kForward);
}

void missDrop(benchmark::State& state) {
  auto& p = populated(static_cast<uint32_t>(state.range(0)));
  const auto fs = Populated::unknown(kFrames, testing::kAck, 60'000'000);
  run(state, p, fs, noWrap, fullnat::Verdict::kDrop);
}

// The session index's hash per IPv4 5-tuple: the keyed hash (common/keyed_hash.h) against round
// 1's fixed-seed CRC32-C. Reported like the packet benchmarks (cycles per hash as per packet).
template <typename Hash>
void hashCost(benchmark::State& state, Hash&& hash) {
  constexpr uint32_t kKeys = 4096;
  uint32_t src[kKeys];
  for (uint32_t i = 0; i < kKeys; ++i) src[i] = i * 2654435761U;
  uint32_t acc = 0;
  uint64_t cycles = 0;
  uint64_t n = 0;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc();
    for (uint32_t i = 0; i < kKeys; ++i) {
      acc += hash(src[i] ^ acc, 0x0A64000AU, static_cast<uint16_t>(i), 80, 6);
    }
    cycles += rte_rdtsc() - t0;
    n += kKeys;
  }
  benchmark::DoNotOptimize(acc);
  const double c = n != 0 ? static_cast<double>(cycles) / static_cast<double>(n) : 0;
  state.counters["cycles_per_pkt"] = c;
  state.counters["net_cycles_per_pkt"] = c;
  state.counters["rebuild_cycles"] = 0;
  state.counters["net_Mpps"] = c > 0 ? static_cast<double>(rte_get_tsc_hz()) / c / 1e6 : 0;
}

void hashKeyed(benchmark::State& state) {
  const auto h = KeyedHash::random();
  hashCost(state, [&](uint32_t s, uint32_t d, uint16_t sp, uint16_t dp, uint8_t pr) {
    return h.hash4(s, d, sp, dp, pr);
  });
}

void hashCrcUnkeyed(benchmark::State& state) {
  hashCost(state, [](uint32_t s, uint32_t d, uint16_t sp, uint16_t dp, uint8_t pr) {
    const uint64_t tail = uint64_t{sp} | (uint64_t{dp} << 16) | (uint64_t{pr} << 32);
    return crc64(tail, crc64(uint64_t{s} | uint64_t{d} << 32, 0x9E3779B9));
  });
}
BENCHMARK(hashKeyed);
BENCHMARK(hashCrcUnkeyed);

// Issue 15 section 5: what a reply costs when it lands on the wrong worker (a NIC without
// rte_flow steering, af_packet, memif): worker 0 parses it, finds that LPORT belongs to worker
// 1 (kRedirect), the dataplane puts it on worker 1's redirect ring (multi-producer, single-
// consumer, as dataplane/ports.cc creates it), worker 1 takes it off and forwards it. Against
// the same replies landing on worker 1 directly. One thread runs both workers here, so the
// figure is the instructions and the ring's atomics, without the cross-core cache-line
// transfer of the mbuf and its data that two real cores add (docs/performance.md).
Populated& populatedOwner(uint32_t n) {
  static std::map<uint32_t, std::unique_ptr<Populated>> cache;
  auto& p = cache[n];
  if (!p) p = std::make_unique<Populated>(n, 0, 1, 2);
  return *p;
}

void replyLandsOnOwner(benchmark::State& state) {
  auto& p = populatedOwner(static_cast<uint32_t>(state.range(0)));
  const auto fs = p.outbound(kFrames);
  run(state, p, fs, noWrap, fullnat::Verdict::kForward);
}

void replyRedirected(benchmark::State& state) {
  auto& p = populatedOwner(static_cast<uint32_t>(state.range(0)));
  const auto fs = p.outbound(kFrames);
  auto other = p.sibling(0, 1024);
  static rte_ring* ring = rte_ring_create("bench_redir", 4096, SOCKET_ID_ANY, RING_F_SC_DEQ);
  if (ring == nullptr) {
    state.SkipWithError("rte_ring_create failed");
    return;
  }
  Mbufs b;
  const double rebuild = rebuildCycles(fs, b);
  fullnat::PacketVerdict v[kBurst];
  rte_mbuf* handed[kBurst];
  size_t cursor = 0;
  uint64_t cycles = 0;
  uint64_t packets = 0;
  const char* error = nullptr;
  while (state.KeepRunning()) {
    if (cursor + kBurst > fs.size()) cursor = 0;
    const uint64_t t0 = rte_rdtsc();
    for (auto* m : b.m) fs.load(cursor++, m);
    other->processBurst(b.m, kBurst, p.now, v);
    // The worker loop enqueues each redirected packet on its own (verdicts are per packet).
    uint16_t queued = 0;
    while (queued < kBurst && v[queued].verdict == fullnat::Verdict::kRedirect &&
           v[queued].worker == 1 && rte_ring_enqueue(ring, b.m[queued]) == 0) {
      ++queued;
    }
    const unsigned n =
        rte_ring_dequeue_burst(ring, reinterpret_cast<void**>(handed), kBurst, nullptr);
    p.worker().processBurst(handed, static_cast<uint16_t>(n), p.now, v);
    cycles += rte_rdtsc() - t0;
    packets += kBurst;
    if (queued != kBurst) {
      error = "a reply was not redirected to worker 1";
    } else if (n != kBurst || v[0].verdict != fullnat::Verdict::kForward) {
      error = "the redirected replies were not forwarded by their owner";
    }
    if (error != nullptr) break;
  }
  if (error != nullptr) {
    state.SkipWithError(error);
    return;
  }
  const double gross =
      packets != 0 ? static_cast<double>(cycles) / static_cast<double>(packets) : 0;
  const double net = gross - rebuild;
  state.counters["cycles_per_pkt"] = gross;
  state.counters["rebuild_cycles"] = rebuild;
  state.counters["net_cycles_per_pkt"] = net;
  state.counters["net_Mpps"] = net > 0 ? static_cast<double>(rte_get_tsc_hz()) / net / 1e6 : 0;
  state.counters["sessions"] = static_cast<double>(p.worker().sessions().size());
  state.counters["created_per_pkt"] = 0;
  state.SetItemsProcessed(static_cast<int64_t>(packets));
}
BENCHMARK(replyLandsOnOwner)->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kNanosecond);
BENCHMARK(replyRedirected)->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kNanosecond);

#define ANYLB_SIZES Arg(10'000)->Arg(1'000'000)->Arg(4'000'000)->Unit(benchmark::kNanosecond)
BENCHMARK(establishedInbound)->ANYLB_SIZES;
BENCHMARK(establishedOutbound)->ANYLB_SIZES;
BENCHMARK(newTcpSession)->ANYLB_SIZES;
BENCHMARK(missDrop)->ANYLB_SIZES;

}  // namespace
}  // namespace anylb::bench

BENCHMARK_MAIN();
