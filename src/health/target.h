// What the health checker probes: one real server of one service, with its effective check.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/ip.h"
#include "config/config.h"

namespace anylb::health {

// Health of one RS. kUnknown: not yet proven either way (a new target, or not a target).
enum class State : uint8_t { kUnknown, kUp, kDown };
const char* toString(State s);  // "unknown", "up", "down"

struct Target {
  uint32_t rsId = 0;             // stable id, the daemon's key
  std::string service;           // for logs and notify: service name or "VIP:PORT/proto"
  IpAddr address;                // RS address
  uint16_t port = 0;             // RS port; probes use check.port when it is non-zero
  config::HealthCheck check;     // effective check; kind none: always up, never probed
  std::optional<IpAddr> source;  // probes leave from this local address (the uplink address)
  std::string notify;            // command run on state changes; empty = none
  std::string notifyUp;          // run when the state becomes up / down (keepalived's
  std::string notifyDown;        // notify_up / notify_down); empty = none

  [[nodiscard]] uint16_t probePort() const { return check.port != 0 ? check.port : port; }
};

// Equality of two checks, every field (HealthCheck's defaulted operator==, which a new field
// joins by itself).
bool sameCheck(const config::HealthCheck& a, const config::HealthCheck& b);

}  // namespace anylb::health
