#include "daemon/service_state.h"

namespace anylb {

bool quorumMet(bool wasMet, uint64_t healthyWeight, uint32_t quorum, uint32_t hysteresis) {
  if (quorum == 0) return true;
  // 64-bit: quorum + hysteresis may exceed 2^32 - 1 (both are up to 2^32 - 1); the validator
  // keeps hysteresis <= quorum, and the comparison guards a hand-built config anyway.
  const uint64_t q = quorum;
  const uint64_t h = hysteresis;
  // As keepalived: no healthy weight at all loses the quorum even when hysteresis == quorum.
  if (wasMet) return healthyWeight != 0 && healthyWeight >= (h > q ? 0 : q - h);
  return healthyWeight >= q + h;
}

ServiceVerdict serviceVerdict(uint32_t healthy, uint32_t minHealthy, bool quorumOk,
                              bool hasSorryServer) {
  ServiceVerdict v;
  v.serving = healthy >= minHealthy && quorumOk;
  v.sorry = !v.serving && hasSorryServer;
  return v;
}

}  // namespace anylb
