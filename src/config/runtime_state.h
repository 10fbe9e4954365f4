// Runtime changes to the services (anylbctl's ipvsadm commands, the control API's `edit`) and
// the state file that keeps them across restarts and reloads (docs/operations.md, "Runtime
// changes"). The TOML stays the operator's file, never rewritten; the state file is a journal of
// edits, applied over it at every start, reload and --check-config.
//
// An edit is a JSON object {"op": ..., ...}:
//   add_service / edit_service / delete_service   "protocol" ("tcp"|"udp"), "service" (VIP:PORT)
//       add/edit: "scheduler", "persistence" (s), "persistence_netmask" (prefix length, dotted
//       IPv4 mask, or null for the whole address), "sched_flags" (array of strings)
//   add_rs / edit_rs / delete_rs   the service's keys and "rs" (ADDRESS:PORT)
//       add/edit: "weight", "upper_threshold", "lower_threshold", "forwarding" ("fullnat")
//   clear            every service removed (ipvsadm -C)
//   set_timeouts     "tcp", "tcpfin", "udp" in seconds; 0 or absent = unchanged (ipvsadm --set)
// A field that is absent is left as it is. Applied strictly (a new edit from the API: adding
// what exists, or editing what does not, is an error, as in ipvsadm) or as a replay (the
// journal over a TOML that may have changed since: adds of existing things edit them, edits
// and deletes of missing things are skipped with a note).
//
// Not thread-safe; used by the control thread (and by --check-config).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.h"

namespace anylb::config {

struct EditResult {
  bool ok = true;
  std::string error;               // when !ok: what is wrong with which edit
  std::vector<std::string> notes;  // replay: edits skipped because their target is gone
};

// Applies `ops` (a JSON array of edits) to `cfg` in order. On an error `cfg` is left partly
// edited: apply to a copy.
EditResult applyEdits(Config& cfg, const nlohmann::json& ops, bool strict);

// Appends `ops` to `journal` (a JSON array) and compacts it: an edit merges into the last
// earlier edit of the same service or RS; a delete drops the earlier edits of what it deletes;
// clear drops every service and RS edit before it (not the timeouts). The journal stays as long as
// the set of things edited.
void appendEdits(nlohmann::json& journal, const nlohmann::json& ops);

// The state file: {"version": 1, "edits": [...]}. A missing file is an empty journal.
struct StateFile {
  bool ok = true;
  std::string error;
  nlohmann::json edits = nlohmann::json::array();
};
StateFile readStateFile(const std::string& path);
// Written to a temporary file in the same directory, fsynced and renamed over `path`, so a
// crash leaves the old file or the new one. Creates the directory when missing. Empty string on
// success, else the error.
std::string writeStateFile(const std::string& path, const nlohmann::json& edits);

// What anylbd runs: the TOML at `path`, with the journal of its control.state_file applied
// (replay) and validated. Errors from the state file are reported with its path; the journal's
// notes are returned in `notes`.
struct EffectiveConfig {
  std::optional<Config> config;
  std::vector<std::string> errors;
  std::vector<std::string> notes;
  size_t edits = 0;  // edits in the journal
};
EffectiveConfig loadEffectiveConfig(const std::string& path);

// Validation of a config built in memory (no source positions): the validator's messages.
std::vector<std::string> validateEdited(const Config& cfg);

}  // namespace anylb::config
