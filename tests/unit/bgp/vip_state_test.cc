#include "bgp/vip_state.h"

#include <gtest/gtest.h>

namespace anylb::bgp {
namespace {

// rise 2 s, hold-down 10 s, drain 5 s; time in ms.
VipState vip() {
  return {2000, 10000, 5000};
}

TEST(VipState, AnnouncesOnlyAfterRise) {
  auto v = vip();
  EXPECT_EQ(v.update(true, 0), VipAnnounce::kWithdrawn);
  EXPECT_EQ(v.update(true, 1999), VipAnnounce::kWithdrawn);
  EXPECT_EQ(v.update(true, 2000), VipAnnounce::kAnnounced);
}

TEST(VipState, UnhealthyWithdrawsAtOnceAndRiseStartsOver) {
  auto v = vip();
  v.update(true, 0);
  v.update(true, 1500);
  EXPECT_EQ(v.update(false, 1600), VipAnnounce::kWithdrawn);
  EXPECT_EQ(v.update(true, 1700), VipAnnounce::kWithdrawn);
  EXPECT_EQ(v.update(true, 3600), VipAnnounce::kWithdrawn);  // only 1.9 s healthy again
  EXPECT_EQ(v.update(true, 3700), VipAnnounce::kAnnounced);
}

TEST(VipState, HoldDownAfterAWithdrawal) {
  auto v = vip();
  v.update(true, 0);
  ASSERT_EQ(v.update(true, 2000), VipAnnounce::kAnnounced);
  ASSERT_EQ(v.update(false, 100000), VipAnnounce::kWithdrawn);  // long after: not a flap
  EXPECT_EQ(v.holdDownMs(), 10000U);
  EXPECT_EQ(v.update(true, 101000), VipAnnounce::kWithdrawn);
  EXPECT_EQ(v.update(true, 109999), VipAnnounce::kWithdrawn);  // risen, still held down
  EXPECT_EQ(v.update(true, 110000), VipAnnounce::kAnnounced);
}

TEST(VipState, FlappingDoublesTheHoldDownUpToEightTimes) {
  auto v = vip();
  uint64_t t = 0;
  v.update(true, t);
  t += 2000;
  ASSERT_EQ(v.update(true, t), VipAnnounce::kAnnounced);
  uint64_t expected = 10000;
  int announcements = 1;
  for (int flap = 0; flap < 6; ++flap) {
    t += 1000;  // withdrawn 1 s after announcing: a flap
    ASSERT_EQ(v.update(false, t), VipAnnounce::kWithdrawn);
    expected = std::min<uint64_t>(expected * 2, 80000);
    EXPECT_EQ(v.holdDownMs(), expected) << flap;
    // Healthy again right away: announced only when the hold-down has run out.
    t += 1;
    v.update(true, t);
    EXPECT_EQ(v.update(true, t + expected - 2), VipAnnounce::kWithdrawn);
    t += expected;
    ASSERT_EQ(v.update(true, t), VipAnnounce::kAnnounced);
    ++announcements;
  }
  EXPECT_EQ(v.holdDownMs(), 80000U);
  EXPECT_EQ(announcements, 7);
  // Stable for 8 x the base hold-down: back to the base.
  EXPECT_EQ(v.update(true, t + 80000), VipAnnounce::kAnnounced);
  EXPECT_EQ(v.holdDownMs(), 10000U);
}

TEST(VipState, DrainAnnouncesGracefulShutdownThenWithdraws) {
  auto v = vip();
  v.update(true, 0);
  ASSERT_EQ(v.update(true, 2000), VipAnnounce::kAnnounced);
  v.drain(true, 3000);
  EXPECT_EQ(v.update(true, 3000), VipAnnounce::kGracefulShutdown);
  EXPECT_EQ(v.update(true, 7999), VipAnnounce::kGracefulShutdown);
  EXPECT_EQ(v.update(true, 8000), VipAnnounce::kWithdrawn);
  EXPECT_EQ(v.update(true, 60000), VipAnnounce::kWithdrawn);  // stays out while drained
  v.drain(false, 61000);
  EXPECT_EQ(v.update(true, 61000), VipAnnounce::kWithdrawn);
  EXPECT_EQ(v.update(true, 63000), VipAnnounce::kAnnounced);  // rise again
}

TEST(VipState, DrainingAWithdrawnVipKeepsItWithdrawn) {
  auto v = vip();
  v.drain(true, 0);
  EXPECT_EQ(v.update(true, 0), VipAnnounce::kWithdrawn);
  EXPECT_EQ(v.update(true, 3000), VipAnnounce::kWithdrawn);
}

TEST(VipState, UnhealthyDuringDrainWithdrawsAtOnce) {
  auto v = vip();
  v.update(true, 0);
  v.update(true, 2000);
  v.drain(true, 3000);
  EXPECT_EQ(v.update(true, 3000), VipAnnounce::kGracefulShutdown);
  EXPECT_EQ(v.update(false, 3500), VipAnnounce::kWithdrawn);
}

}  // namespace
}  // namespace anylb::bgp
