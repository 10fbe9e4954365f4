#include "common/logging.h"

#include <spdlog/details/file_helper.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string_view>

namespace anylb {

namespace {

// A file sink that can reopen its path: spdlog's basic_file_sink cannot. The sink's mutex
// (base_sink) serialises reopen() against every thread's writes.
class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit ReopenableFileSink(std::string path) : path_(std::move(path)) {
    file_.open(path_, false);  // append; throws spdlog_ex when it cannot
  }

  bool reopen() {
    std::lock_guard<std::mutex> lock(mutex_);
    spdlog::details::file_helper fresh;
    try {
      fresh.open(path_, false);
    } catch (const spdlog::spdlog_ex&) {
      return false;  // keep writing to the old file
    }
    file_.close();
    file_.open(path_, false);  // just opened above: only fails if the path vanished since
    return true;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    file_.write(formatted);
  }
  void flush_() override { file_.flush(); }

 private:
  std::string path_;
  spdlog::details::file_helper file_;
};

// "%*": "<N>", the syslog priority of the line's level, the prefix journald reads from a
// stream (sd-daemon(3)).
class SyslogPriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    char p = '6';  // info
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        p = '7';
        break;
      case spdlog::level::info:
        p = '6';
        break;
      case spdlog::level::warn:
        p = '4';
        break;
      case spdlog::level::err:
        p = '3';
        break;
      case spdlog::level::critical:
        p = '2';
        break;
      default:
        break;
    }
    const char text[] = {'<', p, '>'};
    dest.append(text, text + sizeof(text));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriorityFlag>();
  }
};

std::shared_ptr<ReopenableFileSink> gFileSink;  // set once by setupLogging, before threads

}  // namespace

bool isJournalStream(const char* journalStream, int fd) {
  if (journalStream == nullptr) return false;
  const std::string_view s(journalStream);
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  const auto* devEnd = s.data() + colon;
  const auto* inoEnd = s.data() + s.size();
  const auto d = std::from_chars(s.data(), devEnd, dev);
  const auto i = std::from_chars(devEnd + 1, inoEnd, ino);
  if (d.ec != std::errc{} || d.ptr != devEnd || i.ec != std::errc{} || i.ptr != inoEnd ||
      colon == 0 || colon + 1 == s.size()) {
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

bool setupLogging(const std::string& level, const std::string& file, int verbose) {
  auto lvl = spdlog::level::from_str(level);
  lvl = static_cast<spdlog::level::level_enum>(
      std::max(0, static_cast<int>(lvl) - std::max(0, verbose)));
  bool ok = true;
  std::shared_ptr<spdlog::logger> logger;
  gFileSink.reset();
  if (!file.empty()) {
    try {
      gFileSink = std::make_shared<ReopenableFileSink>(file);
      logger = std::make_shared<spdlog::logger>("anylb", gFileSink);
    } catch (const spdlog::spdlog_ex&) {
      gFileSink.reset();
      ok = false;
    }
  }
  // getenv: called from main() before any thread starts.
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  const bool journal = !logger && isJournalStream(std::getenv("JOURNAL_STREAM"), STDERR_FILENO);
  if (!logger)
    logger = std::make_shared<spdlog::logger>("anylb-stderr",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(lvl);
  if (journal) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<SyslogPriorityFlag>('*').set_pattern("%*%v");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  logger->flush_on(journal ? spdlog::level::trace : spdlog::level::warn);
  spdlog::set_default_logger(logger);
  if (!ok) spdlog::error("cannot open log file {}; logging to stderr", file);
  return ok;
}

bool reopenLogFile() {
  return gFileSink && gFileSink->reopen();
}

}  // namespace anylb
