// Session sync in the engine (fullnat/sync_apply.cc): a session created on one node's worker
// travels as events to another node's worker, which then translates the moved flow exactly as
// the owner did, both ways; and what a peer's message must never do there.
#include <gtest/gtest.h>

#include "engine_fixture.h"

namespace anylb::testing {
namespace {

using fullnat::DropReason;
using fullnat::SyncEvent;
using fullnat::SyncKind;
using fullnat::SyncRing;
using fullnat::Verdict;
using session::TcpState;

const std::vector<uint8_t> kSynOpts = {2, 4, 0x05, 0xb4};
const std::vector<uint8_t> kToa = optToa(40000, kClient);
const std::vector<uint8_t> kData = {'G', 'E', 'T', ' ', '/', '\r', '\n', '\r', '\n'};

// The peer node: its own LIP (10.200.9.1), and the owner's (10.200.0.1) as a sync peer's.
std::string peerConfig() {
  std::string text = engineConfig();
  const std::string from = R"(prefixes = ["10.200.0.1/32", "fd00:200::1/128"])";
  text.replace(text.find(from), from.size(), R"(prefixes = ["10.200.9.1/32", "fd00:209::1/128"])");
  return text + R"(
[sync]
enabled = true
node_id = 2
key_file = "/nonexistent"
[[sync.peer]]
node_id = 1
address = "10.1.0.1"
lip_prefixes = ["10.200.0.1/32", "fd00:200::1/128"]
)";
}

class SessionSync : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    worker_->setSync(&ownerOut_, 10000, 1000);
    auto r = config::loadConfigString(peerConfig(), "peer.toml");
    ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
    peerCfg_ = *r.config;
    peer_ = std::make_unique<fullnat::Worker>(0, 1, 1024);
    peer_->setSnapshot(fullnat::Snapshot::build(peerCfg_, 1, 1, peerRegistry_));
    peer_->setSync(&peerOut_, 10000, 1000);
  }

  Out runOnPeer(const L4Spec& in, uint64_t nowMs = 2000) {
    rte_mbuf* m = toMbuf(frame(in));
    fullnat::PacketVerdict v;
    peer_->processBurst(&m, 1, nowMs, &v);
    Out o{v, toBytes(m)};
    rte_pktmbuf_free(m);
    return o;
  }

  // What the sync service does: the owner's events to the peer's worker. Returns how many.
  size_t deliver(uint64_t nowMs = 2000) {
    SyncEvent ev;
    size_t n = 0;
    while (ownerOut_.pop(ev)) {
      EXPECT_TRUE(peerIn_.push(ev));
      ++n;
    }
    peer_->applySync(peerIn_, nowMs, 1000);
    return n;
  }

  // The owner's connection: handshake and a request, as the engine tests check them.
  void ownerConnection() {
    const auto syn = fromClient(kSyn, kSynOpts);
    expectForward(syn, toRs(syn, kSynOpts));
    const auto synAck = fromRs(kSyn | kAck, kSynOpts);
    expectForward(synAck, toClient(synAck, {2, 4, 0x05, 0xac}));
    const auto ack = fromClient(kAck);
    expectForward(ack, toRs(ack, kToa));
  }

  SyncRing ownerOut_{64};
  SyncRing peerOut_{64};
  SyncRing peerIn_{64};
  config::Config peerCfg_;
  fullnat::RsRegistry peerRegistry_;
  std::unique_ptr<fullnat::Worker> peer_;
};

TEST_F(SessionSync, AMovedFlowIsTranslatedByThePeerExactlyAsByItsOwner) {
  ownerConnection();
  // Created (SYN_RECV), then ESTABLISHED: two events; the SYN-ACK changed no state.
  EXPECT_EQ(deliver(), 2U);
  EXPECT_EQ(peer_->syncCounters().installed.load(), 1U);
  EXPECT_EQ(peer_->syncCounters().updated.load(), 1U);
  EXPECT_EQ(peer_->sessions().size(), 1U);

  // The client's next segment reaches the peer (ECMP moved it): the owner's LIP:LPORT and RS.
  auto data = fromClient(kAck | kPsh, {}, kData);
  data.seq = 1001;
  auto out = runOnPeer(data);
  ASSERT_EQ(out.v.verdict, Verdict::kForward) << fullnat::dropReasonName(out.v.reason);
  EXPECT_EQ(checksumProblems(out.bytes), "");
  EXPECT_EQ(out.bytes, frame(toRs(data, kToa)));
  EXPECT_EQ(peer_->syncCounters().adopted.load(), 1U);

  // The RS answers the owner's LIP (the backup route brought it here), far into its stream.
  auto reply = fromRs(kAck | kPsh, {}, kData);
  reply.seq = 5001 + 10'000'000;
  out = runOnPeer(reply);
  ASSERT_EQ(out.v.verdict, Verdict::kForward) << fullnat::dropReasonName(out.v.reason);
  EXPECT_EQ(out.bytes, frame(toClient(reply, {})));
  // Its FIN, in window only by what this node learnt from the segment before.
  auto fin = fromRs(kFin | kAck);
  fin.seq = reply.seq + static_cast<uint32_t>(kData.size());
  out = runOnPeer(fin);
  EXPECT_EQ(out.v.verdict, Verdict::kForward) << fullnat::dropReasonName(out.v.reason);
  EXPECT_EQ(peer_->checkInvariants(), "");
  // The peer carries the flow now: its state changes go out to the fleet.
  SyncEvent ev;
  ASSERT_TRUE(peerOut_.pop(ev));
  EXPECT_EQ(ev.kind, SyncKind::kUpsert);
  EXPECT_EQ(ev.s.state, TcpState::kCloseWait);
  EXPECT_EQ(ev.s.lip, fullnat::toAddr(*IpAddr::parse(kLip)));
}

TEST_F(SessionSync, AReplicaCountsTowardNoRealServerUntilItCarriesAPacket) {
  ownerConnection();
  deliver();
  uint32_t before = 0;
  for (uint32_t id = 0; id < 16; ++id) before += peer_->activeConns(id) + peer_->inactiveConns(id);
  EXPECT_EQ(before, 0U);
  auto data = fromClient(kAck, {}, kData);
  data.seq = 1001;
  ASSERT_EQ(runOnPeer(data).v.verdict, Verdict::kForward);
  uint32_t active = 0;
  for (uint32_t id = 0; id < 16; ++id) active += peer_->activeConns(id);
  EXPECT_EQ(active, 1U);
  EXPECT_EQ(peer_->checkInvariants(), "");
}

// keepalived's sorry_server: a session the owner gave to its service's sorry server counts
// toward that sorry server where it is adopted, as it does on its owner.
TEST_F(SessionSync, AnAdoptedSessionOfTheSorryServerCountsTowardIt) {
  // The peer knows 10.20.0.11:8080 only as service 0's sorry server (its RS is another).
  peerCfg_.services[0].realServers[0].address = *IpAddr::parse("10.20.0.19");
  peerCfg_.services[0].sorryServer = Endpoint{*IpAddr::parse(kRs), 8080};
  peer_->setSnapshot(fullnat::Snapshot::build(peerCfg_, 2, 1, peerRegistry_));
  ownerConnection();
  deliver();
  auto data = fromClient(kAck, {}, kData);
  data.seq = 1001;
  ASSERT_EQ(runOnPeer(data).v.verdict, Verdict::kForward);
  config::RealServer asRs;
  asRs.address = *IpAddr::parse(kRs);
  asRs.port = 8080;
  const uint32_t sorryId = peerRegistry_.idFor(peerCfg_.services[0], asRs);
  EXPECT_EQ(peer_->activeConns(sorryId), 1U);
  EXPECT_EQ(peer_->checkInvariants(), "");
}

TEST_F(SessionSync, LongLivedSessionsAreRefreshedOnlyWhenDue) {
  ownerConnection();
  SyncEvent ev;
  while (ownerOut_.pop(ev)) {
  }
  auto data = fromClient(kAck, {}, kData);
  data.seq = 1001;
  run(frame(data), 5000);  // 4 s later: not due (refresh 10 s)
  EXPECT_EQ(ownerOut_.size(), 0U);
  data.seq += static_cast<uint32_t>(kData.size());
  run(frame(data), 12000);  // 11 s after the last event
  ASSERT_EQ(ownerOut_.size(), 1U);
  ASSERT_TRUE(ownerOut_.pop(ev));
  EXPECT_EQ(ev.s.state, TcpState::kEstablished);
  EXPECT_GT(ev.expiresInMs, 800'000U);  // the established timeout (900 s) from now
}

// --- hostile: what a peer's message must not do

// The owner synced the session before the RS's SYN-ACK, and the flow then moved here: the RS's
// ACKs of what is by now an established connection acknowledge more than the SYN. They are
// that connection's own, not a stale one's (engine.cc resetStaleRs): to the client, never a
// RST to the RS.
TEST_F(SessionSync, AReplicaWithoutItsSynAckIsNeverResetAsStale) {
  const auto syn = fromClient(kSyn, kSynOpts);
  expectForward(syn, toRs(syn, kSynOpts));
  EXPECT_EQ(deliver(), 1U);
  auto ack = fromRs(kAck);
  ack.ack = 1001 + 500;
  const auto out = runOnPeer(ack);
  ASSERT_EQ(out.v.verdict, Verdict::kForward) << fullnat::dropReasonName(out.v.reason);
  EXPECT_EQ(out.bytes, frame(toClient(ack, {})));
  EXPECT_EQ(peer_->counters().staleRsResets, 0U);
}

TEST_F(SessionSync, AFirstRstOnAReplicaIsNotBelieved) {
  ownerConnection();
  deliver();
  auto rst = fromClient(kRst);
  rst.seq = 123456;  // anything: the peer does not know the client's sequence yet
  const auto out = runOnPeer(rst);
  EXPECT_EQ(out.v.verdict, Verdict::kDrop);
  EXPECT_EQ(out.v.reason, DropReason::kTcpOutOfWindow);
  EXPECT_EQ(peer_->sessions().size(), 1U);
}

TEST_F(SessionSync, FieldsOutOfRangeInstallNothing) {
  ownerConnection();
  SyncEvent ev;
  ASSERT_TRUE(ownerOut_.pop(ev));
  SyncEvent bad = ev;
  bad.s.state = static_cast<TcpState>(200);
  ASSERT_TRUE(peerIn_.push(bad));
  bad = ev;
  bad.s.proto = 1;
  ASSERT_TRUE(peerIn_.push(bad));
  bad = ev;
  bad.s.family = 5;
  ASSERT_TRUE(peerIn_.push(bad));
  bad = ev;
  bad.kind = SyncKind::kBulkEnd;  // an outbound-only marker
  ASSERT_TRUE(peerIn_.push(bad));
  peer_->applySync(peerIn_, 2000, 100);
  EXPECT_EQ(peer_->syncCounters().invalid.load(), 4U);
  EXPECT_EQ(peer_->sessions().size(), 0U);
}

TEST_F(SessionSync, APeerCannotOverwriteASessionThisNodeCarries) {
  // The peer's own connection from the same client tuple (to its own LIP) ...
  const auto syn = fromClient(kSyn, kSynOpts);
  ASSERT_EQ(runOnPeer(syn).v.verdict, Verdict::kForward);
  // ... and the owner's view of that tuple arrives: refused, the peer's session unchanged.
  ownerConnection();
  deliver();
  EXPECT_EQ(peer_->syncCounters().conflicts.load(), 2U);
  EXPECT_EQ(peer_->sessions().size(), 1U);
  auto data = fromClient(kAck, {}, kData);
  data.seq = 1001;
  const auto out = runOnPeer(data);
  // Still toward its own LIP 10.200.9.1.
  ASSERT_GE(out.bytes.size(), 34U);
  EXPECT_EQ(out.bytes[26], 10);
  EXPECT_EQ(out.bytes[27], 200);
  EXPECT_EQ(out.bytes[28], 9);
}

TEST_F(SessionSync, ReplicasStopAtTheirShareOfTheTable) {
  peer_->setSync(&peerOut_, 10000, 1);
  for (uint16_t port = 40000; port < 40003; ++port) {
    const auto syn = fromClient(kSyn, kSynOpts, {}, port);
    ASSERT_EQ(run(frame(syn)).v.verdict, Verdict::kForward);
  }
  EXPECT_EQ(deliver(), 3U);
  EXPECT_EQ(peer_->syncCounters().installed.load(), 1U);
  EXPECT_EQ(peer_->syncCounters().replicaFull.load(), 2U);
  EXPECT_EQ(peer_->sessions().size(), 1U);
  // The node's own new connections still have the rest of the table.
  const auto syn = fromClient(kSyn, kSynOpts, {}, 41000);
  EXPECT_EQ(runOnPeer(syn).v.verdict, Verdict::kForward);
}

TEST_F(SessionSync, ADeleteRemovesOnlyAReplicaNobodyCarriesHere) {
  ownerConnection();
  SyncEvent created;
  ASSERT_TRUE(ownerOut_.pop(created));
  ASSERT_TRUE(peerIn_.push(created));
  peer_->applySync(peerIn_, 2000, 10);
  SyncEvent del = created;
  del.kind = SyncKind::kDelete;
  ASSERT_TRUE(peerIn_.push(del));
  peer_->applySync(peerIn_, 2000, 10);
  EXPECT_EQ(peer_->sessions().size(), 0U);
  // Again, but the flow moved here first: the delete leaves it alone.
  ASSERT_TRUE(peerIn_.push(created));
  peer_->applySync(peerIn_, 2000, 10);
  auto data = fromClient(kAck, {}, kData);
  data.seq = 1001;
  ASSERT_EQ(runOnPeer(data).v.verdict, Verdict::kForward);
  ASSERT_TRUE(peerIn_.push(del));
  peer_->applySync(peerIn_, 2000, 10);
  EXPECT_EQ(peer_->sessions().size(), 1U);
  EXPECT_EQ(peer_->checkInvariants(), "");
}

TEST_F(SessionSync, ABulkStepSendsEverySessionThenItsEndMarker) {
  for (uint16_t port = 40000; port < 40010; ++port) {
    run(frame(fromClient(kSyn, kSynOpts, {}, port)));
  }
  SyncEvent ev;
  while (ownerOut_.pop(ev)) {
  }
  uint32_t cursor = 0;
  size_t upserts = 0;
  bool ended = false;
  for (int step = 0; step < 10000 && !ended; ++step) {
    const bool done = worker_->bulkStep(7, cursor, 4, 3000);
    while (ownerOut_.pop(ev)) {
      EXPECT_EQ(ev.dest, 7U);
      if (ev.kind == SyncKind::kUpsert) ++upserts;
      if (ev.kind == SyncKind::kBulkEnd) ended = true;
    }
    if (done) {
      EXPECT_TRUE(ended);
    }
  }
  EXPECT_TRUE(ended);
  EXPECT_EQ(upserts, 10U);
}

}  // namespace
}  // namespace anylb::testing
