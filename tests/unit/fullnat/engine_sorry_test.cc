// keepalived's sorry_server in the worker: while the snapshot says the service is "sorry",
// new sessions go to the sorry server (counted under its own rsId); sessions already made keep
// their server when the RS come back, and new ones go to the RS again.
#include <gtest/gtest.h>

#include "engine_fixture.h"

namespace anylb::testing {
namespace {

using fullnat::DropReason;
using fullnat::Verdict;

constexpr const char* kSorry = "10.20.0.99";

class Sorry : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    cfg_.services[0].sorryServer = Endpoint{*IpAddr::parse(kSorry), 8080};
  }
  // Service 0's RS at `weight` (0: down), service 0 sorry or not.
  void publish(uint32_t weight, bool sorry) {
    const auto& svc = cfg_.services[0];
    const uint32_t rsId = registry_.idFor(svc, svc.realServers[0]);
    worker_->setSnapshot(
        fullnat::Snapshot::build(cfg_, ++generation_, 1, registry_, {{rsId, weight}}, {sorry}));
  }
  const session::Session* syn(uint16_t cport) {
    const auto out = run(frame(fromClient(kSyn, kMss, {}, cport)));
    EXPECT_EQ(out.v.verdict, Verdict::kForward) << fullnat::dropReasonName(out.v.reason);
    return findInbound(kClient, cport, 80);
  }
};

TEST_F(Sorry, NewSessionsGoToTheSorryServerWhileActive) {
  publish(0, true);
  const auto* s = syn(40001);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->rip, fullnat::toAddr(*IpAddr::parse(kSorry)));
  EXPECT_EQ(s->rport, htons(8080));
  // Counted under the sorry server's own id, not the RS's.
  config::RealServer asRs;
  asRs.address = *IpAddr::parse(kSorry);
  asRs.port = 8080;
  const uint32_t sorryId = registry_.idFor(cfg_.services[0], asRs);
  EXPECT_EQ(s->rsId, sorryId);
  EXPECT_EQ(worker_->rsStats()[sorryId].conns, 1U);
}

TEST_F(Sorry, RsBackNewSessionsGoThereAndTheSorrySessionsStay) {
  publish(0, true);
  const auto* old = syn(40001);
  ASSERT_NE(old, nullptr);
  publish(1, false);
  const auto* fresh = syn(40002);
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(fresh->rip, fullnat::toAddr(*IpAddr::parse(kRs)));
  // The sorry server's session drains: still there, still toward the sorry server.
  const auto* again = findInbound(kClient, 40001, 80);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->rip, fullnat::toAddr(*IpAddr::parse(kSorry)));
  const auto next = run(frame(fromClient(kAck, {}, {}, 40001)));
  EXPECT_EQ(next.v.verdict, Verdict::kForward);
}

TEST_F(Sorry, ActiveWinsEvenOverAHealthyRs) {
  // Quorum lost with RS still up (their weights too small): the node says sorry, the worker
  // must not schedule to the RS.
  publish(1, true);
  const auto* s = syn(40003);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->rip, fullnat::toAddr(*IpAddr::parse(kSorry)));
}

TEST_F(Sorry, WithoutASorryServerTheFlagIsIgnored) {
  cfg_.services[0].sorryServer.reset();
  publish(0, true);
  const auto out = run(frame(fromClient(kSyn, kMss, {}, 40004)));
  EXPECT_EQ(out.v.verdict, Verdict::kDrop);
  EXPECT_EQ(out.v.reason, DropReason::kNoRealServer);
}

TEST_F(Sorry, AShortFlagVectorLeavesTheOtherServicesAlone) {
  // Service 1 (UDP) gets a sorry server but the vector covers only service 0: not active.
  cfg_.services[1].sorryServer = Endpoint{*IpAddr::parse(kSorry), 53};
  publish(1, false);
  const auto snap = fullnat::Snapshot::build(cfg_, ++generation_, 1, registry_, {}, {true});
  EXPECT_TRUE(snap->service(0).sorryActive);
  EXPECT_TRUE(snap->service(1).hasSorry);
  EXPECT_FALSE(snap->service(1).sorryActive);
  EXPECT_NE(snap->service(0).sorry.rsId, snap->service(1).sorry.rsId);
  EXPECT_LT(snap->service(1).sorry.rsId, snap->rsIdLimit());
}

}  // namespace
}  // namespace anylb::testing
