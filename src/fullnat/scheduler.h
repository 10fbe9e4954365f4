// Real-server schedulers: every IPVS one (rr, wrr, lc, wlc, sh, dh, lblc, lblcr, sed, nq, fo,
// ovf, and mh as Maglev with weights), with IPVS's overload flag (upper/lower thresholds) and
// the sh/mh flags (fallback, port).
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

// One real server as the scheduler sees it; its position in the span is its index.
struct SchedTarget {
  uint32_t weight = 0;    // effective weight: configured weight, or 0 when quiescent/failed
  uint64_t identity = 0;  // stable per (address, port): seeds Maglev permutations, so every
                          // node of the fleet builds the same table from the same RS set
};

class SchedulerPlan {
 public:
  // `maglevSize` must be prime (the config validates it); used only by kMh. `hashFallback`
  // (sched_flags sh-fallback / mh-fallback): sh and mh skip an overloaded RS for another one
  // instead of refusing the connection.
  static SchedulerPlan build(config::Scheduler kind, std::span<const SchedTarget> targets,
                             uint32_t maglevSize = 65537, bool hashFallback = false);

  [[nodiscard]] config::Scheduler kind() const { return kind_; }
  [[nodiscard]] uint32_t size() const { return static_cast<uint32_t>(weights_.size()); }
  [[nodiscard]] uint32_t weight(uint32_t rs) const { return weights_[rs]; }
  // Maglev lookup table (entries are RS indexes); empty unless kind() == kMh and some RS has
  // weight > 0.
  [[nodiscard]] const std::vector<uint32_t>& maglevTable() const { return maglev_; }
  [[nodiscard]] bool hashFallback() const { return fallback_; }

 private:
  friend struct SchedulerState;
  config::Scheduler kind_ = config::Scheduler::kRr;
  std::vector<uint32_t> weights_;
  std::vector<uint32_t> maglev_;
  uint32_t maxWeight_ = 0;
  uint32_t gcdWeight_ = 0;
  uint32_t positive_ = 0;  // RS of weight > 0 (dh picks among them)
  bool fallback_ = false;
};

// What one pick may look at besides the plan. Spans have plan.size() entries or are empty (an
// empty span reads as all zero / nothing overloaded).
struct SchedInput {
  // sh: a hash of the client address (and port with sh-port); mh: a hash of the flow (the
  // caller decides what a flow is, and adds the port with mh-port).
  uint32_t flowHash = 0;
  // dh: a hash of the destination address IPVS hashes. In FULLNAT that is the VIP, so every
  // connection of a service has the same one (see docs/architecture.md).
  uint32_t destHash = 0;
  // This worker's per-RS counts of active (ESTABLISHED) and inactive sessions: lc, wlc, sed, nq,
  // ovf, lblc, lblcr.
  std::span<const uint32_t> active;
  std::span<const uint32_t> inactive;
  // Per RS, nonzero: IPVS's IP_VS_DEST_F_OVERLOAD (the RS reached its upper threshold and has
  // not yet fallen below its lower one). Every scheduler skips such an RS; sh, mh without
  // fallback and dh refuse the connection when the RS they hash to is overloaded.
  std::span<const uint8_t> overloaded;
  uint64_t nowMs = 0;  // lblc / lblcr entry expiry (dataplane clock, 64 bit)
};

// Per worker, per service.
struct SchedulerState {
  static constexpr int32_t kNone = -1;        // no RS has weight > 0
  static constexpr int32_t kOverloaded = -2;  // some have, but the scheduler refused: every
                                              // candidate was overloaded (or, for ovf, had as
                                              // many active sessions as its weight)
  // IPVS's lblc_expiration / lblcr_expiration default: an lblc/lblcr entry unused this long is
  // forgotten, and an lblcr set unchanged this long loses its most loaded member.
  static constexpr uint64_t kLocalityExpiryMs = 24ULL * 3600 * 1000;

  // Control thread or the worker between bursts (may allocate): sizes what lblcr keeps per RS.
  // Without it an lblcr set holds one RS (lblc's behaviour).
  void prepare(const SchedulerPlan& plan);

  // Picks an RS index, kNone when no RS has weight > 0, or kOverloaded.
  int32_t pick(const SchedulerPlan& plan, const SchedInput& in);

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

  // lblc / lblcr: IPVS keys these tables by destination address; an anylb service has one
  // destination, its VIP, so the table is this one entry (per worker and service).
  bool hasEntry = false;
  int32_t entryRs = -1;        // lblc: the RS the VIP is bound to
  uint64_t entryUsedMs = 0;    // last pick through the entry
  uint64_t setModifiedMs = 0;  // lblcr: last insertion into or removal from the set
  uint32_t setSize = 0;        // lblcr: members
  std::vector<uint8_t> inSet;  // lblcr: per RS, 1 = member (sized by prepare())
};

}  // namespace anylb::fullnat
