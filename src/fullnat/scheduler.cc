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
inline uint64_t connOverhead(std::span<const uint32_t> active, std::span<const uint32_t> inactive,
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

// Per-RS view of one pick's inputs; a count or flag missing from a short span reads as 0.
struct View {
  const SchedulerPlan& plan;
  const SchedInput& in;

  [[nodiscard]] uint32_t size() const { return plan.size(); }
  [[nodiscard]] uint32_t weight(uint32_t rs) const { return plan.weight(rs); }
  [[nodiscard]] uint64_t active(uint32_t rs) const {
    return rs < in.active.size() ? in.active[rs] : 0;
  }
  [[nodiscard]] uint64_t overhead(uint32_t rs) const {
    return connOverhead(in.active, in.inactive, rs);
  }
  [[nodiscard]] bool overloaded(uint32_t rs) const {
    return rs < in.overloaded.size() && in.overloaded[rs] != 0;
  }
  // IPVS's "available": weight > 0 and not IP_VS_DEST_F_OVERLOAD.
  [[nodiscard]] bool available(uint32_t rs) const {
    return rs < size() && weight(rs) > 0 && !overloaded(rs);
  }
};

int32_t pickRr(const View& v, SchedulerState& state) {
  const int64_t n = v.size();
  // A cursor left over from a larger plan (the snapshot changed) restarts at the first RS.
  const int64_t from = state.cursor >= 0 && state.cursor < n ? state.cursor : -1;
  for (int64_t k = 1; k <= n; ++k) {
    const int64_t rs = (from + k) % n;
    if (v.available(static_cast<uint32_t>(rs))) {
      state.cursor = static_cast<int32_t>(rs);
      return state.cursor;
    }
  }
  return SchedulerState::kOverloaded;  // some RS has weight > 0 (pick() checked): overloaded
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
//
// Overloaded RS are skipped, as ip_vs_wrr.c skips IP_VS_DEST_F_OVERLOAD. IPVS then walks whole
// passes that pick nothing until cw comes down to the weight of an available RS; here cw is
// lowered to the largest available weight at the wrap instead (the same sequence of picks,
// without up to maxWeight/gcd empty passes per connection).
int32_t pickWrr(const View& v, uint32_t maxWeight, uint32_t gcdWeight, SchedulerState& state) {
  const int64_t n = v.size();
  uint32_t maxAvailable = maxWeight;
  if (!v.in.overloaded.empty()) {
    maxAvailable = 0;
    for (uint32_t rs = 0; rs < n; ++rs) {
      if (v.available(rs)) maxAvailable = std::max(maxAvailable, v.weight(rs));
    }
    if (maxAvailable == 0) return SchedulerState::kOverloaded;
  }
  int64_t rs = state.cursor >= 0 && state.cursor < n ? state.cursor : -1;
  uint32_t cw = std::min(static_cast<uint32_t>(state.currentWeight), maxWeight);
  // Bounded: within n steps the walk wraps, after which cw is in [1, maxAvailable] and the
  // available RS of that weight qualifies within n more.
  for (int64_t step = 0; step <= 2 * n; ++step) {
    rs = rs + 1 == n ? 0 : rs + 1;
    if (rs == 0) {
      cw = cw <= gcdWeight ? maxWeight : cw - gcdWeight;
      cw = std::min(cw, maxAvailable);
    }
    const auto r = static_cast<uint32_t>(rs);
    if (v.available(r) && v.weight(r) >= cw) {
      state.cursor = static_cast<int32_t>(rs);
      state.currentWeight = static_cast<int32_t>(cw);
      return state.cursor;
    }
  }
  return SchedulerState::kOverloaded;  // unreachable while maxAvailable > 0
}

int32_t pickLc(const View& v) {
  int32_t least = SchedulerState::kOverloaded;
  uint64_t leastOverhead = 0;
  for (uint32_t rs = 0; rs < v.size(); ++rs) {
    if (!v.available(rs)) continue;
    const uint64_t doh = v.overhead(rs);
    if (least < 0 || doh < leastOverhead) {  // ties keep the lower index
      least = static_cast<int32_t>(rs);
      leastOverhead = doh;
    }
  }
  return least;
}

// Minimises load / weight by cross-multiplying, as LVS's ip_vs_wlc.c (load = overhead), ip_vs_sed.c
// and ip_vs_nq.c (load = active + 1) do. LVS does it in 64 bit because its weights fit in 16;
// ours are 32 bit, and 2^41 * 2^32 needs 128. Ties keep the lower index (the first in IPVS's
// list). `load(rs)` gives an RS's load.
template <typename Load>
int32_t pickLeastPerWeight(const View& v, Load load) {
  using Wide = unsigned __int128;
  int32_t least = SchedulerState::kOverloaded;
  uint64_t leastLoad = 0;
  uint32_t leastWeight = 0;
  for (uint32_t rs = 0; rs < v.size(); ++rs) {
    if (!v.available(rs)) continue;
    const uint32_t weight = v.weight(rs);
    const uint64_t doh = load(rs);
    if (least < 0 || Wide{doh} * leastWeight < Wide{leastLoad} * weight) {
      least = static_cast<int32_t>(rs);
      leastLoad = doh;
      leastWeight = weight;
    }
  }
  return least;
}

int32_t pickWlc(const View& v) {
  return pickLeastPerWeight(v, [&](uint32_t rs) { return v.overhead(rs); });
}

// Shortest expected delay (ip_vs_sed.c): minimises (active + 1) / weight; inactive sessions do
// not count.
int32_t pickSed(const View& v) {
  return pickLeastPerWeight(v, [&](uint32_t rs) { return v.active(rs) + 1; });
}

// Never queue (ip_vs_nq.c): the first available RS with no active session, else sed.
int32_t pickNq(const View& v) {
  for (uint32_t rs = 0; rs < v.size(); ++rs) {
    if (v.available(rs) && v.active(rs) == 0) return static_cast<int32_t>(rs);
  }
  return pickSed(v);
}

// Weighted failover (ip_vs_fo.c): the available RS of the highest weight; ties keep the first.
int32_t pickFo(const View& v) {
  int32_t best = SchedulerState::kOverloaded;
  for (uint32_t rs = 0; rs < v.size(); ++rs) {
    if (v.available(rs) && (best < 0 || v.weight(rs) > v.weight(static_cast<uint32_t>(best)))) {
      best = static_cast<int32_t>(rs);
    }
  }
  return best;
}

// Weighted overflow (ip_vs_ovf.c): the available RS of the highest weight whose active sessions
// do not exceed its weight (IPVS skips active > weight, so an RS with exactly `weight` active
// sessions still gets one more); ties keep the first.
int32_t pickOvf(const View& v) {
  int32_t best = SchedulerState::kOverloaded;
  for (uint32_t rs = 0; rs < v.size(); ++rs) {
    if (!v.available(rs) || v.active(rs) > v.weight(rs)) continue;
    if (best < 0 || v.weight(rs) > v.weight(static_cast<uint32_t>(best))) {
      best = static_cast<int32_t>(rs);
    }
  }
  return best;
}

// How many other RS a fallback tries by re-hashing before it takes the first available one in
// order (IPVS tries every bucket of its 256-entry table; a bound keeps a pick's work fixed).
constexpr uint32_t kFallbackProbes = 64;

// Source hashing, weighted exactly: the (re-mixed) hash picks a point in [0, sum of weights)
// and the RS whose weight interval holds it wins. O(N) per pick like lc, with no table: the
// plan has no field for one (see maglevTable()). The hash is mixed again so that a weak caller
// hash (say, the IPv4 address itself) still spreads evenly; same hash, same plan -> same RS.
// An RS of weight 0 is out of the hash (health checks set weight 0, so its clients move); an
// overloaded RS refuses the connection unless the plan has the fallback flag, which re-hashes
// as ip_vs_sh.c's sh-fallback does (so the overloaded RS's clients spread over the others and
// everyone else keeps their RS).
// `total`: the sum of the weights (> 0; pick() returned kNone otherwise).
uint32_t shPoint(uint64_t key, const View& v, uint64_t total) {
  if (total == 0) return 0;
  uint64_t point = mix64(key) % total;
  for (uint32_t rs = 0; rs < v.size(); ++rs) {
    const uint32_t weight = v.weight(rs);
    if (point < weight) return rs;
    point -= weight;
  }
  return 0;  // unreachable: point < total
}

// The first available RS in order, or kOverloaded: the end of a fallback's search.
int32_t firstAvailable(const View& v) {
  for (uint32_t rs = 0; rs < v.size(); ++rs) {
    if (v.available(rs)) return static_cast<int32_t>(rs);
  }
  return SchedulerState::kOverloaded;
}

int32_t pickSh(const View& v, uint32_t flowHash) {
  uint64_t total = 0;
  for (uint32_t rs = 0; rs < v.size(); ++rs) total += v.weight(rs);
  const uint32_t rs = shPoint(flowHash, v, total);
  if (!v.overloaded(rs)) return static_cast<int32_t>(rs);
  if (!v.plan.hashFallback()) return SchedulerState::kOverloaded;
  for (uint32_t k = 1; k <= kFallbackProbes; ++k) {
    const uint32_t other = shPoint(uint64_t{flowHash} | uint64_t{k} << 32, v, total);
    if (v.available(other)) return static_cast<int32_t>(other);
  }
  return firstAvailable(v);
}

// Maglev; with mh-fallback, an overloaded RS's flows re-hash into the table (ip_vs_mh.c's
// fallback walks the table from offsets of a second hash the same way).
int32_t pickMh(const View& v, uint32_t flowHash) {
  const auto& table = v.plan.maglevTable();
  const uint32_t rs = table[flowHash % table.size()];
  if (!v.overloaded(rs)) return static_cast<int32_t>(rs);
  if (!v.plan.hashFallback()) return SchedulerState::kOverloaded;
  for (uint32_t k = 1; k <= kFallbackProbes; ++k) {
    const uint32_t other = table[mix64(uint64_t{flowHash} | uint64_t{k} << 32) % table.size()];
    if (v.available(other)) return static_cast<int32_t>(other);
  }
  return firstAvailable(v);
}

// Destination hashing (ip_vs_dh.c): the destination's hash picks one of the RS of weight > 0,
// unweighted (IPVS's table gives every RS the same number of buckets); an overloaded one
// refuses the connection (dh has no fallback flag).
int32_t pickDh(const View& v, uint32_t positive, uint32_t destHash) {
  if (positive == 0) return SchedulerState::kNone;  // not reached: pick() checked the weights
  auto k = static_cast<uint32_t>(mix64(destHash) % positive);
  for (uint32_t rs = 0; rs < v.size(); ++rs) {
    if (v.weight(rs) == 0) continue;
    if (k-- == 0) return v.overloaded(rs) ? SchedulerState::kOverloaded : static_cast<int32_t>(rs);
  }
  return SchedulerState::kOverloaded;  // unreachable: positive RS of weight > 0 exist
}

// ip_vs_lblc.c's is_overloaded(): the RS has more active sessions than its weight while some RS
// of the service has fewer than half its weight.
bool localityOverloaded(const View& v, uint32_t rs) {
  if (v.active(rs) <= v.weight(rs)) return false;
  for (uint32_t d = 0; d < v.size(); ++d) {
    if (v.active(d) * 2 < v.weight(d)) return true;
  }
  return false;
}

// Locality-based least connection (ip_vs_lblc.c): the VIP stays bound to one RS while that RS
// is available and not overloaded in the sense above; otherwise it is bound anew to the wlc
// choice. An entry unused for kLocalityExpiryMs is forgotten.
int32_t pickLblc(const View& v, SchedulerState& st) {
  if (st.hasEntry && v.in.nowMs - st.entryUsedMs > SchedulerState::kLocalityExpiryMs) {
    st.hasEntry = false;
  }
  if (st.hasEntry) {
    st.entryUsedMs = v.in.nowMs;
    const auto rs = static_cast<uint32_t>(st.entryRs);
    if (v.available(rs) && !localityOverloaded(v, rs)) return st.entryRs;
  }
  const int32_t rs = pickWlc(v);
  if (rs < 0) return rs;
  st.hasEntry = true;
  st.entryRs = rs;
  st.entryUsedMs = v.in.nowMs;
  return rs;
}

// The set member of least (overhead / weight), as ip_vs_dest_set_min(): skips overloaded
// members and those of weight 0.
int32_t setMin(const View& v, const SchedulerState& st) {
  using Wide = unsigned __int128;
  int32_t least = -1;
  for (uint32_t rs = 0; rs < v.size() && rs < st.inSet.size(); ++rs) {
    if (st.inSet[rs] == 0 || !v.available(rs)) continue;
    const auto l = static_cast<uint32_t>(least);
    if (least < 0 || Wide{v.overhead(l)} * v.weight(rs) > Wide{v.overhead(rs)} * v.weight(l)) {
      least = static_cast<int32_t>(rs);
    }
  }
  return least;
}

// The set member of most (overhead / weight) among those of weight > 0 (ip_vs_dest_set_max()).
int32_t setMax(const View& v, const SchedulerState& st) {
  using Wide = unsigned __int128;
  int32_t most = -1;
  for (uint32_t rs = 0; rs < v.size() && rs < st.inSet.size(); ++rs) {
    if (st.inSet[rs] == 0 || v.weight(rs) == 0) continue;
    const auto m = static_cast<uint32_t>(most);
    if (most < 0 || Wide{v.overhead(m)} * v.weight(rs) < Wide{v.overhead(rs)} * v.weight(m)) {
      most = static_cast<int32_t>(rs);
    }
  }
  return most;
}

void setInsert(SchedulerState& st, uint32_t rs, uint64_t nowMs) {
  if (rs >= st.inSet.size() || st.inSet[rs] != 0) return;
  st.inSet[rs] = 1;
  ++st.setSize;
  st.setModifiedMs = nowMs;
}

// Locality-based least connection with replication (ip_vs_lblcr.c): the VIP maps to a set of
// RS; a pick takes the set's least loaded member unless it is overloaded (lblc's sense), in
// which case the wlc choice joins the set and is picked. A set of more than one RS that has not
// changed for kLocalityExpiryMs loses its most loaded member. Without prepare() the set cannot
// hold more than the one RS in entryRs and this is lblc.
int32_t pickLblcr(const View& v, SchedulerState& st) {
  if (st.inSet.size() < v.size()) return pickLblc(v, st);
  const uint64_t now = v.in.nowMs;
  if (st.hasEntry && now - st.entryUsedMs > SchedulerState::kLocalityExpiryMs) {
    std::fill(st.inSet.begin(), st.inSet.end(), 0);
    st.setSize = 0;
    st.hasEntry = false;
  }
  if (st.hasEntry) {
    st.entryUsedMs = now;
    const int32_t least = setMin(v, st);
    if (st.setSize > 1 && now - st.setModifiedMs > SchedulerState::kLocalityExpiryMs) {
      const int32_t most = setMax(v, st);
      if (most >= 0) {
        st.inSet[static_cast<uint32_t>(most)] = 0;
        --st.setSize;
        st.setModifiedMs = now;
      }
    }
    if (least >= 0 && !localityOverloaded(v, static_cast<uint32_t>(least))) return least;
  }
  const int32_t rs = pickWlc(v);
  if (rs < 0) return rs;
  if (!st.hasEntry) {
    st.hasEntry = true;
    st.entryUsedMs = now;
  }
  setInsert(st, static_cast<uint32_t>(rs), now);
  return rs;
}

}  // namespace

SchedulerPlan SchedulerPlan::build(config::Scheduler kind, std::span<const SchedTarget> targets,
                                   uint32_t maglevSize, bool hashFallback) {
  SchedulerPlan plan;
  plan.kind_ = kind;
  plan.fallback_ = hashFallback;
  plan.weights_.reserve(targets.size());
  for (const SchedTarget& t : targets) {
    plan.weights_.push_back(t.weight);
    plan.maxWeight_ = std::max(plan.maxWeight_, t.weight);
    plan.gcdWeight_ = std::gcd(plan.gcdWeight_, t.weight);  // gcd(0, w) == w: zeros drop out
    if (t.weight > 0) ++plan.positive_;
  }
  if (kind == Scheduler::kMh && plan.maxWeight_ > 0) {
    plan.maglev_ = buildMaglev(targets, plan.maxWeight_, maglevSize);
  }
  return plan;
}

void SchedulerState::prepare(const SchedulerPlan& plan) {
  if (plan.kind() == config::Scheduler::kLblcr) inSet.assign(plan.size(), 0);
  setSize = 0;
  hasEntry = false;
}

int32_t SchedulerState::pick(const SchedulerPlan& plan, uint32_t flowHash,
                             std::span<const uint32_t> active, std::span<const uint32_t> inactive) {
  SchedInput in;
  in.flowHash = flowHash;
  in.active = active;
  in.inactive = inactive;
  return pick(plan, in);
}

int32_t SchedulerState::pick(const SchedulerPlan& plan, const SchedInput& in) {
  if (plan.maxWeight_ == 0) return kNone;
  const View v{plan, in};
  switch (plan.kind_) {
    case Scheduler::kRr:
      return pickRr(v, *this);
    case Scheduler::kWrr:
      return pickWrr(v, plan.maxWeight_, plan.gcdWeight_, *this);
    case Scheduler::kLc:
      return pickLc(v);
    case Scheduler::kWlc:
      return pickWlc(v);
    case Scheduler::kSh:
      return pickSh(v, in.flowHash);
    case Scheduler::kMh:
      return pickMh(v, in.flowHash);
    case Scheduler::kDh:
      return pickDh(v, plan.positive_, in.destHash);
    case Scheduler::kLblc:
      return pickLblc(v, *this);
    case Scheduler::kLblcr:
      return pickLblcr(v, *this);
    case Scheduler::kSed:
      return pickSed(v);
    case Scheduler::kNq:
      return pickNq(v);
    case Scheduler::kFo:
      return pickFo(v);
    case Scheduler::kOvf:
      return pickOvf(v);
  }
  return kNone;  // not reached: the switch covers every scheduler
}

}  // namespace anylb::fullnat
