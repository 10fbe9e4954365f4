// Packet fixtures for the FULLNAT engine: input frame -> exact expected frame, every checksum
// of every output recomputed in full.
#include <gtest/gtest.h>
#include <rte_ip.h>
#include <rte_tcp.h>

#include "engine_fixture.h"

namespace anylb::testing {
namespace {

using fullnat::DropReason;
using fullnat::Verdict;
using session::TcpState;

const std::vector<uint8_t> kLinuxSynOpts = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
                                            0, 1, 0,    0,    0, 0, 1, 3,  3, 7};
const std::vector<uint8_t> kSynStripped = {2, 4, 0x05, 0xb4, 4, 2, 1, 1, 1, 1,
                                           1, 1, 1,    1,    1, 1, 1, 3, 3, 7};
const std::vector<uint8_t> kSynAckOpts = {2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7};
const std::vector<uint8_t> kSynAckClamped = {2, 4, 0x05, 0xac, 1, 1, 4, 2, 1, 3, 3, 7};
const std::vector<uint8_t> kToa = optToa(40000, kClient);
const std::vector<uint8_t> kRequest = {'G', 'E', 'T', ' ', '/', '\r', '\n', '\r', '\n'};
const std::vector<uint8_t> kResponse = {'H', 'T', 'T', 'P', '/', '1', '.', '0', ' ', '2', '0', '0'};

class Handshake : public EngineTest {
 protected:
  // SYN, SYN-ACK, ACK through the engine, each checked byte for byte.
  void handshake() {
    const auto syn = fromClient(kSyn, kLinuxSynOpts);
    expectForward(syn, toRs(syn, kSynStripped));
    const auto synAck = fromRs(kSyn | kAck, kSynAckOpts);
    expectForward(synAck, toClient(synAck, kSynAckClamped));
    const auto ack = fromClient(kAck);
    expectForward(ack, toRs(ack, kToa));
  }
};

TEST_F(Handshake, SynCreatesASessionAndLosesItsTimestamp) {
  const auto syn = fromClient(kSyn, kLinuxSynOpts);
  expectForward(syn, toRs(syn, kSynStripped));
  const auto* s = findInbound(kClient, 40000, 80);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->state, TcpState::kSynRecv);
  EXPECT_EQ(worker_->counters().sessionsCreated, 1U);
  EXPECT_EQ(worker_->counters().timestampsStripped, 1U);
  EXPECT_EQ(worker_->sessions().size(), 1U);
}

TEST_F(Handshake, SynKeepsItsTimestampWhenConfiguredTo) {
  cfg_.dataplane.stripClientTimestamps = false;
  makeWorker(1024, 0, 1);
  const auto syn = fromClient(kSyn, kLinuxSynOpts);
  expectForward(syn, toRs(syn, kLinuxSynOpts));
}

TEST_F(Handshake, SynAckHasItsMssClampedByTheToaSize) {
  const auto syn = fromClient(kSyn, kLinuxSynOpts);
  expectForward(syn, toRs(syn, kSynStripped));
  const auto synAck = fromRs(kSyn | kAck, kSynAckOpts);
  expectForward(synAck, toClient(synAck, kSynAckClamped));
  EXPECT_EQ(worker_->counters().mssClamped, 1U);
}

// The RS still holds a connection on LIP:LPORT -> RS (in TIME_WAIT: a restarted node's port
// cursor walked into the ports its last run used) and answers the new SYN with that
// connection's ACK. Before, that ACK went to the client, whose RST never got through, and every
// SYN retransmission met the same ACK until the client gave up.
L4Spec staleAck() {
  auto a = fromRs(kAck);
  a.seq = 777000;
  a.ack = 123456789;  // the old connection's numbers
  return a;
}

TEST_F(Handshake, StaleConnectionAtTheRsIsResetAndTheRetriedSynOpens) {
  const auto syn = fromClient(kSyn, kLinuxSynOpts);
  expectForward(syn, toRs(syn, kSynStripped));
  expectForward(staleAck(), staleRst(kLip, kRs, 123456789));
  EXPECT_EQ(worker_->counters().staleRsResets, 1U);
  ASSERT_NE(findInbound(kClient, 40000, 80), nullptr);
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kSynRecv);
  // The client's SYN again, to the same LIP:LPORT; the RS (its old socket gone) accepts it.
  expectForward(syn, toRs(syn, kSynStripped));
  const auto synAck = fromRs(kSyn | kAck, kSynAckOpts);
  expectForward(synAck, toClient(synAck, kSynAckClamped));
  const auto ack = fromClient(kAck);
  expectForward(ack, toRs(ack, kToa));
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kEstablished);
  EXPECT_EQ(worker_->checkInvariants(), "");
}

// Hostile and replayed: each stale ACK gets one RST (no amplification) and changes nothing
// else; ACKs that are not stale are left as they were.
TEST_F(Handshake, OnlyAStaleAckBeforeTheSynAckIsAnsweredWithARst) {
  const auto syn = fromClient(kSyn, kLinuxSynOpts);
  expectForward(syn, toRs(syn, kSynStripped));
  for (int i = 0; i < 3; ++i) expectForward(staleAck(), staleRst(kLip, kRs, 123456789));
  EXPECT_EQ(worker_->counters().staleRsResets, 3U);
  // With FIN or RST, or with data, it is not the answer Linux gives to a SYN: not reset.
  auto finAck = staleAck();
  finAck.flags = kFin | kAck;
  EXPECT_EQ(run(frame(finAck)).v.verdict, Verdict::kDrop);
  auto rstAck = staleAck();
  rstAck.flags = kRst | kAck;
  EXPECT_EQ(run(frame(rstAck)).v.verdict, Verdict::kDrop);
  auto data = staleAck();
  data.flags = kPsh | kAck;
  data.payload = kResponse;
  expectForward(data, toClient(data, {}));
  // After the SYN-ACK, an ACK with any number is the connection's own: to the client.
  const auto synAck = fromRs(kSyn | kAck, kSynAckOpts);
  expectForward(synAck, toClient(synAck, kSynAckClamped));
  expectForward(staleAck(), toClient(staleAck(), {}));
  EXPECT_EQ(worker_->counters().staleRsResets, 3U);
  EXPECT_EQ(worker_->checkInvariants(), "");
}

TEST_F(Handshake, HandshakeAckCarriesToa) {
  handshake();
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kEstablished);
  EXPECT_EQ(worker_->counters().toaInserted, 1U);
  EXPECT_EQ(worker_->activeConns(0), 1U);
  EXPECT_EQ(worker_->inactiveConns(0), 0U);
}

TEST_F(Handshake, DataBothWaysAndNoToaAfterTheRsSpoke) {
  handshake();
  // Client data while the RS has not sent any: TOA again (the ACK may have been lost).
  const auto req = fromClient(kPsh | kAck, {}, kRequest);
  expectForward(req, toRs(req, kToa));
  // RS data back to the client.
  const auto resp = fromRs(kPsh | kAck, {}, kResponse);
  expectForward(resp, toClient(resp, {}));
  // From now on no TOA.
  const auto more = fromClient(kAck, {}, kRequest);
  expectForward(more, toRs(more, {}));
  EXPECT_EQ(worker_->counters().toaInserted, 2U);
}

TEST_F(Handshake, TimestampsOnDataPacketsAreKept) {
  handshake();
  const auto resp = fromRs(kPsh | kAck, {}, kResponse);
  expectForward(resp, toClient(resp, {}));
  const auto data = fromClient(kAck, optTs(7, 9), kRequest);
  expectForward(data, toRs(data, optTs(7, 9)));
}

TEST_F(Handshake, FinFromBothSidesThenTimeWaitThenExpiry) {
  handshake();
  const auto fin = fromClient(kFin | kAck);
  expectForward(fin, toRs(fin, kToa));
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kFinWait);
  const auto rsFin = fromRs(kFin | kAck);
  expectForward(rsFin, toClient(rsFin, {}));
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kLastAck);
  const auto last = fromClient(kAck);
  expectForward(last, toRs(last, kToa));
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kTimeWait);
  EXPECT_EQ(worker_->activeConns(0), 0U);
  EXPECT_EQ(worker_->inactiveConns(0), 1U);
  // TIME_WAIT lasts tcp_time_wait (120 s): not gone after 100 s, gone after 125 s.
  EXPECT_EQ(worker_->expire(1000 + 100'000), 0U);
  EXPECT_EQ(worker_->expire(1000 + 125'000), 1U);
  EXPECT_EQ(worker_->sessions().size(), 0U);
  EXPECT_EQ(worker_->inactiveConns(0), 0U);
  EXPECT_EQ(findInbound(kClient, 40000, 80), nullptr);
}

TEST_F(Handshake, RstClosesAndTheSessionExpiresSoon) {
  handshake();
  auto rst = fromRs(kRst);
  rst.seq = 5001;  // the RS's next sequence number: the only RST that may close (RFC 5961)
  expectForward(rst, toClient(rst, {}));
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kClose);
  EXPECT_EQ(worker_->expire(1000 + 5'000), 0U);
  EXPECT_EQ(worker_->expire(1000 + 13'000), 1U);
}

TEST_F(Handshake, EstablishedSessionsExpireAfterTheirIdleTimeout) {
  handshake();
  // Traffic at t=500 s pushes expiry to 1400 s.
  const auto data = fromClient(kAck, {}, kRequest);
  expectForward(data, toRs(data, kToa), 500'000);
  EXPECT_EQ(worker_->expire(1000'000), 0U);
  EXPECT_EQ(worker_->expire(1399'000), 0U);
  EXPECT_EQ(worker_->expire(1403'000), 1U);
  EXPECT_EQ(worker_->activeConns(0), 0U);
  EXPECT_EQ(worker_->counters().sessionsExpired, 1U);
}

TEST_F(Handshake, SynOnATimeWaitSessionStartsANewSession) {
  handshake();
  auto rst = fromClient(kRst | kAck);
  rst.seq = 1001;
  run(frame(rst));
  const auto syn = fromClient(kSyn, kLinuxSynOpts);
  // The port cursor has moved on: the new session takes the next LPORT.
  expectForward(syn, toRs(syn, kSynStripped, 1025));
  EXPECT_EQ(findInbound(kClient, 40000, 80)->state, TcpState::kSynRecv);
  EXPECT_EQ(worker_->counters().sessionsReused, 1U);
  EXPECT_EQ(worker_->sessions().size(), 1U);
}

TEST_F(Handshake, ClientForgedToaIsReplacedByTheRealOne) {
  const auto forged = optToa(1, "203.0.113.99");
  const auto syn = fromClient(kSyn, cat(forged, {2, 4, 0x05, 0xb4}));
  expectForward(syn, toRs(syn, {1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 0x05, 0xb4}));
  const auto synAck = fromRs(kSyn | kAck, kSynAckOpts);
  expectForward(synAck, toClient(synAck, kSynAckClamped));
  const auto ack = fromClient(kAck, forged);
  // The forged option becomes NOPs; the real TOA goes first.
  expectForward(ack, toRs(ack, cat(kToa, std::vector<uint8_t>(8, 1))));
  EXPECT_EQ(worker_->counters().toaForgedRemoved, 2U);
}

TEST_F(Handshake, FullOptionSpaceMakesRoomByDroppingNops) {
  handshake();
  // NOP*4 + TS + NOP*2 + SACK(2 blocks) + NOP*2 = 36 bytes: TOA fits once the NOPs go.
  std::vector<uint8_t> sack = {5, 18};
  for (uint8_t i = 0; i < 16; ++i) sack.push_back(i);
  const std::vector<uint8_t> ts = {8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
  auto opts = cat(cat(cat(cat({1, 1, 1, 1}, ts), {1, 1}), sack), {1, 1});
  ASSERT_EQ(opts.size(), 36U);
  const auto ack = fromClient(kAck, opts);
  expectForward(ack, toRs(ack, cat(cat(kToa, ts), sack)));
}

TEST_F(Handshake, FullOptionSpaceWithoutNopsForwardsWithoutToa) {
  handshake();
  std::vector<uint8_t> sack = {5, 26};
  for (uint8_t i = 0; i < 24; ++i) sack.push_back(i);
  const std::vector<uint8_t> ts = {8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
  const auto opts = cat(ts, sack);  // 36 bytes, no NOP to spare
  const auto ack = fromClient(kAck, opts);
  expectForward(ack, toRs(ack, opts));
  EXPECT_EQ(worker_->counters().toaNoRoom, 1U);
}

TEST_F(Handshake, NonSynMissIsDroppedAndCreatesNothing) {
  const auto out = run(frame(fromClient(kAck, {}, kRequest)));
  EXPECT_EQ(out.v.verdict, Verdict::kDrop);
  EXPECT_EQ(out.v.reason, DropReason::kTcpNonSynMiss);
  EXPECT_EQ(worker_->sessions().size(), 0U);
  EXPECT_EQ(worker_->counters().drops[static_cast<unsigned>(DropReason::kTcpNonSynMiss)], 1U);
}

TEST_F(EngineTest, UdpBothWays) {
  L4Spec q = fromClient(0, {}, {1, 2, 3, 4, 5}, 5353, 53);
  q.proto = 17;
  L4Spec atRs = toRs(q, {}, 1024, "10.20.0.21", 53);
  expectForward(q, atRs);
  L4Spec r = atRs;
  std::swap(r.src, r.dst);
  std::swap(r.sport, r.dport);
  r.ttl = 64;
  r.payload = {9, 9, 9};
  L4Spec back = r;
  back.src = kVip;
  back.dst = kClient;
  back.sport = 53;
  back.dport = 5353;
  back.ttl = 63;
  expectForward(r, back);
  // A datagram without checksum stays without one.
  L4Spec noSum = q;
  noSum.udpNoChecksum = true;
  L4Spec noSumOut = atRs;
  noSumOut.udpNoChecksum = true;
  expectForward(noSum, noSumOut);
  EXPECT_EQ(findInbound(kClient, 5353, 53, 17)->state, TcpState::kNone);
}

TEST_F(EngineTest, ChecksumOffloadSetsFlagsAndPseudoHeaderSum) {
  makeWorker(1024, 0, 1, fullnat::EngineOptions{true});
  rte_mbuf* m = toMbuf(frame(fromClient(kSyn, {2, 4, 0x05, 0xb4})));
  fullnat::PacketVerdict v;
  worker_->processBurst(&m, 1, 1000, &v);
  ASSERT_EQ(v.verdict, Verdict::kForward);
  EXPECT_TRUE(m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM);
  EXPECT_TRUE(m->ol_flags & RTE_MBUF_F_TX_IPV4);
  EXPECT_EQ(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, RTE_MBUF_F_TX_TCP_CKSUM);
  EXPECT_EQ(m->l2_len, 14U);
  EXPECT_EQ(m->l3_len, 20U);
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
  auto* th = rte_pktmbuf_mtod_offset(m, rte_tcp_hdr*, 34);
  EXPECT_EQ(ip->hdr_checksum, 0);
  EXPECT_EQ(th->cksum, rte_ipv4_phdr_cksum(ip, m->ol_flags));
  rte_pktmbuf_free(m);
}

}  // namespace
}  // namespace anylb::testing
