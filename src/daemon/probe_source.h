// The node address health probes leave from, per address family (control thread).
#pragma once

#include <optional>
#include <vector>

#include "common/ip.h"
#include "config/config.h"

namespace anylb {

// Probes to an RS of `family` leave from an uplink's node address of that family (address for
// IPv4, address6 for IPv6): the first uplink whose link is up (`up`, config order), else the
// first uplink that has such an address at all (its probes wait for the link). The kernel's
// policy rule for that address sends them out of that uplink's TAP. No address of the family
// (an IPv6 RS on a node without address6): nullopt, the kernel picks a source.
inline std::optional<IpAddr> probeSourceFor(const std::vector<config::Uplink>& uplinks,
                                            const std::vector<bool>& up, Family family) {
  auto addressOf = [&](const config::Uplink& u) -> std::optional<IpAddr> {
    if (family == Family::kV4) return u.address.addr;
    if (u.address6) return u.address6->addr;
    return std::nullopt;
  };
  for (size_t i = 0; i < uplinks.size() && i < up.size(); ++i) {
    if (!up[i]) continue;
    if (auto a = addressOf(uplinks[i])) return a;
  }
  for (const auto& u : uplinks) {
    if (auto a = addressOf(u)) return a;
  }
  return std::nullopt;
}

}  // namespace anylb
