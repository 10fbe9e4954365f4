// anylbctl's command line: global options, the commands and their arguments, checked before
// anything is sent, and turned into one control API request (docs/control-api.md).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ctl/ipvs_format.h"
#include "ctl/ipvsadm_args.h"
#include "ctl/top.h"

namespace anylb::ctl {

constexpr const char* kDefaultSocket = "/run/anylb/anylb.sock";

enum class Command {
  kHelp,
  kVersion,
  kCheckConfig,  // local: no daemon involved
  kStatus,
  kList,  // -L -n: the `services` request
  kSessions,
  kSync,  // session sync: peers, lag, events, bulk sync
  kWeight,
  kDrain,
  kUndrain,
  kReload,
  kIpvs,     // an ipvsadm command line (ipvsadm_args.h), in `ipvs`
  kRuntime,  // runtime [reset]: the runtime edits kept in the state file
  kTop,      // top: a live view, `status` and `services` every interval (top.h)
};

struct Invocation {
  Command command = Command::kHelp;
  std::string socketPath;  // -s; empty: see resolveSocketPath()
  std::string configPath;  // -c
  bool json = false;       // --json: print the result as JSON
  ListOptions list;        // -L: --stats / --rate / --exact
  IpvsCommand ipvs;        // kIpvs
  TopOptions top;          // kTop: --interval, --once / --iterations
  std::string file;        // check-config FILE
  // The request line for the daemon commands, without its newline, "cmd" first.
  std::string request;
};

struct ParseResult {
  std::optional<Invocation> invocation;
  std::string error;  // one line, without "anylbctl: "; set when `invocation` is empty
};

// `args` without the program name. Never throws.
ParseResult parseArgs(const std::vector<std::string>& args);

const char* usageText();

}  // namespace anylb::ctl
