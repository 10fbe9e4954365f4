// Per-worker session table: a preallocated pool of sessions, one index holding every session
// twice (under its inbound and its outbound key), and a timer wheel for idle expiry.
//
// Owned and used by one worker thread only: no locks. No allocation after construction; a full
// pool makes allocate() fail, which refuses the new connection and nothing else.
//
// Index: open addressing over 64-byte buckets of 7 slots (hash signature + session index with
// the key's direction in bit 0). A bucket that had to pass an entry on to the next bucket
// counts it in `overflow`; lookups stop at the first bucket whose overflow is 0, and removal
// decrements the counts it incremented, so probe lengths do not grow with churn.
//
// Timers: a wheel of 4096 slots of 1024 ms (~70 minutes per turn). A packet only moves a
// session's `expires` forward (one store); the session stays in the slot it was filed in, and
// when that slot comes due it is either expired or re-filed under its new expiry.
//
// Time: the table runs on the dataplane's 64-bit millisecond clock (common/tsc_clock.h),
// handed in by advance()/expire(). A session keeps the low 32 bits of its deadline
// (`expires`), compared with wrap-safe differences: a deadline is never more than a day (the
// largest timeout) from now, and every session is looked at at least once per wheel turn. Wheel
// ticks are counted in 64 bits, so nothing stops when the low 32 bits of the clock wrap (49.7
// days).
//
// Hash: keyed with a per-table random secret (common/keyed_hash.h), so tuples an attacker
// chooses cannot be made to share buckets.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/huge_alloc.h"
#include "common/keyed_hash.h"

#include "session/session.h"

namespace anylb::session {

enum class Dir : uint8_t { kIn = 0, kOut = 1 };

// The lookup key of one direction: inbound (CIP, CPORT -> VIP, VPORT) or outbound
// (RIP, RPORT -> LIP, LPORT). Ports in network order.
struct FlowKey {
  Addr src;
  Addr dst;
  uint16_t sport;
  uint16_t dport;
  uint8_t proto;
};

class SessionTable {
 public:
  static constexpr uint32_t kInvalid = UINT32_MAX;
  static constexpr unsigned kSlotsPerBucket = 7;
  static constexpr unsigned kWheelSlots = 4096;
  static constexpr unsigned kTickShift = 10;  // 1 wheel tick = 1024 ms

  // `key` fixes the index hash's secret (tests, benchmarks); by default it is random.
  explicit SessionTable(uint32_t capacity);
  SessionTable(uint32_t capacity, const KeyedHash& hasher);
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  [[nodiscard]] uint32_t capacity() const { return capacity_; }
  [[nodiscard]] uint32_t size() const { return capacity_ - freeCount_; }
  // Bytes of memory held per session of capacity (pool + index), for sizing and the docs.
  [[nodiscard]] size_t bytesPerSession() const;

  [[nodiscard]] uint32_t hash(const FlowKey& k) const {
    return hasher_.hash(k.src.b, k.dst.b, k.sport, k.dport, k.proto);
  }
  // The same hash for an IPv4 key given as raw addresses (network order).
  [[nodiscard]] uint32_t hash4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                               uint8_t proto) const {
    return hasher_.hash4(src, dst, sport, dport, proto);
  }
  [[nodiscard]] const KeyedHash& hasher() const { return hasher_; }

  // The clock: the worker calls this with the dataplane's time (ms) before it works on the
  // table. Deadlines given to touch() and found in `expires` are read relative to it.
  void advance(uint64_t nowMs) {
    nowMs_ = nowMs;
    start();
  }
  [[nodiscard]] uint64_t nowMs() const { return nowMs_; }
  // Counts every insert and removal: a burst that looked entries up before a change compares
  // this to know its lookups may be stale.
  [[nodiscard]] uint64_t changes() const { return changes_; }

  // The bucket a hash lives in (Lemire's multiply-shift onto any bucket count: the hash's
  // high bits choose it; the whole hash is the signature), and the next one when probing.
  [[nodiscard]] uint32_t home(uint32_t hash) const {
    return static_cast<uint32_t>((uint64_t{hash} * bucketCount_) >> 32);
  }
  [[nodiscard]] uint32_t next(uint32_t b) const { return b + 1 == bucketCount_ ? 0 : b + 1; }
  void prefetch(uint32_t hash) const { __builtin_prefetch(&buckets_[home(hash)]); }
  // First index slot whose signature matches (a candidate to prefetch and verify), or kInvalid.
  [[nodiscard]] uint32_t find(uint32_t hash, Dir dir, const FlowKey& key) const;

  // Burst pipelining: candidate() reads only the (prefetched) home bucket and names the first
  // session whose signature and direction match, so the caller can prefetch it; resolve()
  // then gives the answer find() would: it verifies the candidate and searches on when the
  // candidate was a false match or the entry may sit in a later bucket (kProbe).
  static constexpr uint32_t kProbe = UINT32_MAX - 1;
  [[nodiscard]] uint32_t candidate(uint32_t hash, Dir dir) const {
    const Bucket& bk = buckets_[home(hash)];
    for (unsigned i = 0; i < kSlotsPerBucket; ++i) {
      const uint32_t e = bk.entry[i];
      if (bk.sig[i] == hash && e != kEmpty && (e & 1U) == static_cast<uint32_t>(dir)) {
        return e >> 1;
      }
    }
    return bk.overflow == 0 ? kInvalid : kProbe;
  }
  [[nodiscard]] uint32_t resolve(uint32_t candidate, uint32_t hash, Dir dir,
                                 const FlowKey& key) const {
    if (candidate == kInvalid) return kInvalid;
    if (candidate != kProbe && matches(pool_[candidate], dir, key)) return candidate;
    return find(hash, dir, key);
  }
  void prefetchSession(uint32_t idx) const {
    __builtin_prefetch(&pool_[idx]);
    __builtin_prefetch(reinterpret_cast<const char*>(&pool_[idx]) + 64);
  }

  [[nodiscard]] uint32_t indexOf(const Session& s) const {
    return static_cast<uint32_t>(&s - &pool_[0]);
  }
  Session& at(uint32_t idx) { return pool_[idx]; }
  [[nodiscard]] const Session& at(uint32_t idx) const { return pool_[idx]; }

  // Takes a free session (fields undefined), or kInvalid when the pool is full.
  uint32_t allocate();
  // Indexes a filled-in session under both keys and files it in the timer wheel. Returns false
  // (and frees it) if either key is already present.
  bool insert(uint32_t idx);
  // Unindexes, unfiles and frees a session.
  void remove(uint32_t idx);
  // Sets a session's expiry (dataplane ms). Later expiries cost one store (the session is
  // re-filed when its old slot comes due); an earlier one (a RST shortening the timeout)
  // re-files it now.
  void touch(uint32_t idx, uint64_t expiresMs) {
    Session& s = pool_[idx];
    s.expires = static_cast<uint32_t>(expiresMs);
    if (static_cast<int32_t>(static_cast<uint32_t>(expiresMs >> kTickShift) - s.timerTick) < 0) {
      wheelUnlink(idx);
      wheelLink(idx);
    }
  }
  // A session's deadline as a full clock value, from the low 32 bits it keeps.
  [[nodiscard]] uint64_t deadlineOf(const Session& s) const {
    const auto ahead = static_cast<int32_t>(s.expires - static_cast<uint32_t>(nowMs_));
    return nowMs_ + static_cast<uint64_t>(static_cast<int64_t>(ahead));
  }

  // Returns an allocated session that was never inserted.
  void discard(uint32_t idx) { release(idx); }

  // Calls fn(index) for every live session. fn may remove that session. Control operations
  // only (flush): it walks the whole index.
  template <typename Fn>
  void forEach(Fn&& fn) {
    for (uint32_t b = 0; b < bucketCount_; ++b) {
      for (const uint32_t e : buckets_[b].entry) {
        if (e != kEmpty && (e & 1U) == static_cast<uint32_t>(Dir::kIn)) fn(e >> 1);
      }
    }
  }

  // Expires sessions whose `expires` is due at `nowMs`, at most `budget` of them, calling
  // onExpire(Session&) before each is freed. Returns how many were expired. Also advance()s.
  template <typename OnExpire>
  uint32_t expire(uint64_t nowMs, uint32_t budget, OnExpire&& onExpire);

  // Checks every structural invariant (tests and the fuzz target; walks everything): free +
  // live = capacity, no index twice on the free list, every live session under both keys and
  // on exactly one wheel list (the one its timerTick names), overflow counts equal to a
  // recount. Returns an empty string, or the first violation found.
  [[nodiscard]] std::string checkInvariants() const;

  static FlowKey inboundKey(const Session& s);
  static FlowKey outboundKey(const Session& s);

  // Incremental walk (session listings), so that a listing never holds up the packet loop for
  // longer than one step: calls fn(index) for every live session (once, by its inbound entry)
  // in index buckets [cursor, cursor + buckets), and returns the cursor of the next step, or
  // kWalkDone when the whole index has been walked. Start at cursor 0. fn must not insert or
  // remove. Between steps the table may change freely: an entry never moves from the bucket
  // it was inserted into, so a session is visited at most once per walk; one that lives
  // through the whole walk is visited exactly once; one inserted or removed meanwhile may or
  // may not be.
  static constexpr uint32_t kWalkDone = UINT32_MAX;
  [[nodiscard]] uint32_t bucketCount() const { return bucketCount_; }
  template <typename Fn>
  uint32_t forEachStep(uint32_t cursor, uint32_t buckets, Fn&& fn) const {
    const uint64_t end = std::min<uint64_t>(uint64_t{cursor} + buckets, bucketCount_);
    for (uint64_t b = cursor; b < end; ++b) {
      for (const uint32_t e : buckets_[b].entry) {
        if (e != kEmpty && (e & 1U) == static_cast<uint32_t>(Dir::kIn)) fn(e >> 1);
      }
    }
    return end >= bucketCount_ ? kWalkDone : static_cast<uint32_t>(end);
  }

 private:
  struct alignas(64) Bucket {
    uint32_t sig[kSlotsPerBucket];
    uint32_t overflow;
    uint32_t entry[kSlotsPerBucket];  // (session index << 1) | dir, or kEmpty
    uint32_t pad;
  };
  static_assert(sizeof(Bucket) == 64);
  static constexpr uint32_t kEmpty = UINT32_MAX;

  static bool matches(const Session& s, Dir dir, const FlowKey& k);
  bool indexInsert(uint32_t hash, uint32_t entry);
  void indexRemove(uint32_t hash, uint32_t entry);
  void wheelLink(uint32_t idx);
  // The wheel starts at the clock's first value (advance(), or the first session filed).
  void start() {
    if (!started_) {
      wheelTick_ = nowMs_ >> kTickShift;
      started_ = true;
    }
  }
  void wheelUnlink(uint32_t idx);
  void release(uint32_t idx);

  KeyedHash hasher_;
  uint32_t capacity_;
  uint32_t freeCount_;
  uint32_t bucketCount_;
  HugeArray<Session> pool_;
  HugeArray<Bucket> buckets_;
  std::unique_ptr<uint32_t[]> freeList_;
  std::unique_ptr<uint32_t[]> wheel_;  // list heads
  // Next tick to process (64-bit: never wraps). Set from the clock by the first advance().
  uint64_t wheelTick_ = 0;
  uint64_t nowMs_ = 0;
  uint64_t changes_ = 0;
  bool started_ = false;
};

template <typename OnExpire>
uint32_t SessionTable::expire(uint64_t nowMs, uint32_t budget, OnExpire&& onExpire) {
  advance(nowMs);
  const uint64_t nowTick = nowMs >> kTickShift;
  const auto now32 = static_cast<uint32_t>(nowMs);
  uint32_t expired = 0;
  // Only ticks that have fully elapsed; at most one turn of the wheel per call (after a jump of
  // the clock the wheel catches up over the next calls; every slot is seen in the first).
  for (unsigned turns = 0; wheelTick_ < nowTick && turns < kWheelSlots; ++turns) {
    const uint32_t slot = wheelTick_ & (kWheelSlots - 1);
    uint32_t idx = wheel_[slot];
    wheel_[slot] = kInvalid;  // detach the list; survivors are re-filed below
    while (idx != kInvalid) {
      Session& s = pool_[idx];
      const uint32_t next = s.timerNext;
      if (expired == budget) {
        // Out of budget: put the rest back and resume here next time.
        while (idx != kInvalid) {
          const uint32_t n = pool_[idx].timerNext;
          wheelLink(idx);
          idx = n;
        }
        return expired;
      }
      if (static_cast<int32_t>(s.expires - now32) <= 0) {
        onExpire(s);
        s.timerPrev = kInvalid;  // already detached from the wheel
        s.timerNext = kInvalid;
        indexRemove(hash(inboundKey(s)), (idx << 1) | static_cast<uint32_t>(Dir::kIn));
        indexRemove(hash(outboundKey(s)), (idx << 1) | static_cast<uint32_t>(Dir::kOut));
        release(idx);
        ++changes_;
        ++expired;
      } else {
        wheelLink(idx);
      }
      idx = next;
    }
    ++wheelTick_;
  }
  return expired;
}

}  // namespace anylb::session
