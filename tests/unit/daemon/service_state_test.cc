// keepalived's quorum / hysteresis and sorry_server rules (daemon/service_state.h), walked
// through the transitions keepalived.conf(5) describes.
#include "daemon/service_state.h"

#include <gtest/gtest.h>

#include <vector>

namespace anylb {
namespace {

TEST(QuorumMet, ZeroQuorumIsAlwaysMet) {
  EXPECT_TRUE(quorumMet(false, 0, 0, 0));
  EXPECT_TRUE(quorumMet(true, 0, 0, 0));
}

TEST(QuorumMet, WithoutHysteresisTheLineIsQuorum) {
  EXPECT_FALSE(quorumMet(false, 2, 3, 0));
  EXPECT_TRUE(quorumMet(false, 3, 3, 0));
  EXPECT_TRUE(quorumMet(true, 3, 3, 0));
  EXPECT_FALSE(quorumMet(true, 2, 3, 0));
}

TEST(QuorumMet, HysteresisHoldsTheStateBetweenTheTwoLines) {
  // quorum 10, hysteresis 2: met again at 12, lost below 8.
  const uint32_t q = 10;
  const uint32_t h = 2;
  bool met = false;
  // The walk of the healthy weight and the state after each step.
  const std::vector<std::pair<uint64_t, bool>> walk = {
      {10, false},              // lost: 10 < 12
      {11, false}, {12, true},  // regained at quorum + hysteresis
      {9, true},   {8, true},   // still met down to quorum - hysteresis
      {7, false},               // lost below it
      {11, false},              // not yet
      {12, true}};
  for (const auto& [w, want] : walk) {
    met = quorumMet(met, w, q, h);
    EXPECT_EQ(met, want) << "healthy weight " << w;
  }
}

TEST(QuorumMet, NoHealthyWeightLosesItEvenWhenHysteresisEqualsQuorum) {
  EXPECT_TRUE(quorumMet(true, 1, 5, 5));
  EXPECT_FALSE(quorumMet(true, 0, 5, 5));
  EXPECT_FALSE(quorumMet(false, 9, 5, 5));
  EXPECT_TRUE(quorumMet(false, 10, 5, 5));
}

TEST(QuorumMet, LargeValuesDoNotWrap) {
  // quorum + hysteresis beyond 2^32: a 32-bit sum would wrap to a small number and meet it.
  EXPECT_FALSE(quorumMet(false, 5, 0xFFFFFFFFU, 0xFFFFFFFFU));
  EXPECT_TRUE(quorumMet(false, 0x1FFFFFFFEULL, 0xFFFFFFFFU, 0xFFFFFFFFU));
  // A hand-built hysteresis above quorum (the validator refuses it): lost only at 0.
  EXPECT_TRUE(quorumMet(true, 1, 3, 7));
}

TEST(ServiceVerdict, BothMinHealthyAndQuorumMustHold) {
  EXPECT_TRUE(serviceVerdict(2, 2, true, false).serving);
  EXPECT_FALSE(serviceVerdict(1, 2, true, false).serving);
  EXPECT_FALSE(serviceVerdict(2, 2, false, false).serving);
  EXPECT_FALSE(serviceVerdict(1, 2, true, false).announce());
}

TEST(ServiceVerdict, SorryServerTakesOverOnlyWhenNotServing) {
  const auto serving = serviceVerdict(3, 1, true, true);
  EXPECT_TRUE(serving.serving);
  EXPECT_FALSE(serving.sorry);
  EXPECT_TRUE(serving.announce());
  const auto belowMin = serviceVerdict(0, 1, true, true);
  EXPECT_FALSE(belowMin.serving);
  EXPECT_TRUE(belowMin.sorry);
  EXPECT_TRUE(belowMin.announce());  // the VIP stays announced
  const auto noQuorum = serviceVerdict(3, 1, false, true);
  EXPECT_TRUE(noQuorum.sorry);
  EXPECT_TRUE(noQuorum.announce());
  const auto noSorry = serviceVerdict(0, 1, true, false);
  EXPECT_FALSE(noSorry.sorry);
  EXPECT_FALSE(noSorry.announce());
}

TEST(ServiceVerdict, MinHealthyZeroServesWithNothingUp) {
  // min_healthy = 0 (announce regardless) and no quorum: serving, the sorry server unused.
  const auto v = serviceVerdict(0, 0, true, true);
  EXPECT_TRUE(v.serving);
  EXPECT_FALSE(v.sorry);
}

}  // namespace
}  // namespace anylb
