// session_memory: the memory a worker's session table takes, measured rather than computed.
// Builds one worker with a table of CAPACITY sessions (the bench services of bench_setup.h),
// reads the process's resident memory (VmRSS) before, after construction (the table at rest)
// and after opening FILL TCP sessions with real SYNs through processBurst, and prints one JSON
// document: bytes per session of capacity by the table's own account, and the measured RSS
// growth per session. make bench runs it at 10 M (scripts/bench; docs/performance.md).
//
// usage: session_memory CAPACITY [FILL]   (FILL defaults to CAPACITY)
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>

#include "bench_setup.h"

namespace anylb::bench {
namespace {

// The process's resident set (VmRSS), in KiB.
long rssKib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

int run(uint32_t capacity, uint32_t fill) {
  testing::mbufPool();
  auto r =
      config::loadConfigString(std::string(testing::kNodeToml) + kBenchServicesToml, "bench.toml");
  if (!r.config) {
    std::fprintf(stderr, "session_memory: bench config: %s\n", r.errors.at(0).str().c_str());
    return 2;
  }
  fullnat::RsRegistry registry;
  auto snapshot = fullnat::Snapshot::build(*r.config, 1, 1, registry);
  const long before = rssKib();
  fullnat::Worker worker(0, 1, capacity);
  worker.setSnapshot(snapshot);
  const long atRest = rssKib();

  constexpr uint16_t kBurst = 32;
  constexpr uint32_t kChunk = 1U << 16;  // frames built at a time (only bytes in memory)
  rte_mbuf* m[kBurst];
  if (rte_pktmbuf_alloc_bulk(testing::mbufPool(), m, kBurst) != 0) return 2;
  fullnat::PacketVerdict v[kBurst];
  uint64_t refused = 0;
  for (uint32_t first = 0; first < fill; first += kChunk) {
    const uint32_t count = std::min(kChunk, fill - first);
    const FrameSet fs = Populated::unknown(count, testing::kSyn, first);
    for (uint32_t i = 0; i < count; i += kBurst) {
      const auto n = static_cast<uint16_t>(std::min<uint32_t>(kBurst, count - i));
      for (uint16_t k = 0; k < n; ++k) fs.load(i + k, m[k]);
      worker.processBurst(m, n, 2000, v);
      for (uint16_t k = 0; k < n; ++k)
        refused += v[k].verdict == fullnat::Verdict::kForward ? 0 : 1;
    }
  }
  rte_pktmbuf_free_bulk(m, kBurst);
  const long filled = rssKib();
  const uint32_t sessions = worker.sessions().size();
  const double perSession =
      sessions != 0 ? static_cast<double>(filled - before) * 1024.0 / sessions : 0;
  std::printf(
      "{\"capacity\": %u, \"sessions\": %u, \"refused\": %llu, \"table_bytes_per_session\": %zu, "
      "\"rss_kib_before\": %ld, \"rss_kib_at_rest\": %ld, \"rss_kib_filled\": %ld, "
      "\"rss_growth_bytes_per_session\": %.1f, \"table_mib_at_rest\": %.1f, "
      "\"table_mib_filled\": %.1f}\n",
      capacity, sessions, static_cast<unsigned long long>(refused),
      worker.sessions().bytesPerSession(), before, atRest, filled, perSession,
      static_cast<double>(atRest - before) / 1024.0, static_cast<double>(filled - before) / 1024.0);
  return sessions == fill && refused == 0 ? 0 : 1;
}

}  // namespace
}  // namespace anylb::bench

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: session_memory CAPACITY [FILL]\n");
    return 2;
  }
  const auto capacity = static_cast<uint32_t>(std::strtoul(argv[1], nullptr, 10));
  const auto fill = argc > 2 ? static_cast<uint32_t>(std::strtoul(argv[2], nullptr, 10)) : capacity;
  if (capacity < 1024 || fill > capacity) {
    std::fprintf(stderr, "session_memory: CAPACITY >= 1024 and FILL <= CAPACITY\n");
    return 2;
  }
  try {
    return anylb::bench::run(capacity, fill);
  } catch (const std::exception& e) {  // the table's memory (std::bad_alloc), the config
    std::fprintf(stderr, "session_memory: %s\n", e.what());
    return 2;
  }
}
