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

bool sameCheck(const config::HealthCheck& a, const config::HealthCheck& b) {
  return a == b;
}

}  // namespace anylb::health
