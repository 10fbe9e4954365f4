// Running short external commands (ip, sysctl) from the control thread, bounded in time.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace anylb {

struct CommandResult {
  int status = -1;     // exit status, or -1 (could not start, killed on timeout, signalled)
  std::string output;  // stdout and stderr, at most 4 KiB
  [[nodiscard]] bool ok() const { return status == 0; }
};

// Runs argv[0] (looked up in PATH) with the arguments, without a shell. Kills it after
// `timeout`. Never throws.
CommandResult runCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5));

std::string joinArgs(const std::vector<std::string>& argv);

// "cmd -x 'a b' \"c d\" e\\ f" → {"cmd", "-x", "a b", "c d", "e f"}: white space separates
// words; single quotes, double quotes and backslash group them as in sh, and nothing else of
// sh happens (no variables, globs, redirections). nullopt: an unterminated quote.
std::optional<std::vector<std::string>> splitCommandLine(std::string_view line);

}  // namespace anylb
