// Human-readable text for the control API results that have no ipvsadm counterpart: `status`,
// `reload`, `weight`, `drain` / `undrain`. The shapes are those of docs/control-api.md and, for
// the stats members of `status`, docs/operations.md. Scripts should use --json instead: this
// text may change.
#pragma once

#include <cstdint>
#include <string>

#include "ctl/json_get.h"

namespace anylb::ctl {

std::string formatStatus(const Json& result);
std::string formatReload(const Json& result);
std::string formatWeight(const Json& result);
std::string formatDrain(const Json& result);
// anylbctl sync: the service, one row per peer, the workers' replica counters.
std::string formatSync(const Json& result);

// "45s", "12m 05s", "3h 04m 05s", "2d 03h 04m".
std::string formatUptime(uint64_t seconds);

}  // namespace anylb::ctl
