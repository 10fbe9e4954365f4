// The worker <-> sync service ring (sync/spsc_ring.h): order, bounds, and a producer and a
// consumer thread racing (also run under ThreadSanitizer, label "concurrency").
#include <gtest/gtest.h>

#include <cstdint>
#include <thread>

#include "sync/spsc_ring.h"

namespace anylb::sync {
namespace {

TEST(SpscRing, FullRefusesEmptyGivesNothing) {
  SpscRing<int> r(3);  // rounded up to 4
  EXPECT_EQ(r.capacity(), 4U);
  int v = 0;
  EXPECT_FALSE(r.pop(v));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(r.push(i));
  EXPECT_FALSE(r.push(99));
  EXPECT_FALSE(r.hasRoom(1));
  EXPECT_EQ(r.size(), 4U);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(r.pop(v));
    EXPECT_EQ(v, i);
  }
  EXPECT_TRUE(r.hasRoom(4));
  EXPECT_FALSE(r.hasRoom(5));
}

// 2 M values through a ring of 1024 by two threads: every value arrives once, in order.
TEST(SpscRing, TwoThreadsKeepOrderAndLoseNothing) {
  constexpr uint64_t kCount = 2'000'000;
  SpscRing<uint64_t> r(1024);
  std::thread producer([&] {
    for (uint64_t i = 1; i <= kCount;) {
      if (r.push(i)) ++i;
    }
  });
  uint64_t expect = 1;
  uint64_t v = 0;
  while (expect <= kCount) {
    if (!r.pop(v)) continue;
    ASSERT_EQ(v, expect);
    ++expect;
  }
  producer.join();
  EXPECT_FALSE(r.pop(v));
}

}  // namespace
}  // namespace anylb::sync
