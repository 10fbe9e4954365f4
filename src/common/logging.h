// Process-wide logging setup (spdlog). Called once from main() before any thread starts.
#pragma once

#include <string>

namespace anylb {

// `level` is a spdlog level name; each `verbose` step lowers it by one (info → debug → trace).
// `file` empty logs to stderr. Returns false and leaves stderr logging on a bad file path.
bool setupLogging(const std::string& level, const std::string& file, int verbose);

}  // namespace anylb
