// Real-server schedulers: rr, wrr, lc, wlc, sh, mh (Maglev with weights).
//
// Split like the rest of the dataplane: a SchedulerPlan is built on the control thread when a
// forwarding snapshot is built (it may allocate: the Maglev lookup table, the wrr parameters)
// and is then read-only and shared by every worker. SchedulerState is per worker and per
// service, mutable, touched only by its worker. pick() runs on the packet path: no allocation,
// no locks, no exceptions.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "common/crc.h"
#include "config/config.h"
#include "session/session_table.h"

namespace anylb::fullnat {

// The flow hash Maglev (mh) picks by: CRC32-C with a fixed seed, identical on every node of
// the fleet and across restarts, so that ECMP moving a flow between nodes keeps its RS. Not
// keyed (an attacker can aim flows at one RS, as with any consistent hash); the session index
// uses the keyed hash instead.
inline uint32_t fleetFlowHash(const session::FlowKey& k) {
  uint64_t s[2];
  uint64_t d[2];
  std::memcpy(s, k.src.b, 16);
  std::memcpy(d, k.dst.b, 16);
  uint32_t h = 0x9E3779B9;
  for (const uint64_t w : {s[0], s[1], d[0], d[1]}) h = crc64(w, h);
  return crc64(uint64_t{k.sport} | uint64_t{k.dport} << 16 | uint64_t{k.proto} << 32, h);
}

// One real server as the scheduler sees it; its position in the span is its index.
struct SchedTarget {
  uint32_t weight = 0;    // effective weight: configured weight, or 0 when quiescent/failed
  uint64_t identity = 0;  // stable per (address, port): seeds Maglev permutations, so every
                          // node of the fleet builds the same table from the same RS set
};

class SchedulerPlan {
 public:
  // `maglevSize` must be prime (the config validates it); used only by kMh.
  static SchedulerPlan build(config::Scheduler kind, std::span<const SchedTarget> targets,
                             uint32_t maglevSize = 65537);

  [[nodiscard]] config::Scheduler kind() const { return kind_; }
  [[nodiscard]] uint32_t size() const { return static_cast<uint32_t>(weights_.size()); }
  [[nodiscard]] uint32_t weight(uint32_t rs) const { return weights_[rs]; }
  // Maglev lookup table (entries are RS indexes); empty unless kind() == kMh and some RS has
  // weight > 0.
  [[nodiscard]] const std::vector<uint32_t>& maglevTable() const { return maglev_; }

 private:
  friend struct SchedulerState;
  config::Scheduler kind_ = config::Scheduler::kRr;
  std::vector<uint32_t> weights_;
  std::vector<uint32_t> maglev_;
  uint32_t maxWeight_ = 0;
  uint32_t gcdWeight_ = 0;
};

// Per worker, per service.
struct SchedulerState {
  static constexpr int32_t kNone = -1;

  // Picks an RS index, or kNone when no RS has weight > 0.
  // `flowHash`: for sh, a hash of the client address; for mh, a hash of the flow (the caller
  // decides what a flow is). Ignored by the others.
  // `active`: this worker's per-RS count of active (established) sessions for lc/wlc, and
  // `inactive` the other sessions; LVS weighs them as active*256 + inactive. Both spans have
  // plan.size() entries; other schedulers ignore them.
  int32_t pick(const SchedulerPlan& plan, uint32_t flowHash, std::span<const uint32_t> active,
               std::span<const uint32_t> inactive);

  // rr / wrr position (LVS's interleaved weighted round robin: current index and weight).
  int32_t cursor = -1;
  int32_t currentWeight = 0;
};

}  // namespace anylb::fullnat
