// anylbctl import-keepalived: a keepalived.conf (ctl/keepalived_conf.h) turned into anylb's TOML
// (docs/config.md) and a report of everything that has no equivalent or is only approximated,
// each with the keepalived file's FILE:LINE (docs/migration.md has the table of keys).
//
// keepalived has no notion of the node-level tables (node, dataplane ports, uplinks, BGP, local
// addresses): they come from a template (--template FILE, to which [[service]] tables are
// appended) or from a built-in one with placeholder documentation addresses (RFC 5737/3849).
// Every mapped TOML key carries a comment naming the keepalived lines it came from, so that each
// line of the input is either in the output's comments or in the report: nothing is dropped
// silently.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "ctl/command.h"
#include "ctl/keepalived_conf.h"

namespace anylb::ctl {

// `args` are the words after "import-keepalived":
//   FILE [--node-name NAME] [--template FILE] [--report FILE]
// Prints the TOML to Outcome::out and the report to Outcome::err (or writes it to --report).
// Exit 0 when imported (with or without report entries), 1 when FILE (or the template) cannot
// be read or parsed, 2 on bad arguments. Runs on the caller's thread.
Outcome runImportKeepalived(const std::vector<std::string>& args);

namespace keepalived {

struct ImportOptions {
  std::string nodeName;                     // the built-in template's [node] name
  std::optional<std::string> templateText;  // given: appended to, built-in template unused
  std::string configId;  // as parsed with (ParseLimits::configId), for the report
};

struct ImportResult {
  std::string toml;
  // "FILE:LINE: KEY ARGS: no equivalent: WHY" / "...: note: WHAT" / "...: skipped: WHY", each
  // line once, in the order of the input (what is found unused at the end of a virtual server
  // or of the file comes then).
  std::vector<std::string> report;
  size_t services = 0;
  size_t realServers = 0;
  size_t unmapped = 0;  // report lines that are not notes
  size_t notes = 0;
};

ImportResult importTree(const ConfTree& tree, const ImportOptions& options);

}  // namespace keepalived
}  // namespace anylb::ctl
