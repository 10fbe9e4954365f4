// The engine under conditions the lab never shows: several packets of one flow in a burst,
// off-path attackers who know a 4-tuple but not its sequence numbers, ICMP errors landing on
// the wrong worker, a service removed under live sessions, jumbo real servers, and a clock
// that has run for more than 49.7 days.
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <random>

#include "engine_fixture.h"

namespace anylb::testing {
namespace {

using fullnat::DropReason;
using fullnat::PacketVerdict;
using fullnat::Verdict;
using session::TcpState;

class Hostile : public EngineTest {
 protected:
  // Frames through the worker as ONE burst; verdicts and output bytes per frame.
  std::vector<Out> burst(const std::vector<std::vector<uint8_t>>& frames, uint64_t nowMs = 1000,
                         fullnat::Worker* w = nullptr) {
    if (w == nullptr) w = worker_.get();
    std::vector<rte_mbuf*> ms;
    ms.reserve(frames.size());
    for (const auto& f : frames) ms.push_back(toMbuf(f));
    std::vector<PacketVerdict> vs(frames.size());
    const uint16_t done =
        w->processBurst(ms.data(), static_cast<uint16_t>(ms.size()), nowMs, vs.data());
    EXPECT_EQ(done, frames.size());
    std::vector<Out> out;
    out.reserve(ms.size());
    for (size_t i = 0; i < ms.size(); ++i) {
      out.push_back(Out{vs[i], toBytes(ms[i])});
      rte_pktmbuf_free(ms[i]);
    }
    return out;
  }

  // A full handshake on `cport`; the client's ISN is 1000, the RS's 5000.
  void handshake(uint16_t cport = 40000, uint64_t nowMs = 1000) {
    ASSERT_EQ(run(frame(fromClient(kSyn, kMss, {}, cport)), nowMs).v.verdict, Verdict::kForward);
    auto sa = fromRs(kSyn | kAck, kMss);
    ASSERT_EQ(run(frame(sa), nowMs).v.verdict, Verdict::kForward);
    auto ack = fromClient(kAck, {}, {}, cport);
    ack.seq = 1001;
    ASSERT_EQ(run(frame(ack), nowMs).v.verdict, Verdict::kForward);
    ASSERT_EQ(findInbound(kClient, cport, 80)->state, TcpState::kEstablished);
  }

  L4Spec client(uint8_t flags, uint32_t seq, std::vector<uint8_t> payload = {}) {
    auto s = fromClient(flags, {}, std::move(payload));
    s.seq = seq;
    s.ack = 5001;
    return s;
  }
  L4Spec rs(uint8_t flags, uint32_t seq) {
    auto s = fromRs(flags);
    s.seq = seq;
    s.ack = 1001;
    return s;
  }
};

// ---- item 2: a burst gives exactly the result of its packets one by one

TEST_F(Hostile, TwoPacketsOfOneNewUdpFlowInOneBurstShareOneSession) {
  L4Spec a = fromClient(0, {}, {1, 2, 3}, 5353, 53);
  a.proto = 17;
  L4Spec b = a;
  b.payload = {4, 5, 6, 7};
  const auto out = burst({frame(a), frame(b)});
  ASSERT_EQ(out[0].v.verdict, Verdict::kForward) << fullnat::dropReasonName(out[0].v.reason);
  ASSERT_EQ(out[1].v.verdict, Verdict::kForward) << fullnat::dropReasonName(out[1].v.reason);
  EXPECT_EQ(worker_->sessions().size(), 1U);
  EXPECT_EQ(get16(out[0].bytes, 34), get16(out[1].bytes, 34)) << "one LPORT for the flow";
  EXPECT_EQ(worker_->counters().drops[static_cast<unsigned>(DropReason::kSessionTableFull)], 0U);
  EXPECT_EQ(worker_->checkInvariants(), "");
}

TEST_F(Hostile, TwoSynsReusingAClosedTupleWhileNoRsIsUpDoNotFreeItsSlotTwice) {
  handshake();
  ASSERT_EQ(run(frame(client(kRst | kAck, 1001))).v.verdict, Verdict::kForward);
  ASSERT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kClose);
  reweight({{0, 0}});  // the only RS of service 0 has weight 0: rescheduling fails
  auto syn = fromClient(kSyn, kMss);
  syn.seq = 777'000;
  const auto out = burst({frame(syn), frame(syn)});
  EXPECT_EQ(out[0].v.reason, DropReason::kNoRealServer);
  EXPECT_EQ(out[1].v.reason, DropReason::kNoRealServer);
  EXPECT_EQ(worker_->sessions().size(), 0U);
  EXPECT_EQ(worker_->checkInvariants(), "");
  // The pool is whole: every slot can be taken once, and only once.
  reweight({{0, 1}});
  makeWorker(4, 0, 1);
  for (uint16_t p = 1; p <= 4; ++p) {
    EXPECT_EQ(run(frame(fromClient(kSyn, kMss, {}, p))).v.verdict, Verdict::kForward);
  }
  EXPECT_EQ(run(frame(fromClient(kSyn, kMss, {}, 5))).v.reason, DropReason::kSessionTableFull);
}

// Random traffic over a few tuples: one worker takes it in bursts of random size, a twin worker
// one packet at a time. Verdicts and output bytes must be identical, packet for packet.
TEST_F(Hostile, RandomBurstsGiveExactlyTheResultOfSinglePackets) {
  std::mt19937 rng(12345);
  auto twin = std::make_unique<fullnat::Worker>(0, 1, 64);
  twin->setSnapshot(fullnat::Snapshot::build(cfg_, generation_, 1, registry_));
  makeWorker(64, 0, 1);
  auto pick = [&](unsigned n) { return static_cast<unsigned>(rng() % n); };
  const uint8_t flagSet[] = {kSyn, kAck, kAck | kPsh, kFin | kAck, kRst, kRst | kAck, kSyn | kAck};
  uint64_t now = (uint64_t{1} << 32) - 30'000;  // across the 32-bit wrap as well
  for (int round = 0; round < 400; ++round) {
    std::vector<std::vector<uint8_t>> frames;
    const unsigned n = 1 + pick(24);
    for (unsigned i = 0; i < n; ++i) {
      const auto cport = static_cast<uint16_t>(40000 + pick(3));
      L4Spec s;
      switch (pick(3)) {
        case 0:  // client TCP
          s = fromClient(flagSet[pick(6)], pick(2) != 0 ? kMss : std::vector<uint8_t>{},
                         pick(2) != 0 ? std::vector<uint8_t>{1, 2} : std::vector<uint8_t>{}, cport);
          s.seq = 1000 + pick(3);
          break;
        case 1:  // RS TCP, to one of the first LPORTs
          s = fromRs(flagSet[pick(7)], {}, {}, static_cast<uint16_t>(1024 + pick(4)));
          s.seq = 5000 + pick(3);
          s.ack = 1000 + pick(3);
          break;
        default:  // UDP
          s = fromClient(0, {}, {9}, static_cast<uint16_t>(5000 + pick(2)), 53);
          s.proto = 17;
          break;
      }
      frames.push_back(frame(s));
    }
    const auto together = burst(frames, now);
    for (size_t i = 0; i < frames.size(); ++i) {
      const auto alone = burst({frames[i]}, now, twin.get());
      ASSERT_EQ(together[i].v.verdict, alone[0].v.verdict) << "round " << round << " pkt " << i;
      ASSERT_EQ(together[i].v.reason, alone[0].v.reason) << "round " << round << " pkt " << i;
      ASSERT_EQ(together[i].bytes, alone[0].bytes) << "round " << round << " pkt " << i;
    }
    ASSERT_EQ(worker_->checkInvariants(), "") << "round " << round;
    ASSERT_EQ(worker_->sessions().size(), twin->sessions().size());
    now += pick(3) == 0 ? 20'000 : 100;
    worker_->expire(now);
    twin->expire(now);
  }
}

// ---- item 5: an attacker who knows the 4-tuple but not the sequence numbers

TEST_F(Hostile, BlindRstAndFinFromEitherSideAreDroppedAndChangeNothing) {
  handshake();
  const uint16_t lport = findInbound(kClient, 40000, 80)->lport;
  for (const uint32_t seq : {123'456'789U, 3'000'000'000U, 1001U + 2'000'000U, 1001U - 70'000U}) {
    EXPECT_EQ(run(frame(client(kRst, seq))).v.reason, DropReason::kTcpOutOfWindow) << seq;
    EXPECT_EQ(run(frame(client(kFin | kAck, seq))).v.reason, DropReason::kTcpOutOfWindow);
    EXPECT_EQ(run(frame(rs(kRst, seq + 4000))).v.reason, DropReason::kTcpOutOfWindow);
    EXPECT_EQ(run(frame(rs(kFin | kAck, seq + 4000))).v.reason, DropReason::kTcpOutOfWindow);
  }
  const auto* s = findInbound(kClient, 40000, 80);
  EXPECT_EQ(s->state, TcpState::kEstablished);
  // A SYN after the attempts does not move the connection to another LIP port or RS.
  EXPECT_EQ(run(frame(fromClient(kSyn, kMss))).v.verdict, Verdict::kForward);
  EXPECT_EQ(findInbound(kClient, 40000, 80)->lport, lport);
  EXPECT_EQ(worker_->counters().sessionsReused, 0U);
  // The real client's data still flows.
  const auto data = run(frame(client(kAck | kPsh, 1001, {1, 2, 3})));
  EXPECT_EQ(data.v.verdict, Verdict::kForward);
}

TEST_F(Hostile, InWindowRstIsForwardedWithoutClosingOnlyTheExactOneCloses) {
  handshake();
  // In the window but not RCV.NXT: the RS itself answers with a challenge ACK (RFC 5961).
  EXPECT_EQ(run(frame(client(kRst, 1001 + 500))).v.verdict, Verdict::kForward);
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kEstablished);
  EXPECT_EQ(run(frame(client(kRst, 1001))).v.verdict, Verdict::kForward);
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kClose);
}

TEST_F(Hostile, ExactRstFromTheRsAfterDataCloses) {
  handshake();
  ASSERT_EQ(run(frame(client(kAck | kPsh, 1001, {1, 2, 3, 4}))).v.verdict, Verdict::kForward);
  auto data = rs(kAck | kPsh, 5001);
  data.payload = {9, 9};
  ASSERT_EQ(run(frame(data)).v.verdict, Verdict::kForward);
  EXPECT_EQ(run(frame(rs(kRst, 5001))).v.verdict, Verdict::kForward);  // in window, not exact
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kEstablished);
  EXPECT_EQ(run(frame(rs(kRst, 5003))).v.verdict, Verdict::kForward);
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kClose);
}

TEST_F(Hostile, RsRefusingTheSynClosesButABlindRstBeforeTheSynAckDoesNot) {
  ASSERT_EQ(run(frame(fromClient(kSyn, kMss))).v.verdict, Verdict::kForward);
  auto blind = rs(kRst | kAck, 0);
  blind.ack = 999'999;
  EXPECT_EQ(run(frame(blind)).v.reason, DropReason::kTcpOutOfWindow);
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kSynRecv);
  auto refused = rs(kRst | kAck, 0);  // port closed on the RS: acknowledges the SYN
  EXPECT_EQ(run(frame(refused)).v.verdict, Verdict::kForward);
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kClose);
}

TEST_F(Hostile, AForgedSynAckDoesNotEstablishTheRsSide) {
  ASSERT_EQ(run(frame(fromClient(kSyn, kMss))).v.verdict, Verdict::kForward);
  auto forged = rs(kSyn | kAck, 31337);
  forged.ack = 4242;  // does not acknowledge the client's SYN
  run(frame(forged));
  auto ack = client(kAck, 1001);
  run(frame(ack));
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kSynRecv);
}

TEST_F(Hostile, RstWithABadChecksumIsDroppedInSoftware) {
  handshake();
  auto f = frame(client(kRst, 1001));
  f[34 + 16] ^= 0x01;  // TCP checksum; the IP header stays valid
  EXPECT_EQ(run(f).v.reason, DropReason::kBadL4Checksum);
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kEstablished);
}

TEST_F(Hostile, FinInsideAScaledWindowIsAccepted) {
  // Both sides offer window scaling (shift 7): the RS's 29200-byte field means 3.7 MB.
  const std::vector<uint8_t> ws = {2, 4, 0x05, 0xb4, 1, 3, 3, 7};
  auto syn = fromClient(kSyn, ws);
  ASSERT_EQ(run(frame(syn)).v.verdict, Verdict::kForward);
  auto sa = rs(kSyn | kAck, 5000);
  sa.options = ws;
  ASSERT_EQ(run(frame(sa)).v.verdict, Verdict::kForward);
  ASSERT_EQ(run(frame(client(kAck, 1001))).v.verdict, Verdict::kForward);
  // 2 MB ahead of what we saw (we may miss nothing, but the client may have sent it all).
  EXPECT_EQ(run(frame(client(kFin | kAck, 1001 + 2'000'000))).v.verdict, Verdict::kForward);
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kFinWait);
}

// ---- item 6: ICMP errors toward a VIP reach the worker that owns the quoted session

TEST_F(Hostile, IcmpToAVipIsPassedAlongTheWorkersToTheSessionsOwner) {
  // Three workers; the session lives on worker 2 (its client packets arrive there).
  std::vector<std::unique_ptr<fullnat::Worker>> w;
  for (uint16_t id = 0; id < 3; ++id) {
    w.push_back(std::make_unique<fullnat::Worker>(id, 3, 64));
    w.back()->setSnapshot(fullnat::Snapshot::build(cfg_, ++generation_, 3, registry_));
  }
  const auto syn = burst({frame(fromClient(kSyn, kMss))}, 1000, w[2].get());
  ASSERT_EQ(syn[0].v.verdict, Verdict::kForward);
  const uint16_t lport = get16(syn[0].bytes, 34);
  auto sa = fromRs(kSyn | kAck, kMss, {}, lport);
  const auto toC = burst({frame(sa)}, 1000, w[2].get());
  ASSERT_EQ(toC[0].v.verdict, Verdict::kForward);
  L4Spec quoted = toClient(sa, kMssClamped);
  const auto icmpFrame = frame(fragNeededToVipQuoting(quoted));

  // Arrives at worker 0: passed to 1, then to 2, which translates it for the RS.
  rte_mbuf* m = toMbuf(icmpFrame);
  PacketVerdict v;
  w[0]->processBurst(&m, 1, 1000, &v);
  ASSERT_EQ(v.verdict, Verdict::kRedirect);
  EXPECT_EQ(v.worker, 1);
  w[1]->processBurst(&m, 1, 1000, &v);
  ASSERT_EQ(v.verdict, Verdict::kRedirect);
  EXPECT_EQ(v.worker, 2);
  w[2]->processBurst(&m, 1, 1000, &v);
  ASSERT_EQ(v.verdict, Verdict::kForward) << fullnat::dropReasonName(v.reason);
  const auto out = toBytes(m);
  rte_pktmbuf_free(m);
  EXPECT_EQ(checksumProblems(out), "");
  EXPECT_EQ(w[2]->counters().icmpTranslated, 1U);

  // An error quoting no session anywhere: each worker looks once, the last one drops it.
  auto stray = quoted;
  stray.dport = 1;
  m = toMbuf(frame(fragNeededToVipQuoting(stray)));
  uint16_t at = 1;
  for (int hop = 0; hop < 3; ++hop) {
    w[at]->processBurst(&m, 1, 1000, &v);
    if (v.verdict != Verdict::kRedirect) break;
    at = v.worker;
  }
  rte_pktmbuf_free(m);
  EXPECT_EQ(v.verdict, Verdict::kDrop);
  EXPECT_EQ(v.reason, DropReason::kIcmpNoSession);
}

// ---- item 9: a reload that removes a service drains its sessions

TEST_F(Hostile, RemovedServiceKeepsItsSessionsAndRefusesNewOnes) {
  handshake();
  auto cfg = cfg_;
  cfg.services.erase(cfg.services.begin());  // service 0 (VIP:80) is gone
  worker_->setSnapshot(fullnat::Snapshot::build(cfg, ++generation_, 1, registry_));
  EXPECT_EQ(run(frame(client(kAck | kPsh, 1001, {1, 2, 3}))).v.verdict, Verdict::kForward);
  auto reply = rs(kAck | kPsh, 5001);
  reply.payload = {4, 5};
  EXPECT_EQ(run(frame(reply)).v.verdict, Verdict::kForward);
  EXPECT_EQ(run(frame(fromClient(kSyn, kMss, {}, 40001))).v.reason, DropReason::kNoService);
  EXPECT_EQ(worker_->sessions().size(), 1U);
  // Its FINs still close it normally.
  EXPECT_EQ(run(frame(client(kFin | kAck, 1004))).v.verdict, Verdict::kForward);
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kFinWait);
}

// ---- item 13: the MSS clamp respects the MTU toward the real servers

TEST_F(Hostile, JumboRsBehindA1500ByteUplinkGetsAnMssThatFitsWithToa) {
  ASSERT_EQ(cfg_.dataplane.ports[0].mtu, 1500);
  ASSERT_EQ(run(frame(fromClient(kSyn, kMss))).v.verdict, Verdict::kForward);
  auto sa = fromRs(kSyn | kAck, {2, 4, 0x23, 0x00});  // MSS 8960 (9000-byte MTU)
  const auto out = run(frame(sa));
  ASSERT_EQ(out.v.verdict, Verdict::kForward);
  // 1500 - 20 (IP) - 20 (TCP) - 8 (TOA) = 1452 = 0x05ac.
  EXPECT_EQ(get16(out.bytes, 34 + 20 + 2), 1452);
  EXPECT_EQ(checksumProblems(out.bytes), "");
  // A jumbo uplink leaves the RS's own MSS less TOA.
  cfg_.dataplane.ports[0].mtu = 9000;
  makeWorker(64, 0, 1);
  ASSERT_EQ(run(frame(fromClient(kSyn, kMss))).v.verdict, Verdict::kForward);
  EXPECT_EQ(get16(run(frame(sa)).bytes, 34 + 20 + 2), 8952);
}

// ---- item 1 at the engine: persistence and sessions across the 32-bit millisecond wrap

TEST_F(Hostile, PersistenceTemplatesExpireAcrossTheWrapAndNeverComeBack) {
  const uint64_t t0 = (uint64_t{1} << 32) - 100'000;  // 100 s before the wrap
  auto connectAt = [&](uint16_t cport, uint64_t now, const char* src = kClient) {
    auto syn = fromClient(kSyn, kMss, {}, cport, 81);
    syn.src = src;
    const auto out = run(frame(syn), now);
    EXPECT_EQ(out.v.verdict, Verdict::kForward);
    return out.bytes[14 + 19];  // the RS's last address byte
  };
  const uint8_t first = connectAt(40001, t0);
  // Two other clients: rr (two RS) hands them the other RS, then `first` again, so the next
  // rr choice is the other RS.
  EXPECT_NE(connectAt(40009, t0 + 1, "192.0.2.99"), first);
  EXPECT_EQ(connectAt(40010, t0 + 2, "192.0.2.98"), first);
  EXPECT_EQ(connectAt(40002, t0 + 200'000), first) << "within 300 s, across the wrap";
  // Long expired: 49.7 days after the last use the low 32 bits look fresh again.
  const uint64_t later = t0 + 200'000 + (uint64_t{1} << 32) + 1'000;
  EXPECT_NE(connectAt(40003, later), first) << "a stale template came back";
}

TEST_F(Hostile, SessionsExpireAfterTheWrap) {
  const uint64_t t0 = (uint64_t{1} << 32) - 5'000;
  handshake(40000, t0);
  EXPECT_EQ(worker_->expire(t0 + 600'000), 0U);
  uint32_t n = 0;
  for (uint64_t now = t0 + 600'000; now < t0 + 1'000'000; now += 1'000) n += worker_->expire(now);
  EXPECT_EQ(n, 1U);
  EXPECT_EQ(worker_->sessions().size(), 0U);
}

}  // namespace
}  // namespace anylb::testing
