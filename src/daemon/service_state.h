// Whether a service serves from its real servers, from its sorry server, or not at all: the
// rules of keepalived's quorum / hysteresis and sorry_server combined with anylb's min_healthy.
// Pure functions of the health counts; the node keeps the per-service quorum state and calls
// these on the control thread whenever a health state or a weight changes.
#pragma once

#include <cstdint>

namespace anylb {

// keepalived's quorum with hysteresis. `healthyWeight`: the sum of the effective weights of
// the RS whose check is up. Once met, the quorum is lost when the sum falls below
// quorum - hysteresis; once lost, it is met again when the sum reaches quorum + hysteresis.
// quorum 0 is always met. A service starts with its quorum lost (no RS is up yet), so its first
// "met" needs quorum + hysteresis, as every later one does.
[[nodiscard]] bool quorumMet(bool wasMet, uint64_t healthyWeight, uint32_t quorum,
                             uint32_t hysteresis);

struct ServiceVerdict {
  bool serving = false;  // min_healthy and quorum both hold: new sessions go to the RS
  bool sorry = false;    // not serving and a sorry server is configured: new sessions go there
  // The VIP may be announced for this service (serving, or serving the sorry server).
  [[nodiscard]] bool announce() const { return serving || sorry; }
};

[[nodiscard]] ServiceVerdict serviceVerdict(uint32_t healthy, uint32_t minHealthy, bool quorumOk,
                                            bool hasSorryServer);

}  // namespace anylb
