// A fixed engine workload for `valgrind --tool=callgrind` (tests/bench/callgrind.sh): 10 k
// established sessions, then exactly kPackets packets of one kind through processBurst.
// Instruction counts are stable on noisy machines, unlike time.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench_setup.h"

namespace {
int run(int argc, char** argv) {
  using namespace anylb;  // NOLINT(google-build-using-namespace)
  std::string kind = argc > 1 ? argv[1] : "inbound";
  // A trailing 6 ("inbound6", "outbound6", "syn6", "miss6"): the same over IPv6.
  const bool v6 = !kind.empty() && kind.back() == '6';
  if (v6) kind.pop_back();
  // The table is filled through processBurst too; callgrind.sh runs with 0 packets as well
  // and subtracts, leaving exactly the measured packets.
  const uint32_t kPackets = argc > 2 ? static_cast<uint32_t>(std::atoi(argv[2])) : 100'000;
  constexpr uint32_t kSessions = 10'000;
  constexpr uint16_t kBurst = 32;
  bench::Populated p(kSessions, kPackets, 0, 1, v6);
  const auto fs =
      kind == "inbound"    ? p.inbound(kSessions)
      : kind == "outbound" ? p.outbound(kSessions)
      : kind == "syn"
          ? bench::Populated::unknown(std::max(kPackets, 1U), testing::kSyn, 1'000'000, v6)
          : bench::Populated::unknown(kSessions, testing::kAck, 2'000'000, v6);
  rte_mbuf* m[kBurst];
  if (rte_pktmbuf_alloc_bulk(testing::mbufPool(), m, kBurst) != 0) return 1;
  fullnat::PacketVerdict v[kBurst];
  size_t cursor = 0;
  for (uint32_t done = 0; done < kPackets; done += kBurst) {
    for (auto* mb : m) fs.load(cursor++ % fs.size(), mb);
    p.worker().processBurst(m, kBurst, 2000, v);
  }
  std::printf("%s%s: %u packets, forwarded %lu, dropped %lu\n", kind.c_str(), v6 ? " (IPv6)" : "",
              kPackets, static_cast<unsigned long>(p.worker().counters().forwarded),
              static_cast<unsigned long>(p.worker().counters().dropped));
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "engine_workload: %s\n", e.what());
    return 1;
  }
}
