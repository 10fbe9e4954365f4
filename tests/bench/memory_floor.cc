// memory_floor: what random cache-line reads cost on this machine when they are all prefetched
// ahead, the floor under the engine's cost per packet once the session table is far larger
// than the caches. Per "packet" it reads LINES random 64-byte lines of a 320 MiB THP-backed
// array (an established packet at 1 M sessions touches 3: the index bucket and the session's
// two lines), 32 packets per burst, every line of a burst prefetched before the first is read.
// Prints one JSON line per LINES in 1..3: TSC cycles per packet, the random-number cost
// (measured alone) taken out. make bench runs it; docs/performance.md uses it.
#include <rte_cycles.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>

namespace {

constexpr size_t kBytes = size_t{320} << 20;
constexpr size_t kLines = kBytes / 64;
constexpr int kBurst = 32;
constexpr int kBursts = 200000;
volatile uint64_t gSink = 0;

double cyclesPerPacket(const char* mem, int linesPerPacket, uint64_t& sink) {
  std::mt19937_64 rng(1);
  uint64_t offsets[kBurst * 3];
  const int n = kBurst * linesPerPacket;
  const uint64_t t0 = rte_rdtsc();
  for (int b = 0; b < kBursts; ++b) {
    for (int i = 0; i < n; ++i) {
      offsets[i] = (rng() % kLines) * 64;
      __builtin_prefetch(mem + offsets[i]);
    }
    for (int i = 0; i < n; ++i)
      sink += *reinterpret_cast<const volatile uint64_t*>(mem + offsets[i]);
  }
  const uint64_t t1 = rte_rdtsc();
  for (int b = 0; b < kBursts; ++b) {  // the same random numbers without the memory
    for (int i = 0; i < n; ++i) sink += (rng() % kLines) * 64;
  }
  const uint64_t t2 = rte_rdtsc();
  const auto packets = static_cast<double>(kBursts) * kBurst;
  return (static_cast<double>(t1 - t0) - static_cast<double>(t2 - t1)) / packets;
}

}  // namespace

int main() {
  void* p = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("memory_floor: mmap");
    return 2;
  }
  madvise(p, kBytes, MADV_HUGEPAGE);
  std::memset(p, 1, kBytes);
  uint64_t sink = 0;
  for (int lines = 1; lines <= 3; ++lines) {
    std::printf("{\"lines_per_packet\": %d, \"cycles_per_packet\": %.1f}\n", lines,
                cyclesPerPacket(static_cast<const char*>(p), lines, sink));
  }
  munmap(p, kBytes);
  gSink = sink;  // keeps the computations
  return 0;
}
