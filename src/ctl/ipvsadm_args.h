// anylbctl's ipvsadm mode: ipvsadm's commands and options (ipvsadm(8)), turned into control API
// requests. Once a command option of ipvsadm appears (-A -E -D -a -e -d -C -Z -L -l -S -R --set
// or their long forms), the rest of the line is read as ipvsadm reads it: -s is the scheduler
// and -c the connection listing there, not anylbctl's --socket / --config (give those, in their
// long or short form, before the ipvsadm command).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace anylb::ctl {

// What an ipvsadm command line asks for.
struct IpvsCommand {
  enum class Kind {
    kEdit,     // -A -E -D -a -e -d -C --set: `edits` for the `edit` request
    kZero,     // -Z [-t|-u SERVICE]
    kList,     // -L / -l
    kSave,     // -S: the services as ipvsadm rules
    kRestore,  // -R: rules read from stdin, applied as one edit
  };
  enum class ListFormat { kPlain, kStats, kRate, kThresholds, kPersistent, kConnections, kTimeout };
  Kind kind = Kind::kList;
  ListFormat format = ListFormat::kPlain;
  bool exact = false;
  // -t/-u SERVICE given with -L, -Z: {"protocol", "service"} (canonical VIP:PORT)
  std::optional<std::pair<std::string, std::string>> service;
  nlohmann::json edits = nlohmann::json::array();
};

// True when `arg` starts ipvsadm mode.
bool isIpvsadmCommand(const std::string& arg);

// Parses args[from..] (args[from] satisfies isIpvsadmCommand). Empty error on success.
std::string parseIpvsadm(const std::vector<std::string>& args, size_t from, IpvsCommand& out);

// One line of an ipvsadm rules file (-S output, ipvsadm-save) as edits; blank lines and
// '#' comments give none. Empty error on success.
std::string parseRuleLine(const std::string& line, nlohmann::json& edits);

// -S: the control API's `services` result as ipvsadm rules (ipvsadm -S -n's format; the
// forwarding flag is -b, FULLNAT).
std::string formatRules(const nlohmann::json& services);

}  // namespace anylb::ctl
