#include "health/target.h"

namespace anylb::health {

const char* toString(State s) {
  switch (s) {
    case State::kUnknown:
      return "unknown";
    case State::kUp:
      return "up";
    case State::kDown:
      return "down";
  }
  return "?";
}

// A tripwire, not a portability claim: a new HealthCheck field must be compared below, or a
// reload that changes only that field would keep probing with the old check.
static_assert(sizeof(config::HealthCheck) == 168,
              "config::HealthCheck changed: compare the new field in sameCheck()");

bool sameCheck(const config::HealthCheck& a, const config::HealthCheck& b) {
  const auto sameRanges = [](const auto& x, const auto& y) {
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (x[i].lo != y[i].lo || x[i].hi != y[i].hi) return false;
    }
    return true;
  };
  return a.kind == b.kind && a.interval == b.interval && a.timeout == b.timeout &&
         a.rise == b.rise && a.fall == b.fall && a.jitter == b.jitter && a.port == b.port &&
         a.httpPath == b.httpPath && a.httpHost == b.httpHost &&
         sameRanges(a.expectStatus, b.expectStatus) && a.expectBody == b.expectBody;
}

}  // namespace anylb::health
