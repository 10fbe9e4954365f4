// MISC_CHECK against real scripts: exit codes, misc_dynamic weights, quoting without a shell,
// and hostile scripts (hang, fork and exit, print megabytes, vanish) that must neither block
// the io thread nor leave processes behind.
#include "health/misc_prober.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>

#include <fstream>
#include <thread>

#include <boost/asio/steady_timer.hpp>

#include "probe_outcome.h"

namespace anylb::health {
namespace {

using std::chrono::milliseconds;
using testing::expectOutcome;
using testing::kProbeMargin;
using testing::Outcome;

constexpr auto kTimeout = milliseconds(500);

Target miscTarget(std::string command, bool dynamic = false) {
  Target t;
  t.rsId = 1;
  t.service = "script";
  t.address = *IpAddr::parse("127.0.0.1");
  t.port = 80;
  t.check.kind = config::CheckKind::kMisc;
  t.check.miscPath = std::move(command);
  t.check.miscDynamic = dynamic;
  return t;
}

Outcome probe(const Target& t, std::chrono::nanoseconds timeout = kTimeout) {
  return testing::runProbe<MiscProber>(t, timeout);
}

// A fresh path for a script to write a pid into.
std::string tempPath(const char* tag) {
  return ::testing::TempDir() + "misc_" + tag + "_" + std::to_string(getpid());
}

pid_t readPid(const std::string& path) {
  std::ifstream in(path);
  pid_t pid = 0;
  in >> pid;
  return pid;
}

// Gone, or a zombie waiting for init: either way it runs no more.
bool processGone(pid_t pid) {
  for (int i = 0; i < 50; ++i) {
    if (kill(pid, 0) != 0) return true;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("State:", 0) == 0 && line.find('Z') != std::string::npos) return true;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

TEST(MiscProber, ExitZeroIsUpAndOneIsDown) {
  expectOutcome(probe(miscTarget("true")), true, "exit 0", kProbeMargin);
  expectOutcome(probe(miscTarget("false")), false, "exit 1", kProbeMargin);
}

TEST(MiscProber, QuotedArgumentsReachTheScriptWithoutAShell) {
  // One argument with a space and a '$': a shell would have split or expanded it.
  const std::string out = tempPath("args");
  expectOutcome(probe(miscTarget("sh -c 'printf %s \"$0\" > " + out + "' 'a b$HOME'")), true,
                "exit 0", kProbeMargin);
  std::ifstream in(out);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, "a b$HOME");
  unlink(out.c_str());
}

TEST(MiscProber, DynamicExitCodesSetTheWeight) {
  Outcome o = probe(miscTarget("sh -c 'exit 7'", true));
  expectOutcome(o, true, "exit 7 (weight 5)", kProbeMargin);
  EXPECT_EQ(o.result->weight, 5U);
  o = probe(miscTarget("sh -c 'exit 2'", true));
  expectOutcome(o, true, "exit 2 (weight 0)", kProbeMargin);
  EXPECT_EQ(o.result->weight, 0U);
  o = probe(miscTarget("sh -c 'exit 255'", true));
  EXPECT_EQ(o.result->weight, 253U);
  o = probe(miscTarget("true", true));
  expectOutcome(o, true, "exit 0", kProbeMargin);
  EXPECT_FALSE(o.result->weight);
  expectOutcome(probe(miscTarget("false", true)), false, "exit 1", kProbeMargin);
}

TEST(MiscProber, WithoutMiscDynamicAnyOtherExitIsDown) {
  const Outcome o = probe(miscTarget("sh -c 'exit 7'"));
  expectOutcome(o, false, "exit 7", kProbeMargin);
  EXPECT_FALSE(o.result->weight);
}

TEST(MiscProber, MissingCommandFailsFromTheLoop) {
  expectOutcome(probe(miscTarget("/nonexistent/check-script")), false,
                "cannot start: No such file or directory", kProbeMargin);
}

TEST(MiscProber, HangingScriptIsKilledAtTheTimeoutWithItsChildren) {
  const std::string pids = tempPath("hang");
  // The script and a child of its own both hang; the group kill takes both.
  const Outcome o = probe(
      miscTarget("sh -c 'sleep 30 & echo $! > " + pids + "; echo $$ >> " + pids + "; sleep 30'"));
  expectOutcome(o, false, "timeout after 500 ms", kTimeout + kProbeMargin);
  EXPECT_GE(o.took, kTimeout);
  std::ifstream in(pids);
  pid_t child = 0;
  pid_t script = 0;
  in >> child >> script;
  ASSERT_GT(child, 0);
  ASSERT_GT(script, 0);
  EXPECT_TRUE(processGone(child));
  EXPECT_TRUE(processGone(script));
  unlink(pids.c_str());
}

TEST(MiscProber, ScriptThatForksAndExitsLeavesNothingRunning) {
  const std::string pidFile = tempPath("fork");
  const Outcome o = probe(miscTarget("sh -c 'sleep 30 & echo $! > " + pidFile + "; exit 0'"));
  expectOutcome(o, true, "exit 0", kProbeMargin);
  const pid_t stray = readPid(pidFile);
  ASSERT_GT(stray, 0);
  EXPECT_TRUE(processGone(stray));
  unlink(pidFile.c_str());
}

TEST(MiscProber, MegabytesOfOutputCostNothing) {
  // 64 MiB on stdout and stderr: with a pipe nobody reads, it would block until the timeout.
  const Outcome o =
      probe(miscTarget("sh -c 'head -c 67108864 /dev/zero; head -c 1048576 /dev/zero >&2; exit 0'"),
            std::chrono::seconds(3));
  expectOutcome(o, true, "exit 0", std::chrono::seconds(3));
}

TEST(MiscProber, ScriptKilledBySignalIsDown) {
  expectOutcome(probe(miscTarget("sh -c 'kill -TERM $$'")), false, "killed by signal 15",
                kProbeMargin);
}

// The io thread keeps running other work while scripts hang: a 20 ms ticker on the same loop
// keeps its pace.
TEST(MiscProber, HangingScriptsDoNotBlockTheIoThread) {
  boost::asio::io_context io;
  MiscProber prober(io);
  int results = 0;
  for (int i = 0; i < 4; ++i) {
    prober.start(miscTarget("sleep 30"), kTimeout, [&](const ProbeResult& r) {
      EXPECT_FALSE(r.ok);
      ++results;
    });
  }
  int ticks = 0;
  boost::asio::steady_timer ticker(io);
  std::function<void()> tick = [&] {
    ticker.expires_after(milliseconds(20));
    ticker.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      ++ticks;
      if (results < 4) tick();
    });
  };
  tick();
  io.run_for(std::chrono::seconds(5));
  EXPECT_EQ(results, 4);
  // 500 ms of 20 ms ticks: 25 if never late; a blocked loop would manage 1 or 2.
  EXPECT_GE(ticks, 15);
}

}  // namespace
}  // namespace anylb::health
