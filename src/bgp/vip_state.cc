#include "bgp/vip_state.h"

#include <algorithm>

namespace anylb::bgp {

const char* toString(VipAnnounce a) {
  switch (a) {
    case VipAnnounce::kWithdrawn:
      return "withdrawn";
    case VipAnnounce::kAnnounced:
      return "announced";
    case VipAnnounce::kGracefulShutdown:
      return "draining";
  }
  return "?";
}

void VipState::drain(bool on, uint64_t nowMs) {
  if (on == draining_) return;
  draining_ = on;
  drainStart_ = nowMs;
  if (!on) healthySinceValid_ = false;  // undrained: rise again before announcing
}

VipAnnounce VipState::update(bool healthy, uint64_t nowMs) {
  if (draining_) {
    // Announced with GSHUT while the drain time runs (only if it was announced at all).
    if (current_ != VipAnnounce::kWithdrawn && nowMs - drainStart_ < drainMs_ && healthy) {
      current_ = VipAnnounce::kGracefulShutdown;
    } else {
      current_ = VipAnnounce::kWithdrawn;
    }
    return current_;
  }
  if (!healthy) {
    healthySinceValid_ = false;
    if (current_ != VipAnnounce::kWithdrawn) {
      // A flap: withdrawn soon after it was announced. Back off harder next time.
      if (nowMs - announcedAt_ < 2 * std::max<uint64_t>(holdMs_, riseMs_)) {
        holdMs_ = std::min(holdMs_ * 2, baseHoldMs_ * 8);
      }
      current_ = VipAnnounce::kWithdrawn;
      withdrawnOnce_ = true;
      withdrawnAt_ = nowMs;
    }
    return current_;
  }
  if (!healthySinceValid_) {
    healthySinceValid_ = true;
    healthySince_ = nowMs;
  }
  if (current_ == VipAnnounce::kWithdrawn) {
    const bool risen = nowMs - healthySince_ >= riseMs_;
    const bool held = !withdrawnOnce_ || nowMs - withdrawnAt_ >= holdMs_;
    if (risen && held) {
      current_ = VipAnnounce::kAnnounced;
      announcedAt_ = nowMs;
    }
  } else if (current_ == VipAnnounce::kGracefulShutdown) {
    current_ = VipAnnounce::kAnnounced;  // undrained while still announced
  } else if (nowMs - announcedAt_ >= 8 * baseHoldMs_) {
    holdMs_ = baseHoldMs_;  // stable for long: forgive earlier flaps
  }
  return current_;
}

}  // namespace anylb::bgp
