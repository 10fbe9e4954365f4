#include "common/tsc_clock.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace anylb {
namespace {

constexpr uint64_t kDayMs = 86'400'000;

// 100 days at 3 GHz: cycles * 1000 passes 2^64 after ~71 days, which made round 1's clock
// jump back; the conversion must stay exact and monotonic.
TEST(TscClock, HundredDaysAtThreeGigahertzIsExact) {
  constexpr uint64_t kHz = 3'000'000'000;
  constexpr uint64_t kStart = 123'456'789;
  const TscClock c(kHz, kStart);
  for (const uint64_t days : {1ULL, 49ULL, 50ULL, 71ULL, 72ULL, 100ULL, 1000ULL}) {
    const uint64_t cycles = kStart + days * kDayMs * (kHz / 1000);
    EXPECT_EQ(c.msAt(cycles), days * kDayMs) << days << " days";
    EXPECT_EQ(c.msAt(cycles + kHz / 1000 - 1), days * kDayMs) << "rounds down";
  }
  // What the old formula gives at 100 days: wrapped, far below the truth.
  const uint64_t d = 100 * kDayMs * (kHz / 1000);
  EXPECT_LT(d * 1000 / kHz, 100 * kDayMs);
}

TEST(TscClock, MonotonicAcrossTheOverflowPointOfTheNaiveFormula) {
  constexpr uint64_t kHz = 2'200'000'001;  // not a multiple of 1000
  const TscClock c(kHz, 0);
  const uint64_t overflowAt = UINT64_MAX / 1000;  // where cycles * 1000 wraps
  uint64_t last = 0;
  for (uint64_t cyc = overflowAt - 10 * kHz; cyc < overflowAt + 10 * kHz; cyc += kHz / 7) {
    const uint64_t ms = c.msAt(cyc);
    ASSERT_GE(ms, last) << cyc;
    last = ms;
  }
  EXPECT_GT(last, 90 * kDayMs);
}

}  // namespace
}  // namespace anylb
