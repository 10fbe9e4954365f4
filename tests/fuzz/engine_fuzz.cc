// Feeds arbitrary frames to a worker whose table holds live sessions (TCP in several states,
// UDP): the engine must decide every frame (forward, kernel, redirect or a counted drop) and
// never crash, read out of bounds or trip UBSan. The input's first byte picks the time step.
#include <rte_mbuf.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "../unit/fullnat/dpdk_env.h"
#include "../unit/fullnat/engine_config.h"
#include "../unit/fullnat/packet.h"
#include "config/loader.h"
#include "fullnat/worker.h"

namespace {

using namespace anylb;           // NOLINT(google-build-using-namespace)
using namespace anylb::testing;  // NOLINT(google-build-using-namespace)

std::unique_ptr<fullnat::Worker> gWorker;
uint32_t gNow = 1000;

void push(const std::vector<uint8_t>& f) {
  rte_mbuf* m = toMbuf(f);
  fullnat::PacketVerdict v;
  gWorker->processBurst(&m, 1, gNow, &v);
  rte_pktmbuf_free(m);
}

L4Spec tcp(const char* src, const char* dst, uint16_t sp, uint16_t dp, uint8_t flags) {
  L4Spec s;
  s.src = src;
  s.dst = dst;
  s.sport = sp;
  s.dport = dp;
  s.flags = flags;
  s.options = {2, 4, 5, 0xb4};
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  mbufPool();
  auto r = config::loadConfigString(engineConfig(), "fuzz.toml");
  if (!r.config) __builtin_trap();
  static fullnat::RsRegistry registry;
  gWorker = std::make_unique<fullnat::Worker>(0, 1, 4096);
  gWorker->setSnapshot(fullnat::Snapshot::build(*r.config, 1, 1, registry));
  // Sessions on client ports 40000.. in SYN_RECV, ESTABLISHED and FIN states.
  for (uint16_t i = 0; i < 8; ++i) {
    const auto cport = static_cast<uint16_t>(40000 + i);
    const auto lport = static_cast<uint16_t>(1024 + i);
    push(frame(tcp(kClient, kVip, cport, 80, kSyn)));
    if (i % 4 == 0) continue;
    push(frame(tcp(kRs, kLip, 8080, lport, kSyn | kAck)));
    push(frame(tcp(kClient, kVip, cport, 80, kAck)));
    if (i % 4 == 2) push(frame(tcp(kClient, kVip, cport, 80, kFin | kAck)));
  }
  L4Spec udp = tcp(kClient, kVip, 5353, 53, 0);
  udp.proto = 17;
  udp.options.clear();
  push(frame(udp));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 4096) return 0;
  gNow += data[0] * 97U;  // sometimes crosses timeouts, so expiry runs against live packets
  rte_mbuf* m = rte_pktmbuf_alloc(mbufPool());
  if (m == nullptr) __builtin_trap();
  const auto len = static_cast<uint16_t>(size - 1);
  if (len > rte_pktmbuf_tailroom(m)) {
    rte_pktmbuf_free(m);
    return 0;
  }
  std::memcpy(rte_pktmbuf_append(m, len), data + 1, len);
  fullnat::PacketVerdict v;
  gWorker->processBurst(&m, 1, gNow, &v);
  if (v.verdict == fullnat::Verdict::kDrop && v.reason == fullnat::DropReason::kCount) {
    __builtin_trap();  // a drop must name its reason
  }
  rte_pktmbuf_free(m);
  gWorker->expire(gNow, 64);
  return 0;
}
