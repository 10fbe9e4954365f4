// Feeds bursts of arbitrary frames to a worker whose table holds live sessions (TCP in several
// states, UDP; IPv4 and IPv6): the engine must decide every frame (forward, kernel, redirect or a
// counted drop), never crash, read out of bounds or trip UBSan, and leave its session table whole.
#include <rte_mbuf.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../unit/fullnat/dpdk_env.h"
#include "../unit/fullnat/engine_config.h"
#include "../unit/fullnat/packet.h"
#include "config/loader.h"
#include "fullnat/worker.h"

namespace {

using namespace anylb;           // NOLINT(google-build-using-namespace)
using namespace anylb::testing;  // NOLINT(google-build-using-namespace)

std::unique_ptr<fullnat::Worker> gWorker;
uint64_t gNow = (uint64_t{1} << 32) - 60'000;  // the 32-bit wrap a minute in

std::vector<uint8_t> push(const std::vector<uint8_t>& f) {
  rte_mbuf* m = toMbuf(f);
  fullnat::PacketVerdict v;
  gWorker->processBurst(&m, 1, gNow, &v);
  auto out = toBytes(m);
  rte_pktmbuf_free(m);
  return out;
}

// Host-order 32-bit field of an output frame (IPv4 without options).
uint32_t tcpWord(const std::vector<uint8_t>& f, size_t at) {
  const size_t o = 14 + 20 + at;
  return static_cast<uint32_t>(f[o] << 24 | f[o + 1] << 16 | f[o + 2] << 8 | f[o + 3]);
}
uint16_t tcpSport(const std::vector<uint8_t>& f) {
  const size_t l4 = 14 + ((f[14] >> 4) == 6 ? 40 : 20);
  return static_cast<uint16_t>(f[l4] << 8 | f[l4 + 1]);
}

// Sequence numbers as real endpoints use them: the client's ISN is 1000, the RS's 5000.
L4Spec tcp(const char* src, const char* dst, uint16_t sp, uint16_t dp, uint8_t flags) {
  L4Spec s;
  const bool fromRs =
      std::string(src) == kRs || std::string(src) == kRs6 || std::string(src) == "10.20.0.91";
  s.seq = fromRs ? 5000 : ((flags & kSyn) != 0 ? 1000 : 1001);
  s.ack = (flags & kAck) == 0 ? 0 : fromRs ? 1001 : 5001;
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
  gWorker = std::make_unique<fullnat::Worker>(0, 1, 256);  // small: checked whole every burst
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
  // SYN-proxied (port 90, 92) and Proxy Protocol v2 (91) sessions, so that mutated frames on
  // their tuples run the sequence shift: client ports 40100.. . One proxied session waits for
  // its RS with held data.
  struct Shifted {
    uint16_t vport;
    const char* rs;
    uint16_t rport;
    bool proxied;
    bool answered;
  };
  const Shifted shifted[] = {{90, "10.20.0.51", 9000, true, true},
                             {90, "10.20.0.51", 9000, true, false},
                             {91, "10.20.0.61", 9100, false, true},
                             {92, "10.20.0.71", 9200, true, true}};
  uint16_t cport = 40100;
  for (const auto& sh : shifted) {
    L4Spec syn = tcp(kClient, kVip, cport, sh.vport, kSyn);
    const auto first = push(frame(syn));
    uint16_t lport = tcpSport(first);
    if (sh.proxied) {
      L4Spec ack = tcp(kClient, kVip, cport, sh.vport, kAck | kPsh);
      ack.ack = tcpWord(first, 4) + 1;  // the cookie + 1
      ack.options.clear();
      ack.payload = {'G', 'E', 'T', '\n'};
      lport = tcpSport(push(frame(ack)));
    }
    if (sh.answered) {
      L4Spec sa = tcp(sh.rs, kLip, sh.rport, lport, kSyn | kAck);
      sa.seq = 5000;
      sa.ack = 1001;
      push(frame(sa));
      if (!sh.proxied) push(frame(tcp(kClient, kVip, cport, sh.vport, kAck)));
    }
    ++cport;
  }
  L4Spec udp = tcp(kClient, kVip, 5353, 53, 0);
  udp.proto = 17;
  udp.options.clear();
  push(frame(udp));
  // IPv6 sessions (service 8, TOA; service 9, UDP) on client ports 41000..: SYN_RECV,
  // ESTABLISHED, FIN states, so that mutated IPv6 frames, ICMPv6 errors and extension headers
  // meet live tuples.
  for (uint16_t i = 0; i < 4; ++i) {
    const auto c6 = static_cast<uint16_t>(41000 + i);
    const uint16_t lport = tcpSport(push(frame(tcp(kClient6, kVip6, c6, 80, kSyn))));
    if (i == 0) continue;
    push(frame(tcp(kRs6, kLip6, 8080, lport, kSyn | kAck)));
    push(frame(tcp(kClient6, kVip6, c6, 80, kAck)));
    if (i == 2) push(frame(tcp(kClient6, kVip6, c6, 80, kFin | kAck)));
  }
  // NAT64 (service 10: IPv6 VIP port 81, IPv4 RS 10.20.0.91:8081): client ports 42000..
  for (uint16_t i = 0; i < 2; ++i) {
    const auto c6 = static_cast<uint16_t>(42000 + i);
    const uint16_t lport = tcpSport(push(frame(tcp(kClient6, kVip6, c6, 81, kSyn))));
    push(frame(tcp("10.20.0.91", kLip, 8081, lport, kSyn | kAck)));
    push(frame(tcp(kClient6, kVip6, c6, 81, kAck)));
  }
  L4Spec udp6 = tcp(kClient6, kVip6, 5353, 53, 0);
  udp6.proto = 17;
  udp6.options.clear();
  push(frame(udp6));
  return 0;
}

// Input: one byte of clock step, then up to 64 frames, each either
//   0x00-0x7F: a length (high byte, with the next byte as low byte, at most 2048) and the bytes,
//   0x80-0xFF: a copy of an earlier frame of this input (index = byte & 0x3F, modulo how many
//              there are), so the same tuple appears several times in one burst.
// The clock step: bit 7 clear: (byte * 97) ms; set: a jump of (byte & 0x7F) * 2^26 ms (up to
// ~98 days), so expiry, persistence and sequence state run across the 32-bit wrap.
// After every burst the whole table is checked (SessionTable and per-RS counts).
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  gNow += (data[0] & 0x80) != 0 ? uint64_t{data[0] & 0x7FU} << 26 : data[0] * 97U;
  std::vector<std::pair<size_t, size_t>> frames;  // (offset, length) in data
  size_t off = 1;
  while (off < size && frames.size() < fullnat::Worker::kMaxBurst) {
    const uint8_t h = data[off++];
    if ((h & 0x80) != 0) {
      if (frames.empty()) continue;
      frames.push_back(frames[(h & 0x3FU) % frames.size()]);
      continue;
    }
    if (off >= size) break;
    const size_t len = std::min<size_t>((size_t{h} << 8 | data[off++]), 2048);
    const size_t take = std::min(len, size - off);
    frames.emplace_back(off, take);
    off += take;
  }
  if (frames.empty()) return 0;
  rte_mbuf* ms[fullnat::Worker::kMaxBurst];
  size_t n = 0;
  for (const auto& [fo, fl] : frames) {
    rte_mbuf* m = rte_pktmbuf_alloc(mbufPool());
    if (m == nullptr) __builtin_trap();
    if (fl > rte_pktmbuf_tailroom(m)) {
      rte_pktmbuf_free(m);
      continue;
    }
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(fl)), data + fo, fl);
    ms[n++] = m;
  }
  fullnat::PacketVerdict v[fullnat::Worker::kMaxBurst];
  const uint16_t done = gWorker->processBurst(ms, static_cast<uint16_t>(n), gNow, v);
  if (done != n) __builtin_trap();
  for (size_t i = 0; i < n; ++i) {
    if (v[i].verdict == fullnat::Verdict::kDrop && v[i].reason == fullnat::DropReason::kCount) {
      __builtin_trap();  // a drop must name its reason
    }
    rte_pktmbuf_free(ms[i]);
  }
  gWorker->expire(gNow, 64);
  rte_mbuf* generated[16];
  for (uint16_t g; (g = gWorker->takeGenerated(generated, 16)) != 0;) {
    rte_pktmbuf_free_bulk(generated, g);
  }
  if (const std::string bad = gWorker->checkInvariants(); !bad.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", bad.c_str());
    __builtin_trap();
  }
  return 0;
}
