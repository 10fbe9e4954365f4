// Real-server schedulers. build() runs on the control thread and may allocate; pick() runs on a
// worker's packet path and neither allocates, locks nor throws.
#include "fullnat/scheduler.h"

#include <algorithm>
#include <numeric>

namespace anylb::fullnat {

namespace {

using config::Scheduler;

constexpr uint32_t kUnclaimed = UINT32_MAX;

// splitmix64's finaliser (Stafford's Mix13): a fixed, platform-independent bijection, so every
// node of the fleet derives the same Maglev permutations from the same RS identities. Never
// std::hash (implementation-defined) and never a random seed.
constexpr uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Distinct seeds so a permutation's offset and skip are two independent hashes of one identity.
constexpr uint64_t kOffsetSeed = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kSkipSeed = 0xc2b2ae3d27d4eb4fULL;

// LVS's connection overhead (ip_vs_dest_conn_overhead): an active session weighs as much as
// 256 inactive ones. 64 bit, since 2^32 active sessions * 256 does not fit in 32. A count
// missing from a short span reads as 0 rather than past its end.
inline uint64_t overhead(std::span<const uint32_t> active, std::span<const uint32_t> inactive,
                         size_t rs) {
  const uint64_t a = rs < active.size() ? active[rs] : 0;
  const uint64_t i = rs < inactive.size() ? inactive[rs] : 0;
  return (a << 8) + i;
}

// Maglev (Eisenbud et al., NSDI 2016, section 3.4) with weights as in Katran's MaglevHashV2:
// the table is filled in rounds; in each round every RS adds its weight to a credit and takes a
// turn (claims the next unclaimed entry of its permutation) when the credit reaches maxWeight.
// Turns, hence entries, are proportional to weight: every RS ends within about one entry of
// M * weight / sum(weights). With equal weights this is the paper's algorithm exactly. RS of
// weight 0 never take a turn. The turn order depends only on the order and weights of the RS,
// so weight 0 builds exactly the table that removing the RS does (up to index renumbering),
// and removing an RS moves few entries it did not own (about 0.6% of M for 100 RS).
// Cost: O(M log M) for equal weights; at worst O(M * N) when one RS outweighs all others.
std::vector<uint32_t> buildMaglev(std::span<const SchedTarget> targets, uint32_t maxWeight,
                                  uint32_t tableSize) {
  // The config only accepts primes in [251, 1000003]; stay well-defined for anything else: a
  // size of 0 becomes 1, and for a composite size the skip is bumped to the next value coprime
  // with it so that every permutation still covers the whole table. For a prime size the bump
  // never happens, so the result is the paper's.
  const uint64_t m = std::max<uint32_t>(tableSize, 1);
  std::vector<uint32_t> table(m, kUnclaimed);

  struct Walker {
    uint32_t rs = 0;
    uint32_t weight = 0;
    uint64_t credit = 0;    // weight accumulated since this RS's last turn
    uint64_t position = 0;  // entry this RS's permutation is at: offset + j * skip (mod M)
    uint64_t skip = 0;
  };
  std::vector<Walker> walkers;
  for (size_t rs = 0; rs < targets.size(); ++rs) {
    const SchedTarget& t = targets[rs];
    if (t.weight == 0) continue;
    uint64_t skip = 1;
    if (m > 1) {
      skip = mix64(t.identity ^ kSkipSeed) % (m - 1) + 1;
      while (std::gcd(skip, m) != 1) skip = skip % (m - 1) + 1;  // ends at 1 at the latest
    }
    walkers.push_back(Walker{.rs = static_cast<uint32_t>(rs),
                             .weight = t.weight,
                             .position = mix64(t.identity ^ kOffsetSeed) % m,
                             .skip = skip});
  }
  if (walkers.empty()) return {};

  // Every round gives the RS of maximum weight a turn, and a turn always claims an entry (its
  // permutation covers the table and the table is not yet full), so this ends after M turns.
  uint64_t claimed = 0;
  for (;;) {
    for (Walker& w : walkers) {
      w.credit += w.weight;
      if (w.credit < maxWeight) continue;
      w.credit -= maxWeight;
      while (table[w.position] != kUnclaimed) {
        w.position += w.skip;
        if (w.position >= m) w.position -= m;
      }
      table[w.position] = w.rs;
      if (++claimed == m) return table;
    }
  }
}

int32_t pickRr(const SchedulerPlan& plan, SchedulerState& state) {
  const int64_t n = plan.size();
  // A cursor left over from a larger plan (the snapshot changed) restarts at the first RS.
  const int64_t from = state.cursor >= 0 && state.cursor < n ? state.cursor : -1;
  for (int64_t k = 1; k <= n; ++k) {
    const int64_t rs = (from + k) % n;
    if (plan.weight(static_cast<uint32_t>(rs)) > 0) {
      state.cursor = static_cast<int32_t>(rs);
      return state.cursor;
    }
  }
  return SchedulerState::kNone;
}

// LVS's interleaved weighted round robin (ip_vs_wrr.c; the classic form from the LVS docs):
// walk the RS in order; each time the walk wraps to RS 0 the current weight cw drops by the
// gcd of the weights, back to the maximum weight once it would reach 0; pick the next RS whose
// weight >= cw. Over a cycle of sum(weights)/gcd picks every RS is picked weight/gcd times,
// interleaved: weights {3,2,1} give A A B A B C.
//
// cw is kept in SchedulerState::currentWeight, an int32_t, as the bit pattern of a uint32_t so
// that the whole uint32_t weight range works. State left over from another plan (the snapshot
// changed) is brought into range first, as ip_vs_wrr_dest_changed() does.
int32_t pickWrr(const SchedulerPlan& plan, uint32_t maxWeight, uint32_t gcdWeight,
                SchedulerState& state) {
  const int64_t n = plan.size();
  int64_t rs = state.cursor >= 0 && state.cursor < n ? state.cursor : -1;
  uint32_t cw = std::min(static_cast<uint32_t>(state.currentWeight), maxWeight);
  // Bounded: within n steps the walk wraps, after which cw is in [1, maxWeight] and the RS of
  // maximum weight qualifies within n more.
  for (int64_t step = 0; step <= 2 * n; ++step) {
    rs = rs + 1 == n ? 0 : rs + 1;
    if (rs == 0) cw = cw <= gcdWeight ? maxWeight : cw - gcdWeight;
    const uint32_t weight = plan.weight(static_cast<uint32_t>(rs));
    if (weight > 0 && weight >= cw) {
      state.cursor = static_cast<int32_t>(rs);
      state.currentWeight = static_cast<int32_t>(cw);
      return state.cursor;
    }
  }
  return SchedulerState::kNone;  // unreachable while maxWeight > 0
}

int32_t pickLc(const SchedulerPlan& plan, std::span<const uint32_t> active,
               std::span<const uint32_t> inactive) {
  int32_t least = SchedulerState::kNone;
  uint64_t leastOverhead = 0;
  for (uint32_t rs = 0; rs < plan.size(); ++rs) {
    if (plan.weight(rs) == 0) continue;
    const uint64_t doh = overhead(active, inactive, rs);
    if (least == SchedulerState::kNone || doh < leastOverhead) {  // ties keep the lower index
      least = static_cast<int32_t>(rs);
      leastOverhead = doh;
    }
  }
  return least;
}

// Minimises overhead / weight by cross-multiplying, as LVS's ip_vs_wlc.c does. LVS does it in
// 64 bit because its weights fit in 16; ours are 32 bit, and 2^41 * 2^32 needs 128.
int32_t pickWlc(const SchedulerPlan& plan, std::span<const uint32_t> active,
                std::span<const uint32_t> inactive) {
  using Wide = unsigned __int128;
  int32_t least = SchedulerState::kNone;
  uint64_t leastOverhead = 0;
  uint32_t leastWeight = 0;
  for (uint32_t rs = 0; rs < plan.size(); ++rs) {
    const uint32_t weight = plan.weight(rs);
    if (weight == 0) continue;
    const uint64_t doh = overhead(active, inactive, rs);
    // doh / weight < leastOverhead / leastWeight; ties keep the lower index.
    if (least == SchedulerState::kNone || Wide{doh} * leastWeight < Wide{leastOverhead} * weight) {
      least = static_cast<int32_t>(rs);
      leastOverhead = doh;
      leastWeight = weight;
    }
  }
  return least;
}

// Source hashing, weighted exactly: the (re-mixed) hash picks a point in [0, sum of weights)
// and the RS whose weight interval holds it wins. O(N) per pick like lc, with no table: the
// plan has no field for one (see maglevTable()). The hash is mixed again so that a weak caller
// hash (say, the IPv4 address itself) still spreads evenly; same hash, same plan -> same RS.
int32_t pickSh(const SchedulerPlan& plan, uint32_t flowHash) {
  uint64_t total = 0;
  for (uint32_t rs = 0; rs < plan.size(); ++rs) total += plan.weight(rs);
  if (total == 0) return SchedulerState::kNone;
  uint64_t point = mix64(flowHash) % total;
  for (uint32_t rs = 0; rs < plan.size(); ++rs) {
    const uint32_t weight = plan.weight(rs);
    if (point < weight) return static_cast<int32_t>(rs);
    point -= weight;
  }
  return SchedulerState::kNone;  // unreachable: point < total
}

}  // namespace

SchedulerPlan SchedulerPlan::build(config::Scheduler kind, std::span<const SchedTarget> targets,
                                   uint32_t maglevSize) {
  SchedulerPlan plan;
  plan.kind_ = kind;
  plan.weights_.reserve(targets.size());
  for (const SchedTarget& t : targets) {
    plan.weights_.push_back(t.weight);
    plan.maxWeight_ = std::max(plan.maxWeight_, t.weight);
    plan.gcdWeight_ = std::gcd(plan.gcdWeight_, t.weight);  // gcd(0, w) == w: zeros drop out
  }
  if (kind == Scheduler::kMh && plan.maxWeight_ > 0) {
    plan.maglev_ = buildMaglev(targets, plan.maxWeight_, maglevSize);
  }
  return plan;
}

int32_t SchedulerState::pick(const SchedulerPlan& plan, uint32_t flowHash,
                             std::span<const uint32_t> active, std::span<const uint32_t> inactive) {
  if (plan.maxWeight_ == 0) return kNone;
  switch (plan.kind_) {
    case Scheduler::kRr:
      return pickRr(plan, *this);
    case Scheduler::kWrr:
      return pickWrr(plan, plan.maxWeight_, plan.gcdWeight_, *this);
    case Scheduler::kLc:
      return pickLc(plan, active, inactive);
    case Scheduler::kWlc:
      return pickWlc(plan, active, inactive);
    case Scheduler::kSh:
      return pickSh(plan, flowHash);
    case Scheduler::kMh:
      return static_cast<int32_t>(plan.maglev_[flowHash % plan.maglev_.size()]);
    default:  // the validator refuses the schedulers not built yet
      return kNone;
  }
  return kNone;
}

}  // namespace anylb::fullnat
