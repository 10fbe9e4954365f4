#include "session/session_table.h"

#include <bit>
#include <string>
#include <vector>

namespace anylb::session {

const char* toString(TcpState s) {
  static constexpr const char* kNames[kTcpStateCount] = {"NONE",      "SYN_RECV",   "ESTABLISHED",
                                                         "FIN_WAIT",  "CLOSE_WAIT", "LAST_ACK",
                                                         "TIME_WAIT", "CLOSE"};
  return kNames[static_cast<unsigned>(s)];
}

SessionTable::SessionTable(uint32_t capacity) : SessionTable(capacity, KeyedHash::random()) {}

SessionTable::SessionTable(uint32_t capacity, const KeyedHash& hasher)
    : hasher_(hasher),
      capacity_(capacity),
      freeCount_(capacity),
      // Two index entries per session at <= ~60% slot load. Any count, not a power of two:
      // rounding up would nearly double the index at some capacities (512 MiB instead of
      // 290 MiB at 10 M sessions); home() maps a hash onto it with a multiply.
      bucketCount_(static_cast<uint32_t>(std::max<uint64_t>(
          2, (uint64_t{capacity} * 2 * 10 / 6 + kSlotsPerBucket - 1) / kSlotsPerBucket))),
      pool_(hugeArray<Session>(capacity, Prefault::kYes)),
      buckets_(hugeArray<Bucket>(bucketCount_)),
      freeList_(new uint32_t[capacity]),
      wheel_(new uint32_t[kWheelSlots]) {
  for (uint32_t b = 0; b < bucketCount_; ++b) {
    Bucket& bk = buckets_[b];
    bk.overflow = 0;
    for (unsigned i = 0; i < kSlotsPerBucket; ++i) {
      bk.sig[i] = 0;
      bk.entry[i] = kEmpty;
    }
  }
  // Hand out low indexes first: they are the ones most likely still in cache.
  for (uint32_t i = 0; i < capacity; ++i) freeList_[i] = capacity - 1 - i;
  for (unsigned i = 0; i < kWheelSlots; ++i) wheel_[i] = kInvalid;
}

size_t SessionTable::bytesPerSession() const {
  return sizeof(Session) + sizeof(uint32_t) + size_t{bucketCount_} * sizeof(Bucket) / capacity_;
}

FlowKey SessionTable::inboundKey(const Session& s) {
  return FlowKey{s.cip, s.vip, s.cport, s.vport, s.proto};
}

FlowKey SessionTable::outboundKey(const Session& s) {
  return FlowKey{s.rip, s.lip, s.rport, s.lport, s.proto};
}

bool SessionTable::matches(const Session& s, Dir dir, const FlowKey& k) {
  if (s.proto != k.proto) return false;
  if (dir == Dir::kIn) {
    return s.cport == k.sport && s.vport == k.dport && s.cip == k.src && s.vip == k.dst;
  }
  return s.rport == k.sport && s.lport == k.dport && s.rip == k.src && s.lip == k.dst;
}

uint32_t SessionTable::find(uint32_t hash, Dir dir, const FlowKey& key) const {
  uint32_t b = home(hash);
  for (uint32_t probes = 0; probes < bucketCount_; ++probes) {
    const Bucket& bk = buckets_[b];
    for (unsigned i = 0; i < kSlotsPerBucket; ++i) {
      const uint32_t e = bk.entry[i];
      if (bk.sig[i] == hash && e != kEmpty && (e & 1U) == static_cast<uint32_t>(dir) &&
          matches(pool_[e >> 1], dir, key)) {
        return e >> 1;
      }
    }
    if (bk.overflow == 0) break;
    b = next(b);
  }
  return kInvalid;
}

bool SessionTable::indexInsert(uint32_t hash, uint32_t entry) {
  uint32_t b = home(hash);
  for (uint32_t probes = 0; probes < bucketCount_; ++probes) {
    Bucket& bk = buckets_[b];
    for (unsigned i = 0; i < kSlotsPerBucket; ++i) {
      if (bk.entry[i] == kEmpty) {
        bk.sig[i] = hash;
        bk.entry[i] = entry;
        return true;
      }
    }
    ++bk.overflow;
    b = next(b);
  }
  return false;  // unreachable: the index has more slots than the pool can fill
}

void SessionTable::indexRemove(uint32_t hash, uint32_t entry) {
  uint32_t b = home(hash);
  for (uint32_t probes = 0; probes < bucketCount_; ++probes) {
    Bucket& bk = buckets_[b];
    for (uint32_t& slot : bk.entry) {
      if (slot == entry) {
        slot = kEmpty;
        // Undo the overflow counts the insert left in the buckets it passed.
        for (uint32_t p = home(hash); p != b; p = next(p)) {
          --buckets_[p].overflow;
        }
        return;
      }
    }
    b = next(b);
  }
}

uint32_t SessionTable::allocate() {
  if (freeCount_ == 0) return kInvalid;
  return freeList_[--freeCount_];
}

void SessionTable::release(uint32_t idx) {
  freeList_[freeCount_++] = idx;
}

bool SessionTable::insert(uint32_t idx) {
  Session& s = pool_[idx];
  const FlowKey in = inboundKey(s);
  const FlowKey out = outboundKey(s);
  const uint32_t hin = hash(in);
  const uint32_t hout = hash(out);
  if (find(hin, Dir::kIn, in) != kInvalid || find(hout, Dir::kOut, out) != kInvalid) {
    release(idx);
    return false;
  }
  indexInsert(hin, (idx << 1) | static_cast<uint32_t>(Dir::kIn));
  indexInsert(hout, (idx << 1) | static_cast<uint32_t>(Dir::kOut));
  wheelLink(idx);
  ++changes_;
  return true;
}

void SessionTable::remove(uint32_t idx) {
  Session& s = pool_[idx];
  wheelUnlink(idx);
  indexRemove(hash(inboundKey(s)), (idx << 1) | static_cast<uint32_t>(Dir::kIn));
  indexRemove(hash(outboundKey(s)), (idx << 1) | static_cast<uint32_t>(Dir::kOut));
  release(idx);
  ++changes_;
}

void SessionTable::wheelLink(uint32_t idx) {
  start();
  Session& s = pool_[idx];
  uint64_t tick = deadlineOf(s) >> kTickShift;
  // A session due in a tick the wheel has already passed goes to the next one processed.
  if (tick < wheelTick_) tick = wheelTick_;
  const auto slot = static_cast<uint32_t>(tick & (kWheelSlots - 1));
  s.timerTick = static_cast<uint32_t>(tick);  // low bits: compared with wrap-safe differences
  s.timerPrev = kInvalid;
  s.timerNext = wheel_[slot];
  if (s.timerNext != kInvalid) pool_[s.timerNext].timerPrev = idx;
  wheel_[slot] = idx;
}

void SessionTable::wheelUnlink(uint32_t idx) {
  Session& s = pool_[idx];
  if (s.timerNext != kInvalid) pool_[s.timerNext].timerPrev = s.timerPrev;
  if (s.timerPrev != kInvalid) {
    pool_[s.timerPrev].timerNext = s.timerNext;
  } else if (wheel_[s.timerTick & (kWheelSlots - 1)] == idx) {
    wheel_[s.timerTick & (kWheelSlots - 1)] = s.timerNext;
  }
  s.timerNext = kInvalid;
  s.timerPrev = kInvalid;
}

std::string SessionTable::checkInvariants() const {
  std::vector<uint8_t> isFree(capacity_, 0);
  if (freeCount_ > capacity_) return "free count above capacity";
  for (uint32_t i = 0; i < freeCount_; ++i) {
    const uint32_t idx = freeList_[i];
    if (idx >= capacity_) return "free list holds an index beyond the pool";
    if (isFree[idx] != 0) return "session " + std::to_string(idx) + " twice on the free list";
    isFree[idx] = 1;
  }
  // Index: each live session exactly once per direction, found by find(), overflow recounted.
  std::vector<uint8_t> seen(size_t{capacity_} * 2, 0);
  std::vector<uint32_t> overflow(bucketCount_, 0);
  for (uint32_t b = 0; b < bucketCount_; ++b) {
    const Bucket& bk = buckets_[b];
    for (unsigned i = 0; i < kSlotsPerBucket; ++i) {
      const uint32_t e = bk.entry[i];
      if (e == kEmpty) continue;
      const uint32_t idx = e >> 1;
      if (idx >= capacity_) return "index entry beyond the pool";
      if (isFree[idx] != 0) return "free session " + std::to_string(idx) + " still indexed";
      if (seen[e] != 0) return "session " + std::to_string(idx) + " indexed twice";
      seen[e] = 1;
      const Session& s = pool_[idx];
      const auto dir = static_cast<Dir>(e & 1U);
      const FlowKey k = dir == Dir::kIn ? inboundKey(s) : outboundKey(s);
      const uint32_t h = hash(k);
      if (bk.sig[i] != h) return "signature of session " + std::to_string(idx) + " is stale";
      for (uint32_t p = home(h); p != b; p = next(p)) ++overflow[p];
      if (find(h, dir, k) != idx) return "session " + std::to_string(idx) + " not found by key";
    }
  }
  for (uint32_t b = 0; b < bucketCount_; ++b) {
    if (overflow[b] != buckets_[b].overflow) {
      return "overflow count of bucket " + std::to_string(b) + " is wrong";
    }
  }
  // Wheel: every live session on exactly one list, the one its timerTick names, links intact.
  std::vector<uint8_t> filed(capacity_, 0);
  for (uint32_t slot = 0; slot < kWheelSlots; ++slot) {
    uint32_t prev = kInvalid;
    for (uint32_t idx = wheel_[slot]; idx != kInvalid; idx = pool_[idx].timerNext) {
      if (idx >= capacity_) return "wheel link beyond the pool";
      if (isFree[idx] != 0) return "free session " + std::to_string(idx) + " on the wheel";
      if (filed[idx] != 0) return "session " + std::to_string(idx) + " filed twice (or a loop)";
      filed[idx] = 1;
      if (pool_[idx].timerPrev != prev) return "wheel back link broken";
      if ((pool_[idx].timerTick & (kWheelSlots - 1)) != slot) return "session on the wrong slot";
      prev = idx;
    }
  }
  for (uint32_t idx = 0; idx < capacity_; ++idx) {
    if (isFree[idx] != 0) continue;
    if (seen[idx << 1] == 0 || seen[(idx << 1) | 1U] == 0) {
      return "live session " + std::to_string(idx) + " missing from the index";
    }
    if (filed[idx] == 0) return "live session " + std::to_string(idx) + " not on the wheel";
  }
  return {};
}

}  // namespace anylb::session
