// The dataplane's one clock: monotonic milliseconds as a 64-bit count, from a cycle counter.
//
// Every dataplane timer (session expiry, persistence templates, pending next hops, worker
// heartbeats) reads this clock. At 1 ms per unit a uint64_t does not wrap in the life of a
// machine; code that keeps only the low 32 bits of it (a session's `expires`) compares them
// with wrap-safe int32 differences and never holds a deadline more than 2^31 ms (24.8 days)
// away (timeouts are bounded at one day by the config validator).
//
// The conversion never overflows: `(cycles * 1000) / hz` would pass 2^64 after ~71 days at
// 3 GHz and make the clock jump back; whole seconds and the remainder are converted apart.
#pragma once

#include <cstdint>

namespace anylb {

class TscClock {
 public:
  // hz: cycles per second (> 0); start: the cycle count that reads as 0 ms.
  TscClock(uint64_t hz, uint64_t start) : hz_(hz == 0 ? 1 : hz), start_(start) {}
  TscClock() : TscClock(1, 0) {}

  // Milliseconds from `start` to `cycles` (a cycle count not before `start`).
  [[nodiscard]] uint64_t msAt(uint64_t cycles) const {
    const uint64_t d = cycles - start_;
    // (d % hz_) < hz_ < 2^54 for any real clock rate, so the product fits in 64 bits.
    return d / hz_ * 1000 + d % hz_ * 1000 / hz_;
  }
  [[nodiscard]] uint64_t hz() const { return hz_; }

 private:
  uint64_t hz_;
  uint64_t start_;
};

}  // namespace anylb
