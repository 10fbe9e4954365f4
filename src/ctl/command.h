// Runs one anylbctl daemon command: sends the request, reads the answer, and turns it into the
// text the user sees and the exit status. main.cc only wires argv, the socket and stdout/stderr.
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "ctl/args.h"
#include "ctl/client.h"
#include "ctl/json_get.h"

namespace anylb::ctl {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // anylbd unreachable, or it answered with an error
constexpr int kExitUsage = 2;   // bad arguments

struct Outcome {
  int exitCode = kExitOk;
  std::string out;  // for stdout
  std::string err;  // for stderr, each line starting "anylbctl: " or an error detail line
};

// For the daemon commands (status, -L, sessions, weight, drain, undrain, reload).
// One answer line of anylbd's control API: `result` when ok; else `malformed` (not a JSON
// object with a boolean "ok"), or `error` ("CODE: MESSAGE") with the validator's `errors` lines.
struct Answer {  // NOLINT(bugprone-exception-escape): Json's constructors, as TopSnapshot
  bool ok = false;
  bool malformed = false;
  std::string error;
  std::vector<std::string> errors;
  Json result;
};
Answer parseAnswer(const std::string& line);

Outcome execute(const Invocation& inv, Transport& transport);

// The socket to use: -s, else control.socket of -c FILE (read without validating the rest of
// the file, so a config being edited still names its socket), else kDefaultSocket. On failure
// returns false with `error` set.
bool resolveSocketPath(const Invocation& inv, std::string& path, std::string& error);

// All of anylbctl but the stdio: arguments (without the program name) to exit status and text.
// check-config is the exception: anylb::config::checkConfigCommand prints its own lines.
Outcome runCli(const std::vector<std::string>& args, const ClientLimits& limits = {});
// The same, reading -R's rules from `in` instead of stdin.
Outcome runCli(const std::vector<std::string>& args, const ClientLimits& limits, std::istream& in);

}  // namespace anylb::ctl
