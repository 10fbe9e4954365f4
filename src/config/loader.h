// Loading and validating the node's TOML configuration.
//
// loadConfig() reports every problem it finds in one pass, each with file, line, column and key
// path (e.g. "anylb.toml:14:9: service[1].real_server[0].weight: 70000 is out of range
// 0..65535"). It never throws. A config is returned only when there are no errors at all.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace anylb::config {

struct ConfigError {
  std::string file;
  SourcePos pos;
  std::string path;  // key path, e.g. "service[1].real_server[0].weight"; may be empty
  std::string message;
  [[nodiscard]] std::string str() const;
};

// Where each key path was found in the file; filled by the loader, used by validate().
using PositionMap = std::map<std::string, SourcePos, std::less<>>;

struct LoadResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;  // sorted by position
};

LoadResult loadConfigFile(const std::string& path);
LoadResult loadConfigString(std::string_view text, const std::string& fileName);

// Semantic checks (duplicates, overlaps, cross-references, address families). A check is
// skipped when a key it reads is in `badKeys` (it already has an error from the schema pass and
// holds a default), so one typo does not cascade into follow-up messages.
std::vector<ConfigError> validate(const Config& cfg, const PositionMap& where,
                                  const std::vector<std::string>& badKeys = {});

// The --check-config command shared by anylbd and anylbctl: prints each error to stderr and
// returns 1, or prints "OK <summary>" to stdout and returns 0.
int checkConfigCommand(const std::string& path);

// One-line summary for --check-config, e.g. "node lb1: 2 uplinks, 3 services, 9 real servers".
std::string summary(const Config& cfg);

}  // namespace anylb::config
