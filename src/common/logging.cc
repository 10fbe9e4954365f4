#include "common/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace anylb {

bool setupLogging(const std::string& level, const std::string& file, int verbose) {
  auto lvl = spdlog::level::from_str(level);
  lvl = static_cast<spdlog::level::level_enum>(
      std::max(0, static_cast<int>(lvl) - std::max(0, verbose)));
  bool ok = true;
  std::shared_ptr<spdlog::logger> logger;
  if (!file.empty()) {
    try {
      logger = spdlog::basic_logger_mt("anylb", file);
    } catch (const spdlog::spdlog_ex&) {
      ok = false;
    }
  }
  if (!logger) logger = spdlog::stderr_logger_mt("anylb-stderr");
  logger->set_level(lvl);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  if (!ok) spdlog::error("cannot open log file {}; logging to stderr", file);
  return ok;
}

}  // namespace anylb
