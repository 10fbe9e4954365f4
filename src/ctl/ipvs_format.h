// The ipvsadm-compatible listings of anylbctl: `-L -n` (plain, --stats, --rate) from the control
// API's `services` result and `sessions` (ipvsadm -L -n -c plus a local-address column) from the
// `sessions` result.
//
// The layouts are ipvsadm's own printf formats (ipvsadm.c: list_all, print_title,
// print_service_entry, print_largenum, list_conn), so scripts written against ipvsadm keep
// working. The first line is always "IP Virtual Server version 1.2.1 (size=4096)", as ipvsadm
// prints it on Linux; the numbers mean nothing for anylb. Services are sorted as ipvsadm sorts
// them (address family, protocol, address, port), real servers by family, address, port. Like
// ipvsadm, the plain listing pads its last columns, so its real-server lines end in blanks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "ctl/json_get.h"

namespace anylb::ctl {

enum class ListFormat { kPlain, kStats, kRate, kThresholds, kPersistent };

struct ListOptions {
  ListFormat format = ListFormat::kPlain;
  bool exact = false;  // --exact: full numbers instead of K/M/G/T
  // -L -t|-u SERVICE: only that service ({protocol, canonical VIP:PORT}), and, as ipvsadm's
  // list_service(), without the version line. Listing a service that does not exist fails.
  std::optional<std::pair<std::string, std::string>> service;
};

// `result` is the control API's `services` result: {"services": [...]}.
std::string formatServiceList(const Json& result, const ListOptions& options);

// `result` is the `sessions` result: {"sessions": [...], "truncated": bool}.
std::string formatSessions(const Json& result);

// ipvsadm -L -n -c: the same sessions in ipvsadm's own columns (no local address), and the
// persistence templates when the result has them ("templates").
std::string formatConnections(const Json& result);

// ipvsadm -L --timeout, from the `runtime` result's "timeouts".
std::string formatTimeouts(const Json& result);

// True when the `services` result has the service of `options.service` (or none is asked for).
bool hasService(const Json& result, const ListOptions& options);

// ipvsadm's print_largenum: a number in a 9-character field, abbreviated with K, M, G, T
// (powers of 1000, rounded down) once it no longer fits in 8 digits; with `exact` the full
// number, still right-aligned in at least 9 characters after one blank.
std::string largeNumber(uint64_t value, bool exact);

// "ADDR:PORT", "[V6]:PORT" from a session or service endpoint: a string is taken as it is, an
// object {"address", "port"} is formatted.
std::string endpointText(const Json& v);

}  // namespace anylb::ctl
