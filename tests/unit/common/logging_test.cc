// setupLogging's three destinations: the journal (priority prefixes, no timestamp), a log file
// reopened at its path after logrotate moved it, and stderr otherwise.
#include "common/logging.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace anylb {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/anylb-logging-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    setupLogging("info", "", 0);  // back to stderr: the files below go away
    std::filesystem::remove_all(dir_);
  }
  // Runs `fn` with stderr redirected into `path`.
  template <typename Fn>
  void withStderrIn(const std::string& path, Fn fn) {
    std::fflush(stderr);
    const int saved = dup(STDERR_FILENO);
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
    fn();
    std::fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
  }
  std::string dir_;
};

std::string streamOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0);
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

TEST_F(LoggingTest, JournalStreamMatchesOnlyTheFdItNames) {
  const std::string a = dir_ + "/a";
  const std::string b = dir_ + "/b";
  std::ofstream(a) << "";
  std::ofstream(b) << "";
  const int fd = open(a.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(isJournalStream(streamOf(a).c_str(), fd));
  EXPECT_FALSE(isJournalStream(streamOf(b).c_str(), fd));  // another file
  EXPECT_FALSE(isJournalStream(nullptr, fd));
  for (const char* bad : {"", ":", "1:", ":1", "x:y", "1:2:3", "12", "-1:-1", "1 :2"}) {
    EXPECT_FALSE(isJournalStream(bad, fd)) << bad;
  }
  close(fd);
}

// NOLINTBEGIN(concurrency-mt-unsafe): setenv/unsetenv, single-threaded test
TEST_F(LoggingTest, ToTheJournalEachLineCarriesItsPriorityAndNoTimestamp) {
  const std::string out = dir_ + "/journal";
  withStderrIn(out, [&] {
    setenv("JOURNAL_STREAM", streamOf(out).c_str(), 1);
    setupLogging("debug", "", 0);
    unsetenv("JOURNAL_STREAM");
    spdlog::debug("d");
    spdlog::info("i");
    spdlog::warn("w");
    spdlog::error("e");
    spdlog::critical("c");
  });
  EXPECT_EQ(slurp(out), "<7>d\n<6>i\n<4>w\n<3>e\n<2>c\n");
}

TEST_F(LoggingTest, StderrThatIsNotTheJournalKeepsTimestampsAndLevels) {
  const std::string out = dir_ + "/stderr";
  const std::string other = dir_ + "/other";
  std::ofstream(other) << "";
  withStderrIn(out, [&] {
    setenv("JOURNAL_STREAM", streamOf(other).c_str(), 1);  // inherited, names another file
    setupLogging("info", "", 0);
    unsetenv("JOURNAL_STREAM");
    spdlog::warn("careful");
  });
  const auto text = slurp(out);
  EXPECT_EQ(text.find('<'), std::string::npos) << text;
  EXPECT_NE(text.find(" warning careful\n"), std::string::npos) << text;
  EXPECT_EQ(text.substr(4, 1), "-") << text;  // 2024-...: a timestamp first
}
// NOLINTEND(concurrency-mt-unsafe)

TEST_F(LoggingTest, ReopenStartsANewFileAtThePathAfterARename) {
  const std::string log = dir_ + "/anylb.log";
  ASSERT_TRUE(setupLogging("info", log, 0));
  spdlog::info("before");
  spdlog::default_logger()->flush();
  std::filesystem::rename(log, log + ".1");  // what logrotate does
  spdlog::info("between");                   // still to the moved file: nothing lost
  ASSERT_TRUE(reopenLogFile());
  spdlog::info("after");
  spdlog::default_logger()->flush();
  const auto old = slurp(log + ".1");
  const auto fresh = slurp(log);
  EXPECT_NE(old.find("before"), std::string::npos);
  EXPECT_NE(old.find("between"), std::string::npos);
  EXPECT_EQ(old.find("after"), std::string::npos);
  EXPECT_NE(fresh.find("after"), std::string::npos);
  EXPECT_EQ(fresh.find("before"), std::string::npos);
}

TEST_F(LoggingTest, ReopenFailsWithoutAFileOrWhenThePathCannotBeOpened) {
  setupLogging("info", "", 0);
  EXPECT_FALSE(reopenLogFile());  // stderr: nothing to reopen
  const std::string sub = dir_ + "/sub";
  std::filesystem::create_directory(sub);
  ASSERT_TRUE(setupLogging("info", sub + "/anylb.log", 0));
  spdlog::info("kept");
  // The directory is gone and a file is in its way (spdlog would create a missing directory).
  std::filesystem::rename(sub, dir_ + "/moved");
  std::ofstream(sub) << "";
  EXPECT_FALSE(reopenLogFile());
  spdlog::info("still here");  // to the old, still-open file
  spdlog::default_logger()->flush();
  EXPECT_NE(slurp(dir_ + "/moved/anylb.log").find("still here"), std::string::npos);
}

TEST_F(LoggingTest, AnUnopenableFileFallsBackToStderr) {
  std::ofstream(dir_ + "/file") << "";  // a file where the log's directory would be
  EXPECT_FALSE(setupLogging("info", dir_ + "/file/anylb.log", 0));
  EXPECT_FALSE(reopenLogFile());
}

}  // namespace
}  // namespace anylb
