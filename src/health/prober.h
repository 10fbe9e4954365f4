// The seam between the health checker's state machine and the network: start one probe of a
// target, learn once whether it passed. AsioProber (asio_prober.h) is the real one; unit tests
// use a fake.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "health/target.h"

namespace anylb::health {

struct ProbeResult {
  bool ok = false;
  // Short and operator-readable: "connected", "status 200", "connection refused",
  // "connect timeout", "response timeout", "status 503", "body mismatch", "reset", ...
  std::string reason;
};

class Prober {
 public:
  using Callback = std::function<void(ProbeResult)>;

  Prober() = default;
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;
  Prober(Prober&&) = delete;
  Prober& operator=(Prober&&) = delete;
  virtual ~Prober() = default;

  // Starts one probe of `target` (its check.kind is tcp or http). Calls `done` exactly once, on
  // the io thread, never from inside start(), and at most `timeout` after start() (plus the
  // io thread's own latency). A probe may outlive the Prober; it then still calls `done`.
  virtual void start(const Target& target, std::chrono::nanoseconds timeout, Callback done) = 0;
};

}  // namespace anylb::health
