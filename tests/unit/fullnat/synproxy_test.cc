// SYN proxy (synproxy.h) and Proxy Protocol v2 (ppv2.h) on the engine: the cookie, the gate of
// "auto", and packet fixtures for whole connections, every output's checksums recomputed in
// full and its sequence numbers checked in both sequence spaces.
#include <gtest/gtest.h>
#include <rte_ip.h>
#include <rte_tcp.h>

#include <random>

#include "engine_fixture.h"
#include "fullnat/ppv2.h"
#include "fullnat/synproxy.h"

namespace anylb::testing {
namespace {

using fullnat::DropReason;
using fullnat::Verdict;
using fullnat::synproxy::CookieJar;
using fullnat::synproxy::CookieOptions;
using fullnat::synproxy::CookieTuple;
using fullnat::synproxy::FloodGate;
using session::TcpState;

// ---------------------------------------------------------------------------------------------
// The cookie alone

CookieTuple tuple(uint32_t isn = 1000) {
  return {htonl(0xC0000207), htonl(0x0A64000A), htons(40000), htons(90), isn};
}

TEST(SynCookie, RoundTripCarriesTheClientsOptions) {
  CookieJar jar({0x0123456789abcdefULL, 0xfedcba9876543210ULL});
  for (const CookieOptions o : {CookieOptions{536, 0x0F, false}, CookieOptions{1460, 7, true},
                                CookieOptions{8960, 14, true}, CookieOptions{1220, 0, false}}) {
    const uint32_t c = jar.make(tuple(), o, 5000);
    const auto back = jar.check(tuple(), c, 5000);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, o);
  }
}

TEST(SynCookie, BoundToTheTupleAndTheClientIsn) {
  CookieJar jar({1, 2});
  const uint32_t c = jar.make(tuple(), {1460, 7, true}, 5000);
  EXPECT_FALSE(jar.check(tuple(1001), c, 5000));
  auto other = tuple();
  other.cport = htons(40001);
  EXPECT_FALSE(jar.check(other, c, 5000));
  other = tuple();
  other.cip ^= htonl(1);
  EXPECT_FALSE(jar.check(other, c, 5000));
  EXPECT_FALSE(jar.check(tuple(), c ^ 0x100, 5000));
  // The options byte is authenticated too: a client cannot claim a larger MSS than it offered.
  for (uint32_t d = 1; d < 256; ++d) EXPECT_FALSE(jar.check(tuple(), c ^ d, 5000)) << d;
  // Another node (another secret) does not accept it.
  CookieJar otherNode({1, 3});
  EXPECT_FALSE(otherNode.check(tuple(), c, 5000));
}

TEST(SynCookie, ValidForOneMoreBucketThenStale) {
  CookieJar jar({7, 9});
  const uint64_t bucket = uint64_t{1} << fullnat::synproxy::kBucketShift;
  const uint64_t t0 = 10 * bucket + 5;
  const uint32_t c = jar.make(tuple(), {1460, 7, true}, t0);
  EXPECT_TRUE(jar.check(tuple(), c, t0 + bucket - 10));  // same bucket
  EXPECT_TRUE(jar.check(tuple(), c, t0 + bucket));       // the next one
  EXPECT_FALSE(jar.check(tuple(), c, t0 + 2 * bucket));  // two buckets on: stale
  // Across the 2^32 ms wrap of a 32-bit clock nothing changes: buckets are 64-bit.
  const uint64_t wrap = (uint64_t{1} << 32) - 1000;
  const uint32_t w = jar.make(tuple(), {1460, 7, true}, wrap);
  EXPECT_TRUE(jar.check(tuple(), w, wrap + 2000));
}

TEST(SynCookie, RandomGuessesAlmostNeverPass) {
  CookieJar jar({11, 13});
  std::mt19937 rng(42);
  unsigned accepted = 0;
  for (int i = 0; i < 200000; ++i) accepted += jar.check(tuple(), rng(), 5000) ? 1 : 0;
  // Two buckets of 2^-24 each: 200000 guesses expect 0.024 hits.
  EXPECT_LE(accepted, 1U);
}

TEST(SynCookie, OptionsFromASynRoundDownToTheTable) {
  const std::vector<uint8_t> linux = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
                                      0, 1, 0,    0,    0, 0, 1, 3,  3, 7};
  auto o = fullnat::synproxy::optionsFromSyn(linux.data(), linux.size());
  EXPECT_EQ(o, (CookieOptions{1460, 7, true}));
  const std::vector<uint8_t> odd = {2, 4, 0x05, 0x78, 1, 3, 3, 15};  // MSS 1400, WS 15 -> 14
  o = fullnat::synproxy::optionsFromSyn(odd.data(), odd.size());
  EXPECT_EQ(o, (CookieOptions{1400, 14, false}));
  o = fullnat::synproxy::optionsFromSyn(nullptr, 0);
  EXPECT_EQ(o, (CookieOptions{536, 0x0F, false}));  // RFC default MSS, nothing else
}

TEST(FloodGateTest, EngagesOnRateOrHalfOpenSessionsAndLeavesAfterTheHold) {
  FloodGate g;
  g.setLimits({10, 100, 2000});
  EXPECT_EQ(g.tick(1000, 0), 0);
  for (int i = 0; i < 150; ++i) g.countSyn();
  EXPECT_EQ(g.tick(2000, 0), +1);  // 150 SYN/s > 100
  EXPECT_TRUE(g.engaged());
  for (int i = 0; i < 60; ++i) g.countSyn();
  EXPECT_EQ(g.tick(3000, 0), 0);   // 60/s: below the threshold but above half: stays
  EXPECT_EQ(g.tick(4000, 0), 0);   // calm over the second since 3000
  EXPECT_EQ(g.tick(5000, 0), -1);  // calm for 2 s
  EXPECT_FALSE(g.engaged());
  EXPECT_EQ(g.tick(7000, 11), +1);  // 11 half-open sessions > 10
  EXPECT_EQ(g.tick(8000, 6), 0);    // 6 > 10 / 2: not calm
  EXPECT_TRUE(g.engaged());
}

// The half-open count engages within the second, at the burst that passes it: a flood must not
// fill a second's worth of sessions first (lab_syn_flood saw 2,816 over a threshold of 1,000).
TEST(FloodGateTest, HalfOpenSessionsEngageAtOnceNotAtTheNextSecond) {
  FloodGate g;
  g.setLimits({10, 100, 2000});
  EXPECT_EQ(g.tick(1000, 0), 0);
  EXPECT_EQ(g.tick(1001, 10), 0);
  EXPECT_EQ(g.tick(1002, 11), +1);
  EXPECT_TRUE(g.engaged());
  EXPECT_EQ(g.tick(1003, 50), 0);
}

// ---------------------------------------------------------------------------------------------
// Packet fixtures

// A TCP segment as read back from an output frame.
struct Seg {
  std::string src, dst;
  uint16_t sport = 0, dport = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  uint8_t ttl = 0;
  std::vector<uint8_t> options, payload;
};

std::string addrAt(const std::vector<uint8_t>& f, size_t off) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &f[off], buf, sizeof(buf));
  return buf;
}

Seg decode(const std::vector<uint8_t>& f) {
  Seg s;
  const size_t ip = 14;
  const size_t ihl = (f[ip] & 0x0F) * 4U;
  const size_t total = get16(f, ip + 2);
  const size_t l4 = ip + ihl;
  s.ttl = f[ip + 8];
  s.src = addrAt(f, ip + 12);
  s.dst = addrAt(f, ip + 16);
  s.sport = get16(f, l4);
  s.dport = get16(f, l4 + 2);
  s.seq = static_cast<uint32_t>(get16(f, l4 + 4)) << 16 | get16(f, l4 + 6);
  s.ack = static_cast<uint32_t>(get16(f, l4 + 8)) << 16 | get16(f, l4 + 10);
  const size_t hl = (f[l4 + 12] >> 4) * 4U;
  s.flags = f[l4 + 13];
  s.window = get16(f, l4 + 14);
  s.options.assign(f.begin() + static_cast<long>(l4 + 20), f.begin() + static_cast<long>(l4 + hl));
  s.payload.assign(f.begin() + static_cast<long>(l4 + hl),
                   f.begin() + static_cast<long>(ip + total));
  return s;
}

const std::vector<uint8_t> kLinuxSyn = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
                                        0, 1, 0,    0,    0, 0, 1, 3,  3, 7};
const std::vector<uint8_t> kRequest = {'G', 'E', 'T', ' ', '/', '\r', '\n', '\r', '\n'};
const std::vector<uint8_t> kResponse = {'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ', '2', '0', '0'};
constexpr const char* kRsProxy = "10.20.0.51";
constexpr const char* kRsPp = "10.20.0.61";
constexpr const char* kRsProxyPp = "10.20.0.71";

std::vector<uint8_t> sackBlock(uint32_t left, uint32_t right) {
  std::vector<uint8_t> o = {1, 1, 5, 10};
  for (const uint32_t v : {left, right}) {
    for (int i = 0; i < 4; ++i) o.push_back(static_cast<uint8_t>(v >> (24 - 8 * i)));
  }
  return o;
}

std::vector<uint8_t> ppv2Header(const std::string& client, uint16_t cport, uint16_t vport) {
  std::vector<uint8_t> h = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49,
                            0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C, 0,    0,    0,    0,
                            0,    0,    0,    0,    0,    0,    0,    0};
  putAddr(h, 16, client);
  putAddr(h, 20, kVip);
  put16(h, 24, cport);
  put16(h, 26, vport);
  return h;
}

class SynProxy : public EngineTest {
 protected:
  static constexpr uint16_t kCport = 40000;

  L4Spec client(uint16_t vport, uint8_t flags, uint32_t seq, uint32_t ack,
                std::vector<uint8_t> opts = {}, std::vector<uint8_t> payload = {}) {
    L4Spec s = fromClient(flags, std::move(opts), std::move(payload), kCport, vport);
    s.seq = seq;
    s.ack = ack;
    return s;
  }
  L4Spec rs(const char* addr, uint16_t rport, uint16_t lport, uint8_t flags, uint32_t seq,
            uint32_t ack, std::vector<uint8_t> opts = {}, std::vector<uint8_t> payload = {}) {
    L4Spec s = fromRs(flags, std::move(opts), std::move(payload), lport);
    s.src = addr;
    s.sport = rport;
    s.seq = seq;
    s.ack = ack;
    return s;
  }
  // Runs a frame that must be forwarded; returns the output decoded, checksums verified.
  Seg forward(const L4Spec& in, uint64_t nowMs = 1000) {
    const auto out = run(frame(in), nowMs);
    EXPECT_EQ(out.v.verdict, Verdict::kForward)
        << "dropped: " << fullnat::dropReasonName(out.v.reason);
    EXPECT_EQ(checksumProblems(out.bytes), "");
    return decode(out.bytes);
  }
  DropReason dropped(const L4Spec& in, uint64_t nowMs = 1000) {
    const auto out = run(frame(in), nowMs);
    EXPECT_EQ(out.v.verdict, Verdict::kDrop);
    return out.v.reason;
  }

  // SYN -> cookie SYN-ACK -> ACK (+payload) -> SYN to the RS. Returns the cookie ISN; fills
  // the SYN the RS got.
  uint32_t openToRs(uint16_t vport, Seg& synToRs, std::vector<uint8_t> ackPayload = {},
                    uint64_t nowMs = 1000) {
    const Seg synAck = forward(client(vport, kSyn, 1000, 0, kLinuxSyn), nowMs);
    EXPECT_EQ(synAck.flags, kSyn | kAck);
    EXPECT_EQ(synAck.src, kVip);
    EXPECT_EQ(synAck.dst, kClient);
    EXPECT_EQ(synAck.ack, 1001U);
    synToRs = forward(client(vport, kAck, 1001, synAck.seq + 1, {}, std::move(ackPayload)), nowMs);
    return synAck.seq;
  }
};

TEST_F(SynProxy, SynIsAnsweredWithACookieAndLeavesNoState) {
  const Seg sa = forward(client(90, kSyn, 1000, 0, kLinuxSyn));
  EXPECT_EQ(sa.src, kVip);
  EXPECT_EQ(sa.dst, kClient);
  EXPECT_EQ(sa.sport, 90);
  EXPECT_EQ(sa.dport, kCport);
  EXPECT_EQ(sa.flags, kSyn | kAck);
  EXPECT_EQ(sa.ack, 1001U);
  EXPECT_EQ(sa.ttl, 64);
  // MSS toward the RS less TOA (1500 - 40 - 8), SACK-permitted and our window scale, as the
  // client offered both; no timestamps.
  EXPECT_EQ(sa.options, (std::vector<uint8_t>{2, 4, 0x05, 0xac, 1, 1, 4, 2, 1, 3, 3, 7}));
  EXPECT_TRUE(sa.payload.empty());
  EXPECT_EQ(worker_->sessions().size(), 0U);
  EXPECT_EQ(worker_->counters().synproxyCookiesSent, 1U);
  EXPECT_EQ(worker_->counters().sessionsCreated, 0U);
  EXPECT_EQ(worker_->checkInvariants(), "");
}

TEST_F(SynProxy, WholeConnectionWithShiftedSequenceNumbersBothWays) {
  Seg syn;
  const uint32_t k = openToRs(90, syn);
  // Our SYN to the RS: from the LIP, the client's ISN and options as far as the cookie kept them.
  EXPECT_EQ(syn.src, kLip);
  EXPECT_EQ(syn.dst, kRsProxy);
  EXPECT_EQ(syn.dport, 9000);
  EXPECT_EQ(syn.flags, kSyn);
  EXPECT_EQ(syn.seq, 1000U);
  EXPECT_EQ(syn.options, (std::vector<uint8_t>{2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7}));
  const auto* s = findInbound(kClient, kCport, 90);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->state, TcpState::kSynRecv);
  EXPECT_EQ(worker_->counters().synproxyAccepted, 1U);

  // The RS answers (ISN 70000): the node ACKs it with TOA, nothing reaches the client.
  const uint32_t r = 70000;
  const Seg ack = forward(rs(kRsProxy, 9000, syn.sport, kSyn | kAck, r, 1001,
                             {2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7}));
  EXPECT_EQ(ack.src, kLip);
  EXPECT_EQ(ack.dst, kRsProxy);
  EXPECT_EQ(ack.flags, kAck);
  EXPECT_EQ(ack.seq, 1001U);
  EXPECT_EQ(ack.ack, r + 1);
  EXPECT_EQ(ack.options, optToa(kCport, kClient));
  EXPECT_EQ(findInbound(kClient, kCport, 90)->state, TcpState::kEstablished);

  // Client request: its ack (k+1) becomes the RS's (r+1).
  const Seg req = forward(client(90, kPsh | kAck, 1001, k + 1, {}, kRequest));
  EXPECT_EQ(req.seq, 1001U);
  EXPECT_EQ(req.ack, r + 1);
  EXPECT_EQ(req.payload, kRequest);
  // RS response: its seq (r+1) becomes ours (k+1).
  const Seg resp = forward(
      rs(kRsProxy, 9000, syn.sport, kPsh | kAck, r + 1, 1001 + kRequest.size(), {}, kResponse));
  EXPECT_EQ(resp.src, kVip);
  EXPECT_EQ(resp.dst, kClient);
  EXPECT_EQ(resp.seq, k + 1);
  EXPECT_EQ(resp.ack, 1001U + kRequest.size());
  EXPECT_EQ(resp.payload, kResponse);
  // The client SACKs a later RS block: the block's edges move into the RS's space.
  const uint32_t k2 = k + 1 + 5000;
  const Seg sack = forward(
      client(90, kAck, 1001 + kRequest.size(), k + 1 + kResponse.size(), sackBlock(k2, k2 + 1000)));
  EXPECT_EQ(sack.ack, r + 1 + kResponse.size());
  EXPECT_EQ(sack.options, sackBlock(r + 1 + 5000, r + 1 + 6000));
  // FIN from the RS (in its window) and the client's last ACK.
  const uint32_t rFin = r + 1 + kResponse.size();
  const Seg fin = forward(rs(kRsProxy, 9000, syn.sport, kFin | kAck, rFin, 1001 + kRequest.size()));
  EXPECT_EQ(fin.seq, k + 1 + kResponse.size());
  EXPECT_EQ(findInbound(kClient, kCport, 90)->state, TcpState::kCloseWait);
  // A RST with the client's exact next sequence number ends it; the RS sees it unshifted.
  const Seg rst =
      forward(client(90, kRst | kAck, 1001 + kRequest.size(), k + 2 + kResponse.size()));
  EXPECT_EQ(rst.seq, 1001U + kRequest.size());
  EXPECT_EQ(rst.ack, rFin + 1);
  EXPECT_EQ(findInbound(kClient, kCport, 90)->state, TcpState::kClose);
  EXPECT_EQ(worker_->checkInvariants(), "");
}

TEST_F(SynProxy, ClientDataBeforeTheRsAnswersIsHeldAndDeliveredWithToa) {
  Seg syn;
  const uint32_t k = openToRs(90, syn);
  // The request arrives before the RS's SYN-ACK: held; a SYN (retransmission) takes its slot.
  const Seg again = forward(client(90, kPsh | kAck, 1001, k + 1, {}, kRequest));
  EXPECT_EQ(again.flags, kSyn);
  EXPECT_EQ(again.seq, 1000U);
  EXPECT_EQ(again.dst, kRsProxy);
  // A duplicate of it is not held twice: another SYN retransmission.
  EXPECT_EQ(forward(client(90, kPsh | kAck, 1001, k + 1, {}, kRequest)).flags, kSyn);
  // The RS answers: the held request goes out as the ACK of its SYN-ACK, with TOA.
  const Seg req =
      forward(rs(kRsProxy, 9000, syn.sport, kSyn | kAck, 5000, 1001, {2, 4, 0x05, 0xb4}));
  EXPECT_EQ(req.flags, kPsh | kAck);
  EXPECT_EQ(req.seq, 1001U);
  EXPECT_EQ(req.ack, 5001U);
  EXPECT_EQ(req.options, optToa(kCport, kClient));
  EXPECT_EQ(req.payload, kRequest);
}

TEST_F(SynProxy, AckCarryingDataIsHeldTheSame) {
  Seg syn;
  openToRs(90, syn, kRequest);
  EXPECT_EQ(syn.flags, kSyn);
  EXPECT_EQ(syn.seq, 1000U);
  const Seg req = forward(rs(kRsProxy, 9000, syn.sport, kSyn | kAck, 5000, 1001));
  EXPECT_EQ(req.payload, kRequest);
  EXPECT_EQ(req.ack, 5001U);
}

TEST_F(SynProxy, RetransmittedSynAckIsAckedAgainAndNeverReachesTheClient) {
  Seg syn;
  openToRs(90, syn);
  const auto synAck = rs(kRsProxy, 9000, syn.sport, kSyn | kAck, 5000, 1001);
  EXPECT_EQ(forward(synAck).dst, kRsProxy);
  const Seg second = forward(synAck);
  EXPECT_EQ(second.dst, kRsProxy);
  EXPECT_EQ(second.flags, kAck);
  EXPECT_EQ(second.ack, 5001U);
  // A SYN-ACK with another ISN is not the RS's: dropped.
  EXPECT_EQ(dropped(rs(kRsProxy, 9000, syn.sport, kSyn | kAck, 9999, 1001)),
            DropReason::kTcpOutOfWindow);
}

TEST_F(SynProxy, RsRefusalResetsTheClientAndFreesTheSession) {
  Seg syn;
  const uint32_t k = openToRs(90, syn);
  const Seg rst = forward(rs(kRsProxy, 9000, syn.sport, kRst | kAck, 0, 1001));
  EXPECT_EQ(rst.src, kVip);
  EXPECT_EQ(rst.dst, kClient);
  EXPECT_EQ(rst.flags, kRst | kAck);
  EXPECT_EQ(rst.seq, k + 1);
  EXPECT_EQ(rst.ack, 1001U);
  EXPECT_EQ(findInbound(kClient, kCport, 90), nullptr);
  EXPECT_EQ(worker_->counters().synproxyRsRefused, 1U);
  EXPECT_EQ(worker_->checkInvariants(), "");
}

// The RS still holds a connection on LIP:LPORT (TIME_WAIT from before a restart) and answers
// our SYN with that connection's ACK: a RST of SEQ = its ACK clears it, and the client's next
// segment sends our SYN again, which the RS now accepts.
TEST_F(SynProxy, StaleConnectionAtTheRsIsResetAndTheSynSentAgain) {
  Seg syn;
  const uint32_t k = openToRs(90, syn, kRequest);
  const Seg rst = forward(rs(kRsProxy, 9000, syn.sport, kAck, 777000, 123456789));
  EXPECT_EQ(rst.src, kLip);
  EXPECT_EQ(rst.dst, kRsProxy);
  EXPECT_EQ(rst.sport, syn.sport);
  EXPECT_EQ(rst.dport, 9000);
  EXPECT_EQ(rst.flags, kRst);
  EXPECT_EQ(rst.seq, 123456789U);
  EXPECT_TRUE(rst.payload.empty());
  EXPECT_EQ(worker_->counters().staleRsResets, 1U);
  // Replayed: one RST per ACK, never more; the session waits as it was.
  EXPECT_EQ(forward(rs(kRsProxy, 9000, syn.sport, kAck, 777000, 123456789)).flags, kRst);
  EXPECT_EQ(worker_->counters().staleRsResets, 2U);
  ASSERT_NE(findInbound(kClient, kCport, 90), nullptr);
  // The client retransmits its request: our SYN again, then the RS's SYN-ACK delivers it.
  const Seg again = forward(client(90, kPsh | kAck, 1001, k + 1, {}, kRequest));
  EXPECT_EQ(again.flags, kSyn);
  EXPECT_EQ(again.sport, syn.sport);
  const Seg req = forward(rs(kRsProxy, 9000, syn.sport, kSyn | kAck, 5000, 1001));
  EXPECT_EQ(req.payload, kRequest);
  EXPECT_EQ(worker_->checkInvariants(), "");
}

TEST_F(SynProxy, SilentRsTimesOutWithARstToTheClient) {
  Seg syn;
  const uint32_t k = openToRs(90, syn, kRequest);  // with held data: it carries the RST
  worker_->expire(1000 + 2000);
  EXPECT_NE(findInbound(kClient, kCport, 90), nullptr);
  rte_mbuf* gen[4];
  EXPECT_EQ(worker_->takeGenerated(gen, 4), 0);
  worker_->expire(1000 + 3000 + 1100);
  EXPECT_EQ(findInbound(kClient, kCport, 90), nullptr);
  ASSERT_EQ(worker_->takeGenerated(gen, 4), 1);
  const auto bytes = toBytes(gen[0]);
  rte_pktmbuf_free(gen[0]);
  EXPECT_EQ(checksumProblems(bytes), "");
  const Seg rst = decode(bytes);
  EXPECT_EQ(rst.dst, kClient);
  EXPECT_EQ(rst.flags, kRst | kAck);
  EXPECT_EQ(rst.seq, k + 1);
  EXPECT_EQ(rst.ack, 1001U + kRequest.size());
  EXPECT_EQ(worker_->counters().synproxyRsTimeouts, 1U);
  // Without held data the RST comes from a fresh mbuf of the packets' pool.
  openToRs(90, syn, {}, 10000);
  worker_->expire(10000 + 4100);
  ASSERT_EQ(worker_->takeGenerated(gen, 4), 1);
  const Seg rst2 = decode(toBytes(gen[0]));
  rte_pktmbuf_free(gen[0]);
  EXPECT_EQ(rst2.flags, kRst | kAck);
  EXPECT_EQ(worker_->checkInvariants(), "");
}

TEST_F(SynProxy, ForgedStaleAndRandomAcksAreDroppedAndCreateNothing) {
  const Seg sa = forward(client(90, kSyn, 1000, 0, kLinuxSyn));
  EXPECT_EQ(dropped(client(90, kAck, 1001, sa.seq + 2)), DropReason::kSynproxyBadCookie);
  EXPECT_EQ(dropped(client(90, kAck, 1002, sa.seq + 1)), DropReason::kSynproxyBadCookie);
  // Stale: two cookie buckets (2 x 65.5 s) later.
  EXPECT_EQ(dropped(client(90, kAck, 1001, sa.seq + 1), 1000 + 131100),
            DropReason::kSynproxyBadCookie);
  // An ACK flood with random acknowledgement numbers from random ports.
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    L4Spec a = client(90, kAck, rng(), rng());
    a.sport = static_cast<uint16_t>(1024 + i);
    EXPECT_EQ(dropped(a), DropReason::kSynproxyBadCookie);
  }
  EXPECT_EQ(dropped(client(90, kFin | kAck, 1001, sa.seq + 1)), DropReason::kTcpNonSynMiss);
  EXPECT_EQ(worker_->sessions().size(), 0U);
  // Still valid within its lifetime, and a replay of the same ACK makes no second session.
  Seg syn = forward(client(90, kAck, 1001, sa.seq + 1), 1000 + 60000);
  EXPECT_EQ(syn.flags, kSyn);
  EXPECT_EQ(forward(client(90, kAck, 1001, sa.seq + 1), 1000 + 60000).flags, kSyn);
  EXPECT_EQ(worker_->sessions().size(), 1U);
  EXPECT_EQ(worker_->counters().synproxyAccepted, 1U);
}

TEST_F(SynProxy, WindowScalesThatDifferAreTranslated) {
  Seg syn;
  const uint32_t k = openToRs(90, syn);  // client offered WS 7, our SYN-ACK offered 7
  // The RS offers window scale 2: its windows are rescaled for a client that reads them << 7.
  forward(rs(kRsProxy, 9000, syn.sport, kSyn | kAck, 5000, 1001, {1, 3, 3, 2}));
  L4Spec data = rs(kRsProxy, 9000, syn.sport, kAck, 5001, 1001, {}, kResponse);
  data.window = 32768;                    // 128 KiB at shift 2
  EXPECT_EQ(forward(data).window, 1024);  // 128 KiB at shift 7
  (void)k;
}

TEST_F(SynProxy, RsWithoutWindowScalingGetsTheClientsWindowUnscaled) {
  Seg syn;
  const uint32_t k = openToRs(90, syn);
  forward(rs(kRsProxy, 9000, syn.sport, kSyn | kAck, 5000, 1001, {2, 4, 0x05, 0xb4}));
  // The client scales by 7 (it was promised scaling); the RS, which declined, reads unscaled.
  L4Spec c = client(90, kAck, 1001, k + 1, {}, kRequest);
  c.window = 100;  // 12800 bytes
  EXPECT_EQ(forward(c).window, 12800);
  // And the RS's unscaled windows are read by the client with our shift 7.
  L4Spec d = rs(kRsProxy, 9000, syn.sport, kAck, 5001, 1001 + kRequest.size(), {}, kResponse);
  d.window = 64000;
  EXPECT_EQ(forward(d).window, 500);
}

TEST_F(SynProxy, AutoModeProxiesOnlyWhileEngaged) {
  // Below the thresholds (20 SYN/s, 8 half-open): SYNs go to the RS as usual.
  const Seg first = forward(client(93, kSyn, 1000, 0, kLinuxSyn), 1000);
  EXPECT_EQ(first.dst, "10.20.0.81");
  EXPECT_EQ(worker_->counters().synproxyActive, 0U);
  // Half-open connections up to 9 (> auto_syn_recv = 8): the gate engages at the next burst,
  // within the same second.
  for (uint16_t p = 1; p <= 8; ++p) {
    L4Spec s = client(93, kSyn, 1000, 0, kLinuxSyn);
    s.sport = static_cast<uint16_t>(50000 + p);
    EXPECT_EQ(forward(s, 1500).dst, "10.20.0.81");
  }
  L4Spec s = client(93, kSyn, 1000, 0, kLinuxSyn);
  s.sport = 51000;
  const Seg proxied = forward(s, 1500);
  EXPECT_EQ(proxied.dst, kClient);  // a cookie SYN-ACK now
  EXPECT_EQ(proxied.flags, kSyn | kAck);
  EXPECT_EQ(worker_->counters().synproxyEngaged, 1U);
  EXPECT_EQ(worker_->counters().synproxyActive, 1U);
  // The half-open sessions time out (30 s); calm for 2 s more: disengaged.
  worker_->expire(40000);
  s.sport = 51001;
  forward(s, 41000);
  s.sport = 51002;
  forward(s, 42100);
  s.sport = 51003;
  EXPECT_EQ(forward(s, 44200).dst, "10.20.0.81");
  EXPECT_EQ(worker_->counters().synproxyDisengaged, 1U);
  EXPECT_EQ(worker_->counters().synproxyActive, 0U);
}

TEST_F(SynProxy, BurstOfTheWholeHandshakeGivesTheResultOfSinglePackets) {
  // SYN and a forged ACK for another port in one burst, then the right ACK and its data in one
  // burst: the second packet of a new proxied flow must find the session the first made.
  const Seg sa = forward(client(90, kSyn, 1000, 0, kLinuxSyn));
  std::vector<rte_mbuf*> ms = {
      toMbuf(frame(client(90, kAck, 1001, sa.seq + 1))),
      toMbuf(frame(client(90, kPsh | kAck, 1001, sa.seq + 1, {}, kRequest)))};
  fullnat::PacketVerdict v[2];
  worker_->processBurst(ms.data(), 2, 1000, v);
  EXPECT_EQ(v[0].verdict, Verdict::kForward);
  EXPECT_EQ(v[1].verdict, Verdict::kForward);
  EXPECT_EQ(decode(toBytes(ms[0])).flags, kSyn);
  EXPECT_EQ(decode(toBytes(ms[1])).flags, kSyn);  // the request is held, a SYN in its slot
  for (auto* m : ms) rte_pktmbuf_free(m);
  EXPECT_EQ(worker_->sessions().size(), 1U);
  EXPECT_EQ(worker_->checkInvariants(), "");
}

uint32_t quotedSeq(const std::vector<uint8_t>& f) {
  const size_t q = 14 + 20 + 8 + 20 + 4;  // outer IP, ICMP header, quoted IP, TCP ports
  return static_cast<uint32_t>(f[q] << 24 | f[q + 1] << 16 | f[q + 2] << 8 | f[q + 3]);
}

TEST_F(SynProxy, FragNeededFromTheClientSideQuotesTheRsOwnSequenceNumber) {
  Seg syn;
  const uint32_t k = openToRs(90, syn);
  forward(rs(kRsProxy, 9000, syn.sport, kSyn | kAck, 70000, 1001));
  const Seg toC = forward(rs(kRsProxy, 9000, syn.sport, kPsh | kAck, 70001, 1001, {}, kResponse));
  ASSERT_EQ(toC.seq, k + 1);
  // What the client-side router saw and quotes: VIP:90 -> client, our seq k+1.
  L4Spec seen = client(90, kPsh | kAck, k + 1, 1001, {}, kResponse);
  std::swap(seen.src, seen.dst);
  std::swap(seen.sport, seen.dport);
  const auto out = run(frame(fragNeededToVipQuoting(seen)));
  ASSERT_EQ(out.v.verdict, Verdict::kForward) << fullnat::dropReasonName(out.v.reason);
  EXPECT_EQ(checksumProblems(out.bytes), "");
  EXPECT_EQ(addrAt(out.bytes, 14 + 16), kRsProxy);
  EXPECT_EQ(quotedSeq(out.bytes), 70001U);  // the RS's own number, not the cookie's
}

// ---------------------------------------------------------------------------------------------
// Proxy Protocol v2

class ProxyProtocol : public SynProxy {};

TEST_F(ProxyProtocol, HeaderRidesOnTheHandshakeAckAndEverythingAfterIsShifted) {
  const auto syn = client(91, kSyn, 1000, 0, kLinuxSyn);
  const Seg toRsSyn = forward(syn);
  EXPECT_EQ(toRsSyn.seq, 1000U);  // the SYN keeps the client's ISN
  const uint16_t lport = toRsSyn.sport;
  // The RS's SYN-ACK: its MSS lowered by the header's 28 bytes, its ack untouched.
  const Seg sa = forward(rs(kRsPp, 9100, lport, kSyn | kAck, 5000, 1001, {2, 4, 0x05, 0xb4}));
  EXPECT_EQ(sa.options, (std::vector<uint8_t>{2, 4, 0x05, 0x98}));  // 1460 - 28
  EXPECT_EQ(sa.ack, 1001U);
  // The handshake's ACK carries the header: the RS's accept() completes on it even if the
  // client never speaks first.
  const auto header = ppv2Header(kClient, kCport, 91);
  const Seg ack = forward(client(91, kAck, 1001, 5001));
  EXPECT_EQ(ack.seq, 1001U);
  EXPECT_EQ(ack.payload, header);
  EXPECT_TRUE(ack.options.empty());
  // The first request, also at 1001, while the header is unacknowledged: header again, then
  // the request.
  const Seg req = forward(client(91, kPsh | kAck, 1001, 5001, {}, kRequest));
  EXPECT_EQ(req.seq, 1001U);
  EXPECT_EQ(req.payload, cat(header, kRequest));
  // The RS acknowledges header + request: the client sees only its own bytes acknowledged.
  const uint32_t rsAck = 1001 + 28 + kRequest.size();
  const Seg resp = forward(rs(kRsPp, 9100, lport, kPsh | kAck, 5001, rsAck, {}, kResponse));
  EXPECT_EQ(resp.ack, 1001U + kRequest.size());
  EXPECT_EQ(resp.seq, 5001U);
  // Later client bytes are 28 further on in the RS's view; a retransmission of the first
  // request, now that the header is acknowledged, too, and carries no second header.
  const Seg more = forward(
      client(91, kPsh | kAck, 1001 + kRequest.size(), 5001 + kResponse.size(), {}, kRequest));
  EXPECT_EQ(more.seq, 1001U + 28 + kRequest.size());
  EXPECT_EQ(more.payload, kRequest);
  const Seg retr = forward(client(91, kPsh | kAck, 1001, 5001, {}, kRequest));
  EXPECT_EQ(retr.seq, 1001U + 28);
  EXPECT_EQ(retr.payload, kRequest);
  // SACK blocks from the RS are mapped back over the header; an ack inside the header
  // acknowledges nothing of the client's.
  const uint32_t c = 1001 + 2 * kRequest.size();
  const Seg sack = forward(rs(kRsPp, 9100, lport, kAck, 5001 + kResponse.size(), 1001 + 10,
                              sackBlock(c + 28 + 100, c + 28 + 200)));
  EXPECT_EQ(sack.ack, 1001U);
  EXPECT_EQ(sack.options, sackBlock(c + 100, c + 200));
  EXPECT_EQ(worker_->counters().ppv2Headers, 2U);
}

TEST_F(ProxyProtocol, WithTheSynProxyTheHeaderGoesInTheAckOfTheRsSynAck) {
  Seg syn;
  const uint32_t k = openToRs(92, syn);
  EXPECT_EQ(syn.dst, kRsProxyPp);
  const Seg ack = forward(rs(kRsProxyPp, 9200, syn.sport, kSyn | kAck, 5000, 1001));
  EXPECT_EQ(ack.seq, 1001U);
  EXPECT_EQ(ack.ack, 5001U);
  EXPECT_EQ(ack.payload, ppv2Header(kClient, kCport, 92));
  const Seg req = forward(client(92, kPsh | kAck, 1001, k + 1, {}, kRequest));
  EXPECT_EQ(req.payload, cat(ppv2Header(kClient, kCport, 92), kRequest));
  const Seg resp = forward(
      rs(kRsProxyPp, 9200, syn.sport, kAck, 5001, 1001 + 28 + kRequest.size(), {}, kResponse));
  EXPECT_EQ(resp.seq, k + 1);
  EXPECT_EQ(resp.ack, 1001U + kRequest.size());
}

TEST_F(ProxyProtocol, FragNeededFromTheRsSideQuotesTheClientsOwnSequenceNumber) {
  const Seg s = forward(client(91, kSyn, 1000, 0, kLinuxSyn));
  forward(rs(kRsPp, 9100, s.sport, kSyn | kAck, 5000, 1001));
  forward(client(91, kAck, 1001, 5001));                     // the header: 1001..1028
  forward(rs(kRsPp, 9100, s.sport, kAck, 5001, 1001 + 28));  // acknowledged
  const Seg toRs = forward(client(91, kPsh | kAck, 1001, 5001, {}, kRequest));
  ASSERT_EQ(toRs.seq, 1001U + 28);
  // A router between node and RS quotes LIP -> RS with the shifted number.
  L4Spec sent = rs(kRsPp, 9100, s.sport, kPsh | kAck, 1001 + 28, 5001, {}, kRequest);
  std::swap(sent.src, sent.dst);
  std::swap(sent.sport, sent.dport);
  L4Spec icmp = fragNeededToVipQuoting(sent);
  icmp.dst = kLip;
  const auto out = run(frame(icmp));
  ASSERT_EQ(out.v.verdict, Verdict::kForward) << fullnat::dropReasonName(out.v.reason);
  EXPECT_EQ(checksumProblems(out.bytes), "");
  EXPECT_EQ(addrAt(out.bytes, 14 + 16), kClient);
  EXPECT_EQ(quotedSeq(out.bytes), 1001U);
}

TEST_F(ProxyProtocol, ClientThatClosesAtOnceStillSendsTheHeader) {
  const Seg s = forward(client(91, kSyn, 1000, 0, kLinuxSyn));
  forward(rs(kRsPp, 9100, s.sport, kSyn | kAck, 5000, 1001));
  const Seg fin = forward(client(91, kFin | kAck, 1001, 5001));
  EXPECT_EQ(fin.flags, kFin | kAck);
  EXPECT_EQ(fin.seq, 1001U);
  EXPECT_EQ(fin.payload, ppv2Header(kClient, kCport, 91));
}

}  // namespace
}  // namespace anylb::testing
