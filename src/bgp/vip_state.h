// Whether one VIP should be announced, from its health signal over time. Pure logic on an
// injected clock (milliseconds), so the hysteresis is tested in simulated time.
//
//  - Announce once the VIP has been healthy (dataplane alive, enough healthy RS, not drained)
//    for `rise`, and no hold-down is running.
//  - Withdraw at once when it is not: a black hole is worse than a withdrawal.
//  - Every withdrawal starts a hold-down before the next announcement. A withdrawal that comes
//    soon after an announcement (a flap) doubles the hold-down, up to 8 x; a VIP that stays
//    announced for 8 x the base hold-down gets the base back. One flapping check therefore
//    cannot flap routes across the fabric.
//  - Drain: announce with GRACEFUL_SHUTDOWN (65535:0) for `drain`, then withdraw; stay
//    withdrawn until undrained.
#pragma once

#include <algorithm>
#include <cstdint>

namespace anylb::bgp {

enum class VipAnnounce : uint8_t { kWithdrawn, kAnnounced, kGracefulShutdown };
const char* toString(VipAnnounce a);

class VipState {
 public:
  VipState(uint64_t riseMs, uint64_t holdDownMs, uint64_t drainMs)
      : riseMs_(riseMs), baseHoldMs_(holdDownMs), holdMs_(holdDownMs), drainMs_(drainMs) {}

  // Feeds the current signal; returns what should be announced now.
  VipAnnounce update(bool healthy, uint64_t nowMs);
  void drain(bool on, uint64_t nowMs);
  // A reload: new timers; the state and any hold-down in progress stay.
  void setTimers(uint64_t riseMs, uint64_t holdDownMs, uint64_t drainMs) {
    riseMs_ = riseMs;
    baseHoldMs_ = holdDownMs;
    holdMs_ = std::max(holdMs_, holdDownMs);
    drainMs_ = drainMs;
  }
  [[nodiscard]] VipAnnounce current() const { return current_; }
  [[nodiscard]] uint64_t holdDownMs() const { return holdMs_; }
  [[nodiscard]] bool drained() const { return draining_; }

 private:
  uint64_t riseMs_;
  uint64_t baseHoldMs_;
  uint64_t holdMs_;
  uint64_t drainMs_;
  VipAnnounce current_ = VipAnnounce::kWithdrawn;
  bool healthySinceValid_ = false;
  uint64_t healthySince_ = 0;
  bool withdrawnOnce_ = false;
  uint64_t withdrawnAt_ = 0;
  uint64_t announcedAt_ = 0;
  bool draining_ = false;
  uint64_t drainStart_ = 0;
};

}  // namespace anylb::bgp
