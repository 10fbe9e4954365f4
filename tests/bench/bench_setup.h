// A worker populated with N established FULLNAT sessions, and prebuilt frames that hit them,
// for the engine benchmark and the callgrind workload. Frames are built once; each measured
// burst copies them into mbufs (the "rebuild" whose cost is measured separately and
// subtracted).
#pragma once

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../unit/fullnat/dpdk_env.h"
#include "../unit/fullnat/engine_config.h"
#include "../unit/fullnat/packet.h"
#include "config/loader.h"
#include "fullnat/worker.h"

namespace anylb::bench {

// 8 RS and a /26 of LIPs: 4 M sessions need about 8 LIP:LPORT pairs per port.
inline constexpr const char* kBenchServicesToml = R"(
[dataplane.timeouts]
tcp_established = 604800
[local_addresses]
prefixes = ["10.200.0.0/26", "fd00:200::/122"]
[[service]]
vip = "10.100.0.10"
port = 80
scheduler = "rr"
[[service.real_server]]
address = "10.20.0.1"
port = 8080
[[service.real_server]]
address = "10.20.0.2"
port = 8080
[[service.real_server]]
address = "10.20.0.3"
port = 8080
[[service.real_server]]
address = "10.20.0.4"
port = 8080
[[service.real_server]]
address = "10.20.0.5"
port = 8080
[[service.real_server]]
address = "10.20.0.6"
port = 8080
[[service.real_server]]
address = "10.20.0.7"
port = 8080
[[service.real_server]]
address = "10.20.0.8"
port = 8080

[[service]]   # the same over IPv6: VIP fd00:100::10, 8 RS, a /122 of LIPs (added below)
vip = "fd00:100::10"
port = 80
scheduler = "rr"
[[service.real_server]]
address = "fd00:20::1"
port = 8080
[[service.real_server]]
address = "fd00:20::2"
port = 8080
[[service.real_server]]
address = "fd00:20::3"
port = 8080
[[service.real_server]]
address = "fd00:20::4"
port = 8080
[[service.real_server]]
address = "fd00:20::5"
port = 8080
[[service.real_server]]
address = "fd00:20::6"
port = 8080
[[service.real_server]]
address = "fd00:20::7"
port = 8080
[[service.real_server]]
address = "fd00:20::8"
port = 8080
)";

// A frame stored at a 64-byte stride.
struct FrameSet {
  static constexpr size_t kStride = 128;
  std::vector<uint8_t> bytes;
  std::vector<uint16_t> len;
  [[nodiscard]] size_t size() const { return len.size(); }
  void add(const std::vector<uint8_t>& f) {
    const size_t off = bytes.size();
    bytes.resize(off + kStride);
    std::memcpy(&bytes[off], f.data(), f.size());
    len.push_back(static_cast<uint16_t>(f.size()));
  }
  // Copies frame i into m (resetting it): the per-packet "rebuild".
  void load(size_t i, rte_mbuf* m) const {
    m->data_off = RTE_PKTMBUF_HEADROOM;
    m->data_len = m->pkt_len = len[i];
    m->ol_flags = 0;
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), &bytes[i * kStride], len[i]);
  }
};

inline std::string clientIp(uint32_t i) {
  // 64 ports per client address, clients in 172.16.0.0/12 (only bytes in memory).
  const uint32_t c = i / 64;
  return "172." + std::to_string(16 + (c >> 16)) + "." + std::to_string((c >> 8) & 0xFF) + "." +
         std::to_string(c & 0xFF);
}
// The same clients over IPv6: 2001:db8:X:Y::7 (only bytes in memory).
inline std::string clientIp6(uint32_t i) {
  const uint32_t c = i / 64;
  char buf[48];
  std::snprintf(buf, sizeof(buf), "2001:db8:%x:%x::7", c >> 16, c & 0xFFFF);
  return buf;
}
inline std::string clientAddr(uint32_t i, bool v6) {
  return v6 ? clientIp6(i) : clientIp(i);
}
inline const char* vipOf(bool v6) {
  return v6 ? "fd00:100::10" : "10.100.0.10";
}
inline uint16_t clientPort(uint32_t i) {
  return static_cast<uint16_t>(10000 + i % 64);
}

class Populated {
 public:
  // A table of worker `id` of `workers` (the redirect benchmark uses worker 1 of 2: its
  // sessions' LIP ports are the ones worker 0 hands over).
  // `v6`: the sessions are IPv6 (the service on fd00:100::10), else IPv4.
  explicit Populated(uint32_t sessions, uint32_t extraCapacity = 0, uint16_t id = 0,
                     uint16_t workers = 1, bool v6 = false)
      : n_(sessions), v6_(v6) {
    testing::mbufPool();
    auto r = config::loadConfigString(std::string(testing::kNodeToml) + kBenchServicesToml,
                                      "bench.toml");
    if (!r.config) throw std::runtime_error("bench config: " + r.errors.at(0).str());
    snapshot_ = fullnat::Snapshot::build(*r.config, 1, workers, registry_);
    worker_ = std::make_unique<fullnat::Worker>(id, workers, sessions + extraCapacity);
    worker_->setSnapshot(snapshot_);
    rte_mbuf* m = rte_pktmbuf_alloc(testing::mbufPool());
    for (uint32_t i = 0; i < sessions; ++i) {
      // SYN, the RS's SYN-ACK, the handshake ACK and RS data: an established session past
      // its TOA phase, as most of a busy table is.
      const auto syn = testing::frame(clientSpec(i, testing::kSyn, {2, 4, 5, 0xb4}));
      push(m, syn);
      const auto out = lastOut_;
      const uint8_t* ip = out.data() + 14;
      RsSide side{};
      const size_t ipLen = v6_ ? 40 : 20;
      const size_t addrLen = v6_ ? 16 : 4;
      std::memcpy(side.lip, ip + (v6_ ? 8 : 12), addrLen);
      std::memcpy(side.rip, ip + (v6_ ? 24 : 16), addrLen);
      side.lport = static_cast<uint16_t>(ip[ipLen] << 8 | ip[ipLen + 1]);
      rsSide_.push_back(side);
      push(m, testing::frame(rsSpec(i, testing::kSyn | testing::kAck, {2, 4, 5, 0xb4}, {})));
      push(m, testing::frame(clientSpec(i, testing::kAck, {})));
      push(m, testing::frame(rsSpec(i, testing::kAck | testing::kPsh, {}, {'o', 'k'})));
    }
    rte_pktmbuf_free(m);
    if (worker_->sessions().size() != sessions) {
      throw std::runtime_error("populate: " + std::to_string(worker_->sessions().size()) +
                               " sessions instead of " + std::to_string(sessions));
    }
  }

  fullnat::Worker& worker() { return *worker_; }
  // Another worker of the same node (same snapshot), with an empty table of `capacity`.
  [[nodiscard]] std::unique_ptr<fullnat::Worker> sibling(uint16_t id, uint32_t capacity) const {
    auto w = std::make_unique<fullnat::Worker>(id, static_cast<uint16_t>(snapshot_->workers()),
                                               capacity);
    w->setSnapshot(snapshot_);
    return w;
  }
  uint32_t now = 2000;  // ms; the benchmark's clock for this table, monotonic

  // Frames hitting `count` sessions picked uniformly at random (fixed seed).
  FrameSet inbound(size_t count) const {
    FrameSet fs;
    std::mt19937 rng(42);
    for (size_t k = 0; k < count; ++k) {
      const auto i = static_cast<uint32_t>(rng() % n_);
      fs.add(testing::frame(clientSpec(i, testing::kAck, {}, {'d', 'a', 't', 'a'})));
    }
    return fs;
  }
  FrameSet outbound(size_t count) const {
    FrameSet fs;
    std::mt19937 rng(43);
    for (size_t k = 0; k < count; ++k) {
      const auto i = static_cast<uint32_t>(rng() % n_);
      fs.add(testing::frame(rsSpec(i, testing::kAck, {}, {'d', 'a', 't', 'a'})));
    }
    return fs;
  }
  // Client packets of flows the table does not know: a SYN creates a session, an ACK misses.
  static FrameSet unknown(size_t count, uint8_t flags, uint32_t firstClient, bool v6 = false) {
    FrameSet fs;
    for (size_t k = 0; k < count; ++k) {
      testing::L4Spec s;
      s.src = clientAddr(firstClient + static_cast<uint32_t>(k), v6);
      s.dst = vipOf(v6);
      s.sport = clientPort(firstClient + static_cast<uint32_t>(k));
      s.dport = 80;
      s.flags = flags;
      if ((flags & testing::kSyn) != 0) s.options = {2, 4, 5, 0xb4};
      fs.add(testing::frame(s));
    }
    return fs;
  }

 private:
  struct RsSide {
    uint8_t lip[16];  // network order; IPv4 in the first 4 bytes
    uint8_t rip[16];
    uint16_t lport;
  };

  [[nodiscard]] testing::L4Spec clientSpec(uint32_t i, uint8_t flags, std::vector<uint8_t> opts,
                                           std::vector<uint8_t> payload = {}) const {
    testing::L4Spec s;
    s.src = clientAddr(i, v6_);
    s.dst = vipOf(v6_);
    s.sport = clientPort(i);
    s.dport = 80;
    s.flags = flags;
    s.options = std::move(opts);
    s.payload = std::move(payload);
    return s;
  }
  [[nodiscard]] testing::L4Spec rsSpec(uint32_t i, uint8_t flags, std::vector<uint8_t> opts,
                                       std::vector<uint8_t> payload) const {
    testing::L4Spec s;
    char buf[INET6_ADDRSTRLEN];
    const int af = v6_ ? AF_INET6 : AF_INET;
    inet_ntop(af, rsSide_[i].rip, buf, sizeof(buf));
    s.src = buf;
    inet_ntop(af, rsSide_[i].lip, buf, sizeof(buf));
    s.dst = buf;
    s.sport = 8080;
    s.dport = rsSide_[i].lport;
    s.flags = flags;
    s.options = std::move(opts);
    s.payload = std::move(payload);
    return s;
  }
  void push(rte_mbuf* m, const std::vector<uint8_t>& f) {
    FrameSet one;
    one.add(f);
    one.load(0, m);
    fullnat::PacketVerdict v;
    worker_->processBurst(&m, 1, 1000, &v);
    if (v.verdict != fullnat::Verdict::kForward) {
      throw std::runtime_error(std::string("populate: dropped: ") +
                               fullnat::dropReasonName(v.reason));
    }
    lastOut_ = testing::toBytes(m);
  }

  uint32_t n_;
  bool v6_;
  fullnat::RsRegistry registry_;
  std::shared_ptr<const fullnat::Snapshot> snapshot_;
  std::unique_ptr<fullnat::Worker> worker_;
  std::vector<RsSide> rsSide_;
  std::vector<uint8_t> lastOut_;
};

}  // namespace anylb::bench
