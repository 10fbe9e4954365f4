// The schedulers issue 17 added (dh, lblc, lblcr, sed, nq, fo, ovf), the overload flag every
// scheduler honours, and the sh/mh fallback flag: sequences of picks against what IPVS's
// ip_vs_*.c choose for the same weights and connection counts, and the hostile cases (all
// weights 0, one RS, everyone overloaded, weight changes mid-stream, weights near 2^32).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fullnat/scheduler.h"

namespace anylb::fullnat {
namespace {

using config::Scheduler;

constexpr Scheduler kEveryScheduler[] = {
    Scheduler::kRr, Scheduler::kWrr, Scheduler::kLc,   Scheduler::kWlc,   Scheduler::kSh,
    Scheduler::kMh, Scheduler::kDh,  Scheduler::kLblc, Scheduler::kLblcr, Scheduler::kSed,
    Scheduler::kNq, Scheduler::kFo,  Scheduler::kOvf};

std::vector<SchedTarget> targets(const std::vector<uint32_t>& weights) {
  std::vector<SchedTarget> out;
  for (uint32_t i = 0; i < weights.size(); ++i) {
    out.push_back(
        SchedTarget{.weight = weights[i], .identity = (uint64_t{0x0A000000U + i} << 16) | 80U});
  }
  return out;
}

SchedulerPlan planOf(Scheduler kind, const std::vector<uint32_t>& weights, bool fallback = false) {
  return SchedulerPlan::build(kind, targets(weights), 251, fallback);
}

char letter(int32_t rs) {
  if (rs == SchedulerState::kOverloaded) return '!';
  return rs < 0 ? '-' : static_cast<char>('A' + rs);
}

// Connections that open and stay established: each pick adds one active session to its RS.
struct Sim {
  SchedulerPlan plan;
  SchedulerState state;
  std::vector<uint32_t> active;
  std::vector<uint32_t> inactive;
  std::vector<uint8_t> overloaded;
  uint64_t nowMs = 1000;

  Sim(Scheduler kind, const std::vector<uint32_t>& weights)
      : plan(planOf(kind, weights)),
        active(weights.size(), 0),
        inactive(weights.size(), 0),
        overloaded(weights.size(), 0) {
    state.prepare(plan);
  }
  int32_t pickOnly(uint32_t hash = 0) {
    SchedInput in;
    in.flowHash = hash;
    in.destHash = hash;
    in.active = active;
    in.inactive = inactive;
    in.overloaded = overloaded;
    in.nowMs = nowMs;
    return state.pick(plan, in);
  }
  std::string run(size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) {
      const int32_t rs = pickOnly();
      if (rs >= 0) ++active[static_cast<size_t>(rs)];
      s += letter(rs);
    }
    return s;
  }
};

// --- sed / nq ------------------------------------------------------------------------------

TEST(Sed, MinimisesActivePlusOneOverWeight) {
  // (a+1)/w with w = {1,2,3}: C (1/3), B (1/2), C (2/3 < 1), A (tie of 1s: the first), B, C, C.
  Sim sim(Scheduler::kSed, {1, 2, 3});
  EXPECT_EQ(sim.run(7), "CBCABCC");
}

TEST(Sed, InactiveSessionsDoNotCount) {
  Sim sim(Scheduler::kSed, {1, 1});
  sim.inactive = {0, 1000000};
  sim.active = {1, 0};
  EXPECT_EQ(sim.pickOnly(), 1);  // wlc would say A: 256 < 1000000
}

TEST(Nq, AnIdleRsFirstInOrderEvenIfLighterWeighted) {
  Sim sim(Scheduler::kNq, {1, 2, 3});
  sim.active = {0, 0, 3};
  EXPECT_EQ(sim.pickOnly(), 0);
  sim.active = {1, 0, 5};
  EXPECT_EQ(sim.pickOnly(), 1);
  sim.active = {1, 1, 1};  // nobody idle: sed, 2/1 2/2 2/3
  EXPECT_EQ(sim.pickOnly(), 2);
}

TEST(Nq, AnIdleRsOfWeightZeroOrOverloadedIsNotIdleEnough) {
  Sim sim(Scheduler::kNq, {0, 1, 1});
  sim.active = {0, 4, 2};
  sim.overloaded = {0, 0, 0};
  EXPECT_EQ(sim.pickOnly(), 2);  // sed between B and C; A has weight 0
  sim.active = {0, 0, 2};
  sim.overloaded = {0, 1, 0};
  EXPECT_EQ(sim.pickOnly(), 2);  // B is idle but overloaded
}

TEST(SedNq, WeightsAndCountsNear2To32DoNotOverflow) {
  // A: 2^32 / (2^32 - 1) is less than B: (2^32 - 1) / (2^32 - 2); the cross products come within
  // 2^33 of 2^64 (active + 1 is counted in 64 bit: 2^32 does not fit the 32-bit count).
  for (const Scheduler k : {Scheduler::kSed, Scheduler::kNq}) {
    Sim sim(k, {UINT32_MAX, UINT32_MAX - 1});
    sim.active = {UINT32_MAX, UINT32_MAX - 1};
    EXPECT_EQ(sim.pickOnly(), 0) << config::toString(k);
    sim.active = {UINT32_MAX, UINT32_MAX - 2};  // B: (2^32 - 2) / (2^32 - 2) = 1
    EXPECT_EQ(sim.pickOnly(), 1) << config::toString(k);
  }
}

// --- fo / ovf -------------------------------------------------------------------------------

TEST(Fo, HighestWeightFirstThenFailsOverInWeightOrder) {
  Sim sim(Scheduler::kFo, {5, 10, 10, 2});
  EXPECT_EQ(sim.run(3), "BBB");  // ties keep the first; connection counts do not matter
  sim.overloaded = {0, 1, 0, 0};
  EXPECT_EQ(sim.pickOnly(), 2);
  sim.overloaded = {0, 1, 1, 0};
  EXPECT_EQ(sim.pickOnly(), 0);
  sim.overloaded = {1, 1, 1, 1};
  EXPECT_EQ(sim.pickOnly(), SchedulerState::kOverloaded);
  // A weight change mid-stream (a new plan, the state kept): the new highest weight wins.
  sim.overloaded = {0, 0, 0, 0};
  sim.plan = planOf(Scheduler::kFo, {5, 0, 10, 20});
  EXPECT_EQ(sim.pickOnly(), 3);
}

TEST(Ovf, FillsTheHighestWeightUpToItsWeightThenOverflows) {
  // IPVS skips an RS once active > weight: B takes 6 (0..5 active), A 4, C 3, then nobody.
  Sim sim(Scheduler::kOvf, {3, 5, 2});
  EXPECT_EQ(sim.run(14), "BBBBBBAAAACCC!");
  sim.active[1] = 5;  // a session of B ends: B is back in
  EXPECT_EQ(sim.pickOnly(), 1);
}

// --- dh --------------------------------------------------------------------------------------

TEST(Dh, OneDestinationOneRsUnweightedAndNoFallback) {
  const auto plan = planOf(Scheduler::kDh, {1, 100, 0, 1});
  std::vector<int> count(4, 0);
  for (uint32_t d = 0; d < 30000; ++d) {
    SchedulerState st;
    SchedInput in;
    in.destHash = d * 2654435761U;
    const int32_t rs = st.pick(plan, in);
    ASSERT_GE(rs, 0);
    ++count[static_cast<size_t>(rs)];
    EXPECT_EQ(st.pick(plan, in), rs);  // same destination, same RS
  }
  EXPECT_EQ(count[2], 0);  // weight 0: out of the hash
  for (const int i : {0, 1, 3}) EXPECT_NEAR(count[static_cast<size_t>(i)], 10000, 600) << i;
  // The RS a destination hashes to is overloaded: refused, though others are free.
  SchedInput in;
  in.destHash = 7;
  SchedulerState st;
  const int32_t rs = st.pick(plan, in);
  std::vector<uint8_t> over(4, 0);
  over[static_cast<size_t>(rs)] = 1;
  in.overloaded = over;
  EXPECT_EQ(st.pick(plan, in), SchedulerState::kOverloaded);
}

// --- sh / mh flags --------------------------------------------------------------------------

TEST(HashFallback, WithoutItAnOverloadedRsRefusesWithItItsClientsMoveAndNobodyElse) {
  for (const Scheduler k : {Scheduler::kSh, Scheduler::kMh}) {
    const auto plain = planOf(k, {1, 2, 3, 4});
    const auto fallback = planOf(k, {1, 2, 3, 4}, true);
    std::vector<uint8_t> over = {0, 0, 1, 0};
    size_t refused = 0;
    for (uint32_t c = 0; c < 5000; ++c) {
      SchedulerState st;
      SchedInput in;
      in.flowHash = c * 2654435761U;
      const int32_t before = st.pick(plain, in);
      ASSERT_EQ(st.pick(fallback, in), before);  // the flag changes nothing while all is well
      in.overloaded = over;
      const int32_t without = st.pick(plain, in);
      const int32_t with = st.pick(fallback, in);
      if (before == 2) {
        ++refused;
        EXPECT_EQ(without, SchedulerState::kOverloaded);
        EXPECT_GE(with, 0);
        EXPECT_NE(with, 2);
        in.overloaded = {};
        EXPECT_EQ(st.pick(fallback, in), 2);  // back when the overload clears
      } else {
        EXPECT_EQ(without, before);
        EXPECT_EQ(with, before);
      }
    }
    EXPECT_GT(refused, 1000U) << config::toString(k);
    // Everyone overloaded: refused even with fallback.
    std::vector<uint8_t> all(4, 1);
    SchedulerState st;
    SchedInput in;
    in.overloaded = all;
    EXPECT_EQ(st.pick(fallback, in), SchedulerState::kOverloaded);
  }
}

// --- lblc / lblcr ---------------------------------------------------------------------------

TEST(Lblc, StaysOnOneRsUntilItExceedsItsWeightWhileAnotherIsBelowHalf) {
  Sim sim(Scheduler::kLblc, {2, 2, 2});
  // A takes 3 (active 0, 1, 2 <= weight 2); at 3 > 2 with B idle it is overloaded: wlc -> B.
  EXPECT_EQ(sim.run(9), "AAABBBCCC");
  // Everyone above weight and nobody below half: lblc's overload rule does not fire; C stays.
  EXPECT_EQ(sim.run(3), "CCC");
}

TEST(Lblc, AnUnavailableBoundRsIsReplacedAndTheEntryExpiresAfterADay) {
  Sim sim(Scheduler::kLblc, {1, 1, 1});
  EXPECT_EQ(sim.pickOnly(), 0);
  sim.overloaded = {1, 0, 0};
  EXPECT_EQ(sim.pickOnly(), 1);  // rebinding: B from now on
  sim.overloaded = {0, 0, 0};
  EXPECT_EQ(sim.pickOnly(), 1);
  sim.active = {0, 1, 0};  // B is busy but not overloaded in lblc's sense (1 <= 1)
  sim.nowMs += SchedulerState::kLocalityExpiryMs;
  EXPECT_EQ(sim.pickOnly(), 1);  // used exactly a day ago: still bound
  sim.nowMs += SchedulerState::kLocalityExpiryMs + 1;
  EXPECT_EQ(sim.pickOnly(), 0);  // unused for longer: forgotten, wlc picks afresh
}

TEST(Lblcr, GrowsTheSetUnderLoadAndShrinksItWhenUnchangedForADay) {
  Sim sim(Scheduler::kLblcr, {2, 2, 2});
  EXPECT_EQ(sim.run(3), "AAA");
  EXPECT_EQ(sim.state.setSize, 1U);
  // A overloaded (3 > 2, B idle): B joins and is the least loaded member from then on.
  EXPECT_EQ(sim.run(3), "BBB");
  EXPECT_EQ(sim.state.setSize, 2U);
  EXPECT_EQ(sim.run(1), "C");
  EXPECT_EQ(sim.state.setSize, 3U);
  // Quiet: A is the most loaded member; the set is left alone for a day, then sheds A.
  sim.active = {1, 0, 0};
  sim.nowMs += SchedulerState::kLocalityExpiryMs / 2;
  EXPECT_EQ(sim.pickOnly(), 1);
  EXPECT_EQ(sim.state.setSize, 3U);
  sim.nowMs += SchedulerState::kLocalityExpiryMs / 2 + 2;
  EXPECT_EQ(sim.pickOnly(), 1);
  EXPECT_EQ(sim.state.setSize, 2U);
  EXPECT_EQ(sim.state.inSet[0], 0);
  sim.active = {0, 1, 1};  // A idle but out of the set: the members' least loaded is chosen
  EXPECT_EQ(sim.pickOnly(), 1);
}

TEST(Lblcr, AWeightChangeMidStreamKeepsTheEntryAndSkipsWeightZeroMembers) {
  Sim sim(Scheduler::kLblcr, {2, 2, 2});
  EXPECT_EQ(sim.run(4), "AAAB");
  sim.plan = planOf(Scheduler::kLblcr, {2, 0, 2});  // B quiesced by a health check
  sim.active = {0, 0, 0};
  EXPECT_EQ(sim.pickOnly(), 0);
  sim.plan = planOf(Scheduler::kLblcr, {0, 0, 2});
  EXPECT_EQ(sim.pickOnly(), 2);  // no member available: wlc, and C joins
  EXPECT_EQ(sim.state.inSet[2], 1);
}

// --- every scheduler ------------------------------------------------------------------------

TEST(EveryScheduler, OneRsIsAlwaysPickedUnlessOverloadedAndNoRsIsNone) {
  for (const Scheduler k : kEveryScheduler) {
    Sim sim(k, {7});
    for (uint32_t h = 0; h < 50; ++h)
      EXPECT_EQ(sim.pickOnly(h * 2654435761U), 0) << config::toString(k);
    sim.overloaded = {1};
    EXPECT_EQ(sim.pickOnly(), SchedulerState::kOverloaded) << config::toString(k);
    Sim none(k, {0, 0});
    EXPECT_EQ(none.pickOnly(), SchedulerState::kNone) << config::toString(k);
    Sim empty(k, {});
    EXPECT_EQ(empty.pickOnly(), SchedulerState::kNone) << config::toString(k);
  }
}

TEST(EveryScheduler, NeverPicksAnOverloadedOrQuiescentRs) {
  uint64_t seed = 88172645463325252ULL;
  auto next = [&] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  for (const Scheduler k : kEveryScheduler) {
    for (int round = 0; round < 200; ++round) {
      std::vector<uint32_t> w(1 + next() % 8);
      for (auto& x : w) x = next() % 3 == 0 ? 0 : static_cast<uint32_t>(1 + next() % 1000);
      Sim sim(k, w);
      for (size_t i = 0; i < w.size(); ++i) {
        sim.overloaded[i] = next() % 3 == 0 ? 1 : 0;
        sim.active[i] = static_cast<uint32_t>(next() % 50);
        sim.inactive[i] = static_cast<uint32_t>(next() % 50);
      }
      bool anyAvailable = false;
      bool anyWeight = false;
      for (size_t i = 0; i < w.size(); ++i) {
        anyWeight |= w[i] > 0;
        anyAvailable |= w[i] > 0 && sim.overloaded[i] == 0;
      }
      for (int p = 0; p < 20; ++p) {
        const int32_t rs = sim.pickOnly(static_cast<uint32_t>(next()));
        if (rs >= 0) {
          EXPECT_GT(w[static_cast<size_t>(rs)], 0U) << config::toString(k);
          EXPECT_EQ(sim.overloaded[static_cast<size_t>(rs)], 0) << config::toString(k);
        } else if (!anyWeight) {
          EXPECT_EQ(rs, SchedulerState::kNone) << config::toString(k);
        } else {
          EXPECT_EQ(rs, SchedulerState::kOverloaded) << config::toString(k);
          // Only the hash schedulers (without fallback), dh and ovf refuse while an RS is free.
          const bool mayRefuse = k == Scheduler::kSh || k == Scheduler::kMh ||
                                 k == Scheduler::kDh || k == Scheduler::kOvf;
          if (!mayRefuse) {
            EXPECT_FALSE(anyAvailable) << config::toString(k);
          }
        }
      }
    }
  }
}

TEST(Wrr, SkipsAnOverloadedRsAndKeepsTheOthersRatio) {
  Sim sim(Scheduler::kWrr, {3, 2, 1});
  EXPECT_EQ(sim.run(6), "AABABC");
  sim.overloaded = {1, 0, 0};
  EXPECT_EQ(sim.run(6), "BBCBBC");
  sim.overloaded = {0, 0, 0};
  std::string cycle = sim.run(12);
  EXPECT_EQ(std::count(cycle.begin(), cycle.end(), 'A'), 6);
}

}  // namespace
}  // namespace anylb::fullnat
