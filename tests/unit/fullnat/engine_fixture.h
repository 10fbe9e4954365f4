// A worker with a small, fixed config, and helpers to push one frame through it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "config/loader.h"
#include "dpdk_env.h"
#include "engine_config.h"
#include "fullnat/worker.h"
#include "packet.h"

namespace anylb::testing {

class EngineTest : public ::testing::Test {
 protected:
  struct Out {
    fullnat::PacketVerdict v;
    std::vector<uint8_t> bytes;
  };

  void SetUp() override {
    mbufPool();
    auto r = config::loadConfigString(engineConfig(), "engine.toml");
    ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
    cfg_ = *r.config;
    makeWorker(1024, 0, 1);
  }

  void makeWorker(uint32_t capacity, uint16_t id, uint16_t workers,
                  const fullnat::EngineOptions& opts = {}) {
    worker_ = std::make_unique<fullnat::Worker>(id, workers, capacity, opts);
    worker_->setSnapshot(fullnat::Snapshot::build(cfg_, ++generation_, workers, registry_));
  }

  void reweight(const std::map<uint32_t, uint32_t>& weights) {
    worker_->setSnapshot(fullnat::Snapshot::build(cfg_, ++generation_, 1, registry_, weights));
  }

  Out run(const std::vector<uint8_t>& in, uint64_t nowMs = 1000) {
    rte_mbuf* m = toMbuf(in);
    fullnat::PacketVerdict v;
    worker_->processBurst(&m, 1, nowMs, &v);
    Out o{v, toBytes(m)};
    rte_pktmbuf_free(m);
    return o;
  }

  // Runs `in` and expects it forwarded as exactly `expected`, with every checksum right.
  void expectForward(const L4Spec& in, const L4Spec& expected, uint64_t nowMs = 1000) {
    const auto out = run(frame(in), nowMs);
    ASSERT_EQ(out.v.verdict, fullnat::Verdict::kForward)
        << "dropped: " << fullnat::dropReasonName(out.v.reason);
    EXPECT_EQ(checksumProblems(out.bytes), "");
    EXPECT_EQ(out.bytes, frame(expected));
  }

  const session::Session* findInbound(const std::string& cip, uint16_t cport, uint16_t vport,
                                      uint8_t proto = 6) {
    session::FlowKey k{};
    k.src = fullnat::toAddr(*IpAddr::parse(cip));
    k.dst = fullnat::toAddr(*IpAddr::parse(kVip));
    k.sport = htons(cport);
    k.dport = htons(vport);
    k.proto = proto;
    const auto& t = worker_->sessions();
    const uint32_t idx = t.find(t.hash(k), session::Dir::kIn, k);
    return idx == session::SessionTable::kInvalid ? nullptr : &t.at(idx);
  }

  config::Config cfg_;
  fullnat::RsRegistry registry_;
  uint64_t generation_ = 0;
  std::unique_ptr<fullnat::Worker> worker_;
};

// Client -> VIP:80 and RS -> LIP specs for the one-RS service, as a flow moves along.
inline L4Spec fromClient(uint8_t flags, std::vector<uint8_t> opts = {},
                         std::vector<uint8_t> payload = {}, uint16_t cport = 40000,
                         uint16_t vport = 80) {
  L4Spec s;
  s.src = kClient;
  s.dst = kVip;
  s.sport = cport;
  s.dport = vport;
  s.flags = flags;
  s.seq = 1000;
  s.ack = flags & kAck ? 5001 : 0;
  s.options = std::move(opts);
  s.payload = std::move(payload);
  return s;
}

// What the RS receives for `c`: LIP:lport -> RS:8080, TTL one lower, options as given.
inline L4Spec toRs(const L4Spec& c, std::vector<uint8_t> opts, uint16_t lport = 1024,
                   const char* rs = kRs, uint16_t rport = 8080) {
  L4Spec s = c;
  s.src = kLip;
  s.dst = rs;
  s.sport = lport;
  s.dport = rport;
  s.ttl = static_cast<uint8_t>(c.ttl - 1);
  s.options = std::move(opts);
  return s;
}

inline L4Spec fromRs(uint8_t flags, std::vector<uint8_t> opts = {},
                     std::vector<uint8_t> payload = {}, uint16_t lport = 1024) {
  L4Spec s;
  s.src = kRs;
  s.dst = kLip;
  s.sport = 8080;
  s.dport = lport;
  s.flags = flags;
  s.seq = 5000;
  s.ack = 1001;
  s.options = std::move(opts);
  s.payload = std::move(payload);
  return s;
}

// The RST the node sends a real server that answered our SYN with an older connection's ACK
// (engine.cc resetStaleRs): LIP:1024 -> RS:8080, SEQ = that ACK's ACK (RFC 9293 3.10.7.3), bare.
inline L4Spec staleRst(const char* lip, const char* rs, uint32_t seq) {
  L4Spec r;
  r.src = lip;
  r.dst = rs;
  r.sport = 1024;
  r.dport = 8080;
  r.flags = kRst;
  r.seq = seq;
  r.window = 0;
  r.ipId = 0;
  return r;
}

inline L4Spec toClient(const L4Spec& r, std::vector<uint8_t> opts, uint16_t cport = 40000) {
  L4Spec s = r;
  s.src = kVip;
  s.dst = kClient;
  s.sport = 80;
  s.dport = cport;
  s.ttl = static_cast<uint8_t>(r.ttl - 1);
  s.options = std::move(opts);
  return s;
}

// An MSS option of 1460 as a client sends it, and as the RS's SYN-ACK leaves the node (less TOA).
inline const std::vector<uint8_t> kMss = {2, 4, 0x05, 0xb4};
inline const std::vector<uint8_t> kMssClamped = {2, 4, 0x05, 0xac};

// A router on the client's side answers "fragmentation needed" (MTU 1280) toward the VIP,
// quoting the IP header and first 8 L4 bytes (RFC 792) of `toClientPkt`, a packet the node sent.
inline L4Spec fragNeededToVipQuoting(const L4Spec& toClientPkt) {
  auto quote = ipPacket(toClientPkt);
  quote.resize(28);
  L4Spec icmp;
  icmp.proto = 1;
  icmp.src = "198.51.100.1";
  icmp.dst = kVip;
  icmp.icmpType = 3;
  icmp.icmpCode = 4;
  icmp.icmpRest = 1280;
  icmp.payload = quote;
  return icmp;
}

}  // namespace anylb::testing
