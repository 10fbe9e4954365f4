// The health checker's state machine and scheduler, in simulated time against a fake prober.
#include "health/health_checker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "fakes.h"

namespace anylb::health {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;
using testing::FakeProber;

config::HealthCheck tcpCheck(uint32_t rise, uint32_t fall, double jitter = 0.0,
                             double interval = 1.0) {
  config::HealthCheck c;
  c.kind = config::CheckKind::kTcp;
  c.interval = config::Seconds(interval);
  c.timeout = config::Seconds(0.5);
  c.rise = rise;
  c.fall = fall;
  c.jitter = jitter;
  return c;
}

Target target(uint32_t id, config::HealthCheck check) {
  Target t;
  t.rsId = id;
  t.service = "web";
  t.address = IpAddr::v4(0x0a000000U + id);
  t.port = 80;
  t.check = std::move(check);
  return t;
}

double secondsBetween(Clock::TimePoint a, Clock::TimePoint b) {
  return std::chrono::duration<double>(b - a).count();
}

class HealthCheckerTest : public ::testing::Test {
 protected:
  HealthCheckerTest() {
    auto p = std::make_unique<FakeProber>(clock_);
    prober_ = p.get();
    checker_ = std::make_unique<HealthChecker>(io_, std::move(p),
                                               HealthChecker::Options{&clock_, 42, seconds(5)});
    checker_->onChange([this](const Change& c) {
      changes_.push_back(c);
      changeTimes_.push_back(clock_.now());
      probesAtChange_.push_back(checker_->stats().probes);
    });
  }

  // Simulated time passes; then whatever the checker posted to the io loop runs.
  void run(Clock::Duration d) {
    clock_.advance(d);
    io_.restart();
    io_.poll();
  }

  // Waits (in simulated time) for the next probe to start and answers it by hand.
  void probeOnce(bool ok, const std::string& reason = "connected") {
    for (int i = 0; i < 1000 && prober_->unanswered() == 0; ++i) run(milliseconds(10));
    ASSERT_EQ(prober_->unanswered(), 1U);
    prober_->answer(ok, reason);
    io_.restart();
    io_.poll();
  }

  void alwaysAnswer(bool ok, const std::string& reason) {
    prober_->responder = [ok, reason](const Target&) { return ProbeResult{ok, reason}; };
  }

  boost::asio::io_context io_;
  FakeClock clock_;
  FakeProber* prober_ = nullptr;
  std::unique_ptr<HealthChecker> checker_;
  std::vector<Change> changes_;
  std::vector<Clock::TimePoint> changeTimes_;
  std::vector<uint64_t> probesAtChange_;
};

TEST_F(HealthCheckerTest, UnknownGoesUpAfterExactlyRiseSuccesses) {
  checker_->setTargets({target(1, tcpCheck(3, 2))});
  EXPECT_EQ(checker_->state(1), State::kUnknown);
  probeOnce(true);
  probeOnce(true);
  EXPECT_EQ(checker_->state(1), State::kUnknown);
  EXPECT_TRUE(changes_.empty());
  probeOnce(true);
  EXPECT_EQ(checker_->state(1), State::kUp);
  ASSERT_EQ(changes_.size(), 1U);
  EXPECT_EQ(changes_[0].rsId, 1U);
  EXPECT_EQ(changes_[0].from, State::kUnknown);
  EXPECT_EQ(changes_[0].to, State::kUp);
  EXPECT_EQ(changes_[0].reason, "connected");
}

TEST_F(HealthCheckerTest, UnknownGoesDownAfterExactlyFallFailures) {
  checker_->setTargets({target(1, tcpCheck(1, 3))});
  probeOnce(false, "connection refused");
  probeOnce(false, "connection refused");
  EXPECT_EQ(checker_->state(1), State::kUnknown);
  probeOnce(false, "connection refused");
  EXPECT_EQ(checker_->state(1), State::kDown);
  ASSERT_EQ(changes_.size(), 1U);
  EXPECT_EQ(changes_[0].from, State::kUnknown);
  EXPECT_EQ(changes_[0].to, State::kDown);
  EXPECT_EQ(changes_[0].reason, "connection refused");
}

TEST_F(HealthCheckerTest, UpDownUpEdgesTakeExactlyFallAndRiseProbes) {
  checker_->setTargets({target(1, tcpCheck(2, 3))});
  alwaysAnswer(true, "connected");
  run(seconds(10));
  ASSERT_EQ(changes_.size(), 1U);
  EXPECT_EQ(probesAtChange_[0], 2U);

  const uint64_t before = checker_->stats().probes;
  alwaysAnswer(false, "connection refused");
  run(seconds(10));
  ASSERT_EQ(changes_.size(), 2U);
  EXPECT_EQ(changes_[1].from, State::kUp);
  EXPECT_EQ(changes_[1].to, State::kDown);
  EXPECT_EQ(probesAtChange_[1], before + 3);

  const uint64_t before2 = checker_->stats().probes;
  alwaysAnswer(true, "connected");
  run(seconds(10));
  ASSERT_EQ(changes_.size(), 3U);
  EXPECT_EQ(changes_[2].from, State::kDown);
  EXPECT_EQ(changes_[2].to, State::kUp);
  EXPECT_EQ(probesAtChange_[2], before2 + 2);

  const auto s = checker_->stats();
  EXPECT_EQ(s.changes, 3U);
  EXPECT_EQ(s.failures, before2 - before);
  EXPECT_EQ(s.lagMaxMs, 0.0);  // simulated time: every timer fires on the dot
}

TEST_F(HealthCheckerTest, OneFailureLessThanFallKeepsUp) {
  checker_->setTargets({target(1, tcpCheck(1, 3))});
  probeOnce(true);
  ASSERT_EQ(checker_->state(1), State::kUp);
  for (int round = 0; round < 5; ++round) {
    probeOnce(false, "reset");
    probeOnce(false, "reset");
    probeOnce(true);  // the run of failures starts over
  }
  EXPECT_EQ(checker_->state(1), State::kUp);
  EXPECT_EQ(changes_.size(), 1U);
}

TEST_F(HealthCheckerTest, FlappingNeverChangesStateWhenRiseAndFallExceedOne) {
  checker_->setTargets({target(1, tcpCheck(2, 2))});
  bool next = true;
  prober_->responder = [&next](const Target&) {
    const bool ok = next;
    next = !next;
    return ProbeResult{ok, ok ? "connected" : "connection refused"};
  };
  run(seconds(200));
  EXPECT_GE(checker_->stats().probes, 150U);
  EXPECT_EQ(checker_->state(1), State::kUnknown);
  EXPECT_TRUE(changes_.empty());

  // Once up, the same flapping keeps it up.
  prober_->responder = nullptr;
  probeOnce(true);
  probeOnce(true);
  ASSERT_EQ(checker_->state(1), State::kUp);
  prober_->responder = [&next](const Target&) {
    const bool ok = next;
    next = !next;
    return ProbeResult{ok, ok ? "connected" : "connection refused"};
  };
  run(seconds(200));
  EXPECT_EQ(checker_->state(1), State::kUp);
  EXPECT_EQ(changes_.size(), 1U);
}

TEST_F(HealthCheckerTest, JitterKeepsEveryIntervalWithinBounds) {
  constexpr double kInterval = 2.0;
  constexpr double kJitter = 0.25;
  std::vector<Target> targets;
  for (uint32_t id = 1; id <= 100; ++id) {
    targets.push_back(target(id, tcpCheck(2, 3, kJitter, kInterval)));
  }
  const auto t0 = clock_.now();
  checker_->setTargets(targets);
  alwaysAnswer(true, "connected");
  run(seconds(300));

  std::map<uint32_t, std::vector<Clock::TimePoint>> starts;
  for (const auto& p : prober_->probes) starts[p.target.rsId].push_back(p.startedAt);
  ASSERT_EQ(starts.size(), 100U);
  double minGap = 1e9;
  double maxGap = 0;
  double sum = 0;
  size_t n = 0;
  double firstMin = 1e9;
  double firstMax = 0;
  for (const auto& [id, times] : starts) {
    ASSERT_GE(times.size(), 100U);
    const double first = secondsBetween(t0, times.front());
    firstMin = std::min(firstMin, first);
    firstMax = std::max(firstMax, first);
    for (size_t i = 1; i < times.size(); ++i) {
      const double gap = secondsBetween(times[i - 1], times[i]);
      minGap = std::min(minGap, gap);
      maxGap = std::max(maxGap, gap);
      sum += gap;
      ++n;
    }
  }
  // First probes spread over one interval rather than all at once.
  EXPECT_GE(firstMin, 0.0);
  EXPECT_LE(firstMax, kInterval);
  EXPECT_LT(firstMin, 0.1 * kInterval);
  EXPECT_GT(firstMax, 0.9 * kInterval);
  // Every interval within [1-j, 1+j] * interval, and the whole range is used.
  EXPECT_GE(minGap, (1 - kJitter) * kInterval - 1e-6);
  EXPECT_LE(maxGap, (1 + kJitter) * kInterval + 1e-6);
  EXPECT_LT(minGap, (1 - 0.9 * kJitter) * kInterval);
  EXPECT_GT(maxGap, (1 + 0.9 * kJitter) * kInterval);
  EXPECT_NEAR(sum / static_cast<double>(n), kInterval, 0.02);
}

TEST_F(HealthCheckerTest, NoJitterProbesEveryIntervalExactly) {
  checker_->setTargets({target(1, tcpCheck(2, 3, 0.0, 1.5))});
  alwaysAnswer(true, "connected");
  run(seconds(30));
  ASSERT_GE(prober_->probes.size(), 19U);
  for (size_t i = 1; i < prober_->probes.size(); ++i) {
    EXPECT_DOUBLE_EQ(secondsBetween(prober_->probes[i - 1].startedAt, prober_->probes[i].startedAt),
                     1.5);
  }
}

TEST_F(HealthCheckerTest, UnansweredProbeFailsAsTimeoutAndRefusedKeepsItsReason) {
  Target silent = target(1, tcpCheck(1, 1));
  Target refused = target(2, tcpCheck(1, 1));
  checker_->setTargets({silent, refused});
  prober_->responder = [](const Target& t) -> std::optional<ProbeResult> {
    if (t.rsId == 1) return std::nullopt;  // black hole
    return ProbeResult{false, "connection refused"};
  };
  run(seconds(3));
  ASSERT_EQ(changes_.size(), 2U);
  std::map<uint32_t, size_t> byId;
  for (size_t i = 0; i < changes_.size(); ++i) byId[changes_[i].rsId] = i;
  const Change& timedOut = changes_[byId[1]];
  const Change& wasRefused = changes_[byId[2]];
  EXPECT_EQ(timedOut.to, State::kDown);
  EXPECT_EQ(timedOut.reason, "timeout");
  EXPECT_EQ(wasRefused.to, State::kDown);
  EXPECT_EQ(wasRefused.reason, "connection refused");

  // The timeout is decided at the probe's deadline (plus the grace the prober gets to answer
  // with a precise reason), not later.
  Clock::TimePoint firstSilentStart{};
  for (const auto& p : prober_->probes) {
    if (p.target.rsId == 1) {
      firstSilentStart = p.startedAt;
      EXPECT_EQ(p.timeout, milliseconds(500));
      break;
    }
  }
  EXPECT_EQ(changeTimes_[byId[1]] - firstSilentStart,
            milliseconds(500) + HealthChecker::kTimeoutGrace);
  // The refused probe failed when its answer came: at its start (zero latency).
  EXPECT_EQ(checker_->stats().failures, checker_->stats().probes);
}

TEST_F(HealthCheckerTest, AnswerAfterTheDeadlineIsIgnoredAndProbesNeverOverlap) {
  checker_->setTargets({target(1, tcpCheck(1, 1, 0.5, 1.0))});
  run(seconds(2));  // the first probe started and timed out; nobody answered
  ASSERT_EQ(checker_->state(1), State::kDown);
  const uint64_t failures = checker_->stats().failures;
  prober_->answer(true, "connected");  // far too late
  io_.restart();
  io_.poll();
  EXPECT_EQ(checker_->state(1), State::kDown);
  EXPECT_EQ(checker_->stats().failures, failures);
  EXPECT_EQ(changes_.size(), 1U);

  run(seconds(60));
  for (size_t i = 1; i < prober_->probes.size(); ++i) {
    // Even with jitter 0.5 (next probe 0.5 s after) no probe starts before the last one ended.
    EXPECT_GE(prober_->probes[i].startedAt - prober_->probes[i - 1].startedAt,
              milliseconds(500) + HealthChecker::kTimeoutGrace);
  }
}

TEST_F(HealthCheckerTest, RemovedTargetsLateResultIsIgnored) {
  checker_->setTargets({target(1, tcpCheck(1, 1)), target(2, tcpCheck(1, 1))});
  run(seconds(1));
  ASSERT_EQ(prober_->unanswered(), 2U);
  const auto first = prober_->probes[0].target.rsId;
  checker_->setTargets({target(3 - first, tcpCheck(1, 1))});  // remove the first prober_->probes
  EXPECT_EQ(checker_->state(first), State::kUnknown);
  prober_->answer(true, "connected");  // the removed target's probe
  EXPECT_EQ(checker_->state(first), State::kUnknown);
  EXPECT_TRUE(changes_.empty());

  // Re-added under the same id while its old probe is still out: the old answer does not count.
  checker_->setTargets({target(1, tcpCheck(1, 1)), target(2, tcpCheck(1, 1))});
  prober_->answer(true, "connected");  // the other target: still the same, so it counts
  ASSERT_EQ(changes_.size(), 1U);
  EXPECT_EQ(changes_[0].rsId, 3 - first);
  run(milliseconds(1));
  EXPECT_EQ(checker_->state(first), State::kUnknown);
}

TEST_F(HealthCheckerTest, ReaddedTargetIgnoresItsOldProbe) {
  checker_->setTargets({target(1, tcpCheck(1, 1))});
  run(seconds(1));
  ASSERT_EQ(prober_->unanswered(), 1U);
  checker_->setTargets({});
  checker_->setTargets({target(1, tcpCheck(1, 1))});
  prober_->answer(true, "connected");  // belongs to the target as it was before the removal
  EXPECT_EQ(checker_->state(1), State::kUnknown);
  EXPECT_TRUE(changes_.empty());
  probeOnce(true);  // the new one's own first probe
  EXPECT_EQ(checker_->state(1), State::kUp);
}

TEST_F(HealthCheckerTest, UnchangedTargetKeepsStateScheduleAndProbeInFlight) {
  Target t = target(1, tcpCheck(1, 1));
  checker_->setTargets({t});
  probeOnce(true);
  ASSERT_EQ(checker_->state(1), State::kUp);
  for (int i = 0; i < 1000 && prober_->unanswered() == 0; ++i) run(milliseconds(10));
  ASSERT_EQ(prober_->unanswered(), 1U);

  // A reload that changed only what the checker does not probe with (the service's name, the
  // notify command; a weight change does not reach the checker at all).
  t.service = "web-renamed";
  checker_->setTargets({t, target(2, tcpCheck(1, 1))});
  EXPECT_EQ(checker_->state(1), State::kUp);
  prober_->answer(false, "connection refused");  // the probe in flight still counts
  EXPECT_EQ(checker_->state(1), State::kDown);
  ASSERT_EQ(changes_.size(), 2U);
  EXPECT_EQ(changes_[1].reason, "connection refused");
}

TEST_F(HealthCheckerTest, UnchangedTargetKeepsItsCadence) {
  Target t = target(1, tcpCheck(2, 3));
  checker_->setTargets({t});
  alwaysAnswer(true, "connected");
  run(milliseconds(5500));
  checker_->setTargets({t});  // mid-cycle
  checker_->setTargets({t});
  run(milliseconds(5000));
  ASSERT_GE(prober_->probes.size(), 9U);
  for (size_t i = 1; i < prober_->probes.size(); ++i) {
    EXPECT_EQ(prober_->probes[i].startedAt - prober_->probes[i - 1].startedAt, seconds(1));
  }
  EXPECT_EQ(changes_.size(), 1U);
}

TEST_F(HealthCheckerTest, ChangedCheckRestartsCountingAndSchedulingButKeepsState) {
  Target t = target(1, tcpCheck(1, 3));
  checker_->setTargets({t});
  probeOnce(true);
  probeOnce(false, "reset");
  probeOnce(false, "reset");  // one more failure would take it down
  for (int i = 0; i < 1000 && prober_->unanswered() == 0; ++i) run(milliseconds(10));
  ASSERT_EQ(prober_->unanswered(), 1U);

  t.check.interval = config::Seconds(3.0);
  const auto reloadAt = clock_.now();
  checker_->setTargets({t});
  EXPECT_EQ(checker_->state(1), State::kUp);  // a reload does not blip an up RS
  prober_->answer(false, "reset");            // probed with the old check: ignored
  EXPECT_EQ(checker_->state(1), State::kUp);

  probeOnce(false, "reset");  // failures count from zero again
  probeOnce(false, "reset");
  EXPECT_EQ(checker_->state(1), State::kUp);
  probeOnce(false, "reset");
  EXPECT_EQ(checker_->state(1), State::kDown);
  const auto& p = prober_->probes;
  const size_t n = p.size();
  EXPECT_LE(p[n - 3].startedAt - reloadAt, seconds(3));  // first probe within one new interval
  EXPECT_EQ(p[n - 1].startedAt - p[n - 2].startedAt, seconds(3));
  EXPECT_DOUBLE_EQ(p[n - 1].target.check.interval.count(), 3.0);
}

TEST_F(HealthCheckerTest, ChangedAddressStartsOverAsUnknown) {
  Target t = target(1, tcpCheck(1, 1));
  checker_->setTargets({t});
  probeOnce(true);
  ASSERT_EQ(checker_->state(1), State::kUp);
  t.address = *IpAddr::parse("10.9.9.9");
  checker_->setTargets({t});
  EXPECT_EQ(checker_->state(1), State::kUnknown);
  probeOnce(true);
  EXPECT_EQ(prober_->probes.back().target.address, t.address);
  EXPECT_EQ(checker_->state(1), State::kUp);
}

TEST_F(HealthCheckerTest, TargetAddedMidCycleStartsUnknownAndIsProbedWithinAnInterval) {
  checker_->setTargets({target(1, tcpCheck(1, 1))});
  alwaysAnswer(true, "connected");
  run(milliseconds(2500));
  const auto addedAt = clock_.now();
  checker_->setTargets({target(1, tcpCheck(1, 1)), target(2, tcpCheck(1, 1))});
  EXPECT_EQ(checker_->state(1), State::kUp);
  EXPECT_EQ(checker_->state(2), State::kUnknown);
  EXPECT_EQ(checker_->state(99), State::kUnknown);  // not a target
  run(seconds(1));
  EXPECT_EQ(checker_->state(2), State::kUp);
  const auto it = std::find_if(prober_->probes.begin(), prober_->probes.end(),
                               [](const auto& p) { return p.target.rsId == 2; });
  ASSERT_NE(it, prober_->probes.end());
  EXPECT_LE(it->startedAt - addedAt, seconds(1));
}

TEST_F(HealthCheckerTest, KindNoneIsUpAtOnceAndNeverProbed) {
  config::HealthCheck none;
  none.kind = config::CheckKind::kNone;
  checker_->setTargets({target(1, none)});
  EXPECT_EQ(checker_->state(1), State::kUp);
  EXPECT_TRUE(changes_.empty());  // reported from the io loop, not from inside setTargets
  run(seconds(3600));
  EXPECT_TRUE(prober_->probes.empty());
  ASSERT_EQ(changes_.size(), 1U);
  EXPECT_EQ(changes_[0].from, State::kUnknown);
  EXPECT_EQ(changes_[0].to, State::kUp);
  EXPECT_EQ(changes_[0].reason, "no health check");
  EXPECT_EQ(checker_->stats().changes, 1U);
}

TEST_F(HealthCheckerTest, SwitchingToAndFromKindNone) {
  Target t = target(1, tcpCheck(1, 2));
  checker_->setTargets({t});
  probeOnce(false, "connection refused");
  probeOnce(false, "connection refused");
  ASSERT_EQ(checker_->state(1), State::kDown);

  t.check.kind = config::CheckKind::kNone;
  checker_->setTargets({t});
  EXPECT_EQ(checker_->state(1), State::kUp);
  run(seconds(10));
  const size_t probes = prober_->probes.size();
  ASSERT_EQ(changes_.size(), 2U);
  EXPECT_EQ(changes_[1].from, State::kDown);
  EXPECT_EQ(changes_[1].to, State::kUp);

  t.check.kind = config::CheckKind::kTcp;  // probing resumes from up
  checker_->setTargets({t});
  EXPECT_EQ(checker_->state(1), State::kUp);
  probeOnce(false, "connection refused");
  EXPECT_EQ(checker_->state(1), State::kUp);
  probeOnce(false, "connection refused");
  EXPECT_EQ(checker_->state(1), State::kDown);
  EXPECT_EQ(prober_->probes.size(), probes + 2);
}

TEST_F(HealthCheckerTest, KindNoneRemovedBeforeTheLoopRanReportsNothing) {
  config::HealthCheck none;
  none.kind = config::CheckKind::kNone;
  checker_->setTargets({target(1, none)});
  checker_->setTargets({});
  run(seconds(1));
  EXPECT_TRUE(changes_.empty());
}

TEST_F(HealthCheckerTest, DuplicateIdKeepsTheFirst) {
  Target a = target(1, tcpCheck(1, 1));
  Target b = target(1, tcpCheck(1, 1));
  b.address = *IpAddr::parse("10.9.9.9");
  checker_->setTargets({a, b});
  probeOnce(true);
  EXPECT_EQ(prober_->probes.back().target.address, a.address);
  run(seconds(5));
  ASSERT_GE(prober_->probes.size(), 3U);
  for (const auto& p : prober_->probes) EXPECT_EQ(p.target.address, a.address);
}

TEST_F(HealthCheckerTest, CallbackMayReplaceTheTargets) {
  checker_->setTargets({target(1, tcpCheck(1, 1)), target(2, tcpCheck(1, 1))});
  checker_->onChange([this](const Change& c) {
    changes_.push_back(c);
    checker_->setTargets({});  // e.g. a reload triggered from the callback
  });
  alwaysAnswer(true, "connected");
  run(seconds(5));
  EXPECT_EQ(changes_.size(), 1U);
  EXPECT_EQ(checker_->state(1), State::kUnknown);
  EXPECT_EQ(checker_->state(2), State::kUnknown);
}

// A prober that hands its callbacks out, so they can be called after the checker is gone.
class LeakyProber final : public Prober {
 public:
  explicit LeakyProber(std::vector<Callback>& out) : out_(out) {}
  void start(const Target&, std::chrono::nanoseconds, Callback done) override {
    out_.push_back(std::move(done));
  }

 private:
  std::vector<Callback>& out_;
};

TEST(HealthCheckerLifetime, ProbeEndingAfterTheCheckerIsGoneIsHarmless) {
  boost::asio::io_context io;
  FakeClock clock;
  std::vector<Prober::Callback> callbacks;
  {
    HealthChecker checker(io, std::make_unique<LeakyProber>(callbacks),
                          HealthChecker::Options{&clock, 1, seconds(5)});
    checker.setTargets({target(1, tcpCheck(1, 1))});
    clock.advance(seconds(1));
    ASSERT_EQ(callbacks.size(), 1U);
  }
  EXPECT_EQ(clock.pendingTimers(), 0U);  // its timers were cancelled
  callbacks[0](ProbeResult{true, "connected"});
}

}  // namespace
}  // namespace anylb::health

namespace anylb::health {
namespace {

// keepalived's delay_before_retry: after a failure the next probe comes retry_interval later,
// until the failure run reaches fall; down, probing is back at interval.
TEST_F(HealthCheckerTest, RetryIntervalBetweenFailuresUntilFall) {
  auto check = tcpCheck(1, 3, 0.0, 10.0);
  check.retryInterval = config::Seconds(1.0);
  checker_->setTargets({target(1, check)});
  probeOnce(true);
  ASSERT_EQ(checker_->state(1), State::kUp);
  std::vector<Clock::TimePoint> starts;
  for (int i = 0; i < 5; ++i) {
    probeOnce(false, "connection refused");
    starts.push_back(prober_->probes.back().startedAt);
  }
  EXPECT_EQ(checker_->state(1), State::kDown);
  ASSERT_EQ(starts.size(), 5U);
  EXPECT_NEAR(secondsBetween(starts[0], starts[1]), 1.0, 0.02);   // retry
  EXPECT_NEAR(secondsBetween(starts[1], starts[2]), 1.0, 0.02);   // retry; this one is fall
  EXPECT_NEAR(secondsBetween(starts[2], starts[3]), 10.0, 0.02);  // down: interval again
  EXPECT_NEAR(secondsBetween(starts[3], starts[4]), 10.0, 0.02);
}

// misc_dynamic: a passing probe that names a weight is reported once per change of weight;
// a plain pass gives the configured weight back.
TEST_F(HealthCheckerTest, DynamicWeightIsReportedOncePerChange) {
  std::vector<uint32_t> weightChanges;
  checker_->onWeightChange([&](uint32_t rsId) { weightChanges.push_back(rsId); });
  checker_->setTargets({target(7, tcpCheck(1, 1))});
  probeOnce(true);
  ASSERT_EQ(checker_->state(7), State::kUp);
  EXPECT_FALSE(checker_->rsStats(7).dynamicWeight);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 1000 && prober_->unanswered() == 0; ++j) run(milliseconds(10));
    prober_->answer(ProbeResult{true, "exit 7 (weight 5)", 5U});
    io_.poll();
  }
  EXPECT_EQ(weightChanges, std::vector<uint32_t>{7});
  EXPECT_EQ(checker_->rsStats(7).dynamicWeight, 5U);
  probeOnce(true, "exit 0");
  EXPECT_EQ(weightChanges, (std::vector<uint32_t>{7, 7}));
  EXPECT_FALSE(checker_->rsStats(7).dynamicWeight);
  EXPECT_EQ(changes_.size(), 1U);  // the state never changed after the first up
  const auto st = checker_->rsStats(7);
  EXPECT_EQ(st.probes, 5U);
  EXPECT_EQ(st.failures, 0U);
}

TEST_F(HealthCheckerTest, PerRsProbeCountsAndReloadOfTheCheckDropsTheDynamicWeight) {
  checker_->setTargets({target(1, tcpCheck(1, 1)), target(2, tcpCheck(1, 1))});
  prober_->responder = [](const Target& t) {
    return t.rsId == 1 ? ProbeResult{false, "exit 1"} : ProbeResult{true, "exit 3 (weight 1)", 1U};
  };
  run(seconds(10));
  const auto one = checker_->rsStats(1);
  const auto two = checker_->rsStats(2);
  EXPECT_GE(one.probes, 5U);
  EXPECT_EQ(one.failures, one.probes);
  EXPECT_GE(two.probes, 5U);
  EXPECT_EQ(two.failures, 0U);
  EXPECT_EQ(one.probes + two.probes, checker_->stats().probes);
  EXPECT_EQ(two.dynamicWeight, 1U);
  EXPECT_EQ(checker_->rsStats(99).probes, 0U);
  auto changed = tcpCheck(1, 1);
  changed.timeout = config::Seconds(0.25);
  checker_->setTargets({target(1, tcpCheck(1, 1)), target(2, changed)});
  EXPECT_FALSE(checker_->rsStats(2).dynamicWeight);
}

}  // namespace
}  // namespace anylb::health
