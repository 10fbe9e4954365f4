// The seam between the health checker's state machine and the network: start one probe of a
// target, learn once whether it passed. AsioProber (asio_prober.h) is the real one; unit tests
// use a fake.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "health/target.h"

namespace anylb::health {

struct ProbeResult {
  ProbeResult() = default;
  ProbeResult(bool passed, std::string why, std::optional<uint32_t> dynamicWeight = std::nullopt)
      : ok(passed), reason(std::move(why)), weight(dynamicWeight) {}

  bool ok = false;
  // Short and operator-readable: "connected", "status 200", "connection refused",
  // "connect timeout", "response timeout", "status 503", "body mismatch", "reset", ...
  std::string reason;
  // Set by a check that also decides the RS's weight (misc with misc_dynamic): the weight
  // to use while it is up, instead of the configured one.
  std::optional<uint32_t> weight;
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

  // Starts one probe of `target` (of a check.kind this Prober handles). Calls `done` exactly once,
  // on the io thread, never from inside start(), and at most `timeout` after start() (plus the io
  // thread's own latency). A probe may outlive the Prober; it then still calls `done`.
  virtual void start(const Target& target, std::chrono::nanoseconds timeout, Callback done) = 0;
};

}  // namespace anylb::health
