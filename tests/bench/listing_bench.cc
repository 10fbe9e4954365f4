// Session listings (anylbctl sessions) against a table of 1 M established sessions: the
// longest single step a worker's loop iteration spends on a listing with the dataplane's
// budget (kListBucketsPerStep index buckets), against the whole-table walk that each worker
// used to do in one iteration. `make bench` writes build/bench/listing.json (medians of 5).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <vector>

#include "bench_setup.h"
#include "dataplane/worker_ctx.h"

namespace anylb::bench {
namespace {

constexpr uint32_t kSessions = 1'000'000;

Populated& table() {
  static Populated p(kSessions);
  return p;
}

double threadCpuUs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// Args: buckets per step (0 = the whole index in one step, as before), and whether the
// listing filters by VIP (every session matches, but each must be read: the worst case) or
// not (`anylbctl sessions` with its default limit of 100).
void listing(benchmark::State& state) {
  auto& p = table();
  fullnat::Worker& w = p.worker();
  const uint32_t buckets =
      state.range(0) == 0 ? w.sessions().bucketCount() : static_cast<uint32_t>(state.range(0));
  fullnat::SessionFilter filter;
  if (state.range(1) != 0) filter.vip = IpAddr::parse("10.100.0.10");
  std::vector<fullnat::SessionInfo> out;
  out.reserve(100);
  double longestUs = 0;
  double longestCpuUs = 0;
  double totalUs = 0;
  double totalCpuUs = 0;
  uint64_t steps = 0;
  uint64_t matched = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    out.clear();
    matched = 0;
    steps = 0;
    double longest = 0;
    double longestCpu = 0;
    double total = 0;
    double totalCpu = 0;
    uint32_t cursor = 0;
    do {
      const double cpu0 = threadCpuUs();
      const auto t0 = std::chrono::steady_clock::now();
      cursor = w.listSessionsStep(filter, 100, p.now, cursor, buckets, out, matched);
      const double us =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      const double cpu = threadCpuUs() - cpu0;
      longestCpu = std::max(longestCpu, cpu);
      totalCpu += cpu;
      longest = std::max(longest, us);
      total += us;
      ++steps;
    } while (cursor != fullnat::Worker::kListDone);
    longestUs += longest;
    longestCpuUs += longestCpu;
    totalUs += total;
    totalCpuUs += totalCpu;
  }
  if (matched != kSessions) state.SkipWithError("listing did not count every session");
  const auto n = static_cast<double>(state.iterations());
  // Wall time includes preemption on a shared machine; thread CPU time does not.
  state.counters["longest_step_us"] = longestUs / n;
  state.counters["longest_step_cpu_us"] = longestCpuUs / n;
  state.counters["listing_us"] = totalUs / n;
  state.counters["listing_cpu_us"] = totalCpuUs / n;
  state.counters["mean_step_cpu_us"] = totalCpuUs / n / static_cast<double>(steps);
  state.counters["steps"] = static_cast<double>(steps);
  state.counters["buckets_per_step"] = buckets;
}

BENCHMARK(listing)
    ->Args({dataplane::kListBucketsPerStep, 0})
    ->Args({0, 0})
    ->Args({dataplane::kListBucketsPerStep, 1})
    ->Args({0, 1})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.5);

}  // namespace
}  // namespace anylb::bench

BENCHMARK_MAIN();
