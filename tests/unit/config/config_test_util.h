// Shared by the config tests: a minimal valid config and a way to see its errors as text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"

namespace anylb::config::testing {

// Line numbers matter: broken-config expectations name positions in this text.
inline constexpr std::string_view kMinimalText = R"([node]
name = "t"
router_id = "10.255.0.1"

[dataplane]
workers = 1

[[dataplane.port]]
name = "p0"
device = "net_tap0"

[[uplink]]
name = "u0"
port = "p0"
address = "10.1.0.2/30"
gateway = "10.1.0.1"
peer_address = "10.1.0.1"
peer_as = 65001

[bgp]
local_as = 65100

[local_addresses]
prefixes = ["10.200.0.0/28"]

[[service]]
vip = "10.100.0.10"
port = 80

[[service.real_server]]
address = "10.20.0.11"
port = 80
weight = 1
)";

inline std::string minimal() {
  return std::string(kMinimalText);
}

inline std::vector<std::string> errorsOf(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& e : loadConfigString(text, "t.toml").errors) out.push_back(e.str());
  return out;
}

// kMinimal with the first occurrence of `from` replaced by `to` (which must exist).
inline std::string replaced(const std::string& from, const std::string& to,
                            std::string text = minimal()) {
  const auto at = text.find(from);
  if (at == std::string::npos) return "<<'" + from + "' not in the base config>>";
  return text.replace(at, from.size(), to);
}

}  // namespace anylb::config::testing
