// The notify command: spawned without a shell, reaped asynchronously, killed at its deadline.
#include "health/notifier.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fakes.h"
#include "health/health_checker.h"

namespace anylb::health {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Steady = std::chrono::steady_clock;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "anylb-health-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

  // An executable script that appends its arguments, one call per line, to `out`.
  [[nodiscard]] std::string recorder() const {
    const auto script = path_ / "notify.sh";
    std::ofstream(script) << "#!/bin/sh\necho \"$@\" >> '" << (path_ / "out").string() << "'\n";
    std::filesystem::permissions(script, std::filesystem::perms::owner_all);
    return script.string();
  }
  [[nodiscard]] std::string recorded() const {
    std::ifstream in(path_ / "out");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::filesystem::path path_;
};

// Runs the loop until `done` or the deadline.
template <typename Pred>
bool runUntil(boost::asio::io_context& io, Pred done, Steady::duration limit = seconds(5)) {
  const auto deadline = Steady::now() + limit;
  while (!done() && Steady::now() < deadline) {
    io.restart();
    io.run_for(milliseconds(10));
  }
  return done();
}

TEST(Notifier, RunsTheCommandWithItsArgumentsWithoutAShell) {
  TempDir dir;
  boost::asio::io_context io;
  Notifier n(io);
  const std::string recorder = dir.recorder();
  n.run({recorder, "10.20.0.11:80", "up", "down"});
  ASSERT_TRUE(runUntil(io, [&] { return n.stats().running == 0; }));
  n.run({recorder, "$HOME;", "*", "down"});  // no shell: nothing is expanded
  ASSERT_TRUE(runUntil(io, [&] { return n.stats().running == 0; }));
  EXPECT_EQ(dir.recorded(), "10.20.0.11:80 up down\n$HOME; * down\n");
  EXPECT_EQ(n.stats().failed, 0U);
}

TEST(Notifier, CountsACommandThatCannotStartOrFails) {
  boost::asio::io_context io;
  Notifier n(io);
  n.run({"/nonexistent/anylb-notify", "a"});
  n.run({"false"});
  n.run({"true"});
  ASSERT_TRUE(runUntil(io, [&] { return n.stats().running == 0; }));
  EXPECT_EQ(n.stats().started, 3U);
  EXPECT_EQ(n.stats().failed, 2U);
}

TEST(Notifier, CommandInheritsNoDescriptorsBeyondStdio) {
  boost::asio::io_context io;
  Notifier n(io);
  const int leaky = dup(STDERR_FILENO);  // not close-on-exec, like a socket Asio opened
  ASSERT_GT(leaky, STDERR_FILENO);
  const std::string fd = std::to_string(leaky);
  n.run({"/bin/sh", "-c", "test -e /proc/$$/fd/2 && test ! -e /proc/$$/fd/" + fd});
  ASSERT_TRUE(runUntil(io, [&] { return n.stats().running == 0; }));
  close(leaky);
  EXPECT_EQ(n.stats().started, 1U);
  EXPECT_EQ(n.stats().failed, 0U);
}

TEST(Notifier, KillsAHangingCommandAtItsDeadlineWithoutBlockingTheLoop) {
  boost::asio::io_context io;
  Notifier n(io, milliseconds(300));
  const auto start = Steady::now();
  n.run({"sleep", "30"});
  EXPECT_LT(Steady::now() - start, milliseconds(100));  // run() does not wait for it

  // The loop keeps serving timers while the command hangs.
  int ticks = 0;
  boost::asio::steady_timer tick(io);
  std::function<void()> arm = [&] {
    tick.expires_after(milliseconds(20));
    tick.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      ++ticks;
      arm();
    });
  };
  arm();
  ASSERT_TRUE(runUntil(io, [&] { return n.stats().running == 0; }));
  const auto took = Steady::now() - start;
  tick.cancel();
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, seconds(3));
  EXPECT_GE(ticks, 5);
  EXPECT_EQ(n.stats().failed, 1U);
}

TEST(Notifier, QueuesBeyondTheConcurrencyLimit) {
  boost::asio::io_context io;
  Notifier n(io);
  for (size_t i = 0; i < Notifier::kMaxRunning + 10; ++i) n.run({"true"});
  EXPECT_EQ(n.stats().running, Notifier::kMaxRunning);
  EXPECT_EQ(n.stats().queued, 10U);
  ASSERT_TRUE(runUntil(io, [&] { return n.stats().running == 0 && n.stats().queued == 0; }));
  EXPECT_EQ(n.stats().started, Notifier::kMaxRunning + 10);
  EXPECT_EQ(n.stats().failed, 0U);
}

TEST(Notifier, HealthCheckerRunsNotifyOnEachChange) {
  TempDir dir;
  boost::asio::io_context io;
  testing::FakeClock clock;
  auto prober = std::make_unique<testing::FakeProber>(clock);
  testing::FakeProber* fake = prober.get();
  HealthChecker checker(io, std::move(prober), HealthChecker::Options{&clock, 7, seconds(5)});

  Target t;
  t.rsId = 1;
  t.service = "web";
  t.address = *IpAddr::parse("10.20.0.11");
  t.port = 80;
  t.check.kind = config::CheckKind::kTcp;
  t.check.interval = config::Seconds(1);
  t.check.rise = 1;
  t.check.fall = 1;
  const std::string recorder = dir.recorder();
  t.notify = recorder + " --from-anylb";
  Target broken = t;
  broken.rsId = 2;
  broken.address = *IpAddr::parse("10.20.0.12");
  broken.notify = "/nonexistent/anylb-notify";
  checker.setTargets({t, broken});
  fake->responder = [](const Target&) { return ProbeResult{true, "connected"}; };
  clock.advance(seconds(2));
  // Each command finishes before the next change, so the lines are in order.
  ASSERT_TRUE(runUntil(io, [&] { return checker.stats().notifyFailures == 1; }));
  ASSERT_TRUE(runUntil(io, [&] { return !dir.recorded().empty(); }));
  fake->responder = [](const Target&) { return ProbeResult{false, "connection refused"}; };
  clock.advance(seconds(2));
  ASSERT_TRUE(runUntil(io, [&] { return dir.recorded().size() >= 2 * 34; }));
  EXPECT_EQ(dir.recorded(),
            "--from-anylb 10.20.0.11:80 unknown up\n--from-anylb 10.20.0.11:80 up down\n");
  EXPECT_EQ(checker.stats().changes, 4U);
  EXPECT_EQ(checker.stats().notifyFailures, 2U);
}

// keepalived's notify_up / notify_down: the one matching the new state runs, as written (its
// quoted argument stays one word), with the service and ADDR:PORT appended.
TEST(Notifier, HealthCheckerRunsNotifyUpAndNotifyDown) {
  TempDir dir;
  boost::asio::io_context io;
  testing::FakeClock clock;
  auto prober = std::make_unique<testing::FakeProber>(clock);
  testing::FakeProber* fake = prober.get();
  HealthChecker checker(io, std::move(prober), HealthChecker::Options{&clock, 7, seconds(5)});

  Target t;
  t.rsId = 1;
  t.service = "web";
  t.address = *IpAddr::parse("10.20.0.11");
  t.port = 80;
  t.check.kind = config::CheckKind::kTcp;
  t.check.interval = config::Seconds(1);
  t.check.rise = 1;
  t.check.fall = 1;
  const std::string recorder = dir.recorder();
  t.notifyUp = recorder + " 'is up'";
  t.notifyDown = recorder + " went-down";
  checker.setTargets({t});
  fake->responder = [](const Target&) { return ProbeResult{true, "connected"}; };
  clock.advance(seconds(2));
  ASSERT_TRUE(runUntil(io, [&] { return !dir.recorded().empty(); }));
  fake->responder = [](const Target&) { return ProbeResult{false, "connection refused"}; };
  clock.advance(seconds(2));
  ASSERT_TRUE(runUntil(io, [&] { return dir.recorded().size() >= 2 * 24; }));
  EXPECT_EQ(dir.recorded(), "is up web 10.20.0.11:80\nwent-down web 10.20.0.11:80\n");
  EXPECT_EQ(checker.stats().notifyFailures, 0U);
}

// keepalived's omega: an up RS with omega that a reload removes, or that is up when anylbd
// stops, runs its notify_down; one without omega, or one that is not up, runs nothing.
class Omega : public ::testing::Test {
 protected:
  Omega() {
    auto prober = std::make_unique<testing::FakeProber>(clock_);
    fake_ = prober.get();
    checker_ = std::make_unique<HealthChecker>(io_, std::move(prober),
                                               HealthChecker::Options{&clock_, 7, seconds(5)});
  }
  Target rs(uint32_t id, bool omega) {
    Target t;
    t.rsId = id;
    t.service = "web";
    t.address = IpAddr::v4(0x0a140000U + id);
    t.port = 80;
    t.check.kind = config::CheckKind::kTcp;
    t.check.interval = config::Seconds(1);
    t.check.rise = 1;
    t.check.fall = 1;
    t.check.omega = omega;
    t.notifyDown = recorder_ + " down";
    t.notifyUp = recorder_ + " up";
    return t;
  }
  // Every target up; the notify_up lines recorded, then the record cleared.
  void allUp(size_t n) {
    fake_->responder = [](const Target&) { return ProbeResult{true, "connected"}; };
    clock_.advance(seconds(2));
    ASSERT_TRUE(runUntil(io_, [&] {
      const auto r = dir_.recorded();
      return static_cast<size_t>(std::count(r.begin(), r.end(), '\n')) == n;
    }));
    std::filesystem::remove(dir_.path() / "out");
  }
  // The loop for `ms` of real time: commands that were started have ended by then.
  void settle(int ms = 300) {
    boost::asio::steady_timer t(io_, milliseconds(ms));
    bool done = false;
    t.async_wait([&](const boost::system::error_code&) { done = true; });
    runUntil(io_, [&] { return done; });
  }
  TempDir dir_;
  std::string recorder_ = dir_.recorder();
  boost::asio::io_context io_;
  testing::FakeClock clock_;
  testing::FakeProber* fake_ = nullptr;
  std::unique_ptr<HealthChecker> checker_;
};

TEST_F(Omega, RemovedUpRsWithOmegaRunsNotifyDown) {
  checker_->setTargets({rs(1, true), rs(2, false), rs(3, true)});
  allUp(3);
  checker_->setTargets({rs(3, true)});  // 1 (omega) and 2 (no omega) leave while up
  ASSERT_TRUE(runUntil(io_, [&] { return !dir_.recorded().empty(); }));
  settle();
  EXPECT_EQ(dir_.recorded(), "down web 10.20.0.1:80\n");
}

TEST_F(Omega, RemovedRsThatIsNotUpRunsNothing) {
  checker_->setTargets({rs(1, true)});
  checker_->setTargets({});  // unknown when it leaves
  checker_->setTargets({rs(2, true)});
  fake_->responder = [](const Target&) { return ProbeResult{false, "connection refused"}; };
  clock_.advance(seconds(2));
  ASSERT_TRUE(runUntil(io_, [&] { return checker_->state(2) == State::kDown; }));
  settle();
  std::filesystem::remove(dir_.path() / "out");  // rs 2's own notify_down
  checker_->setTargets({});                      // down when it leaves
  settle();
  EXPECT_EQ(dir_.recorded(), "");
}

TEST_F(Omega, StopRunsNotifyDownOfTheUpRsWithOmega) {
  checker_->setTargets({rs(2, true), rs(1, true), rs(3, false)});
  allUp(3);
  checker_->stopOmega();
  ASSERT_TRUE(runUntil(io_, [&] { return dir_.recorded().size() >= 2 * 22; }));
  settle();
  // Both, whichever finished first, and not rs 3's.
  const auto r = dir_.recorded();
  EXPECT_TRUE(r == "down web 10.20.0.1:80\ndown web 10.20.0.2:80\n" ||
              r == "down web 10.20.0.2:80\ndown web 10.20.0.1:80\n")
      << r;
  // The states stay: stopOmega() is no state change.
  EXPECT_EQ(checker_->state(1), State::kUp);
}

}  // namespace
}  // namespace anylb::health
