#include "session/session_table.h"

#include <bit>

namespace anylb::session {

const char* toString(TcpState s) {
  static constexpr const char* kNames[kTcpStateCount] = {"NONE",      "SYN_RECV",   "ESTABLISHED",
                                                         "FIN_WAIT",  "CLOSE_WAIT", "LAST_ACK",
                                                         "TIME_WAIT", "CLOSE"};
  return kNames[static_cast<unsigned>(s)];
}

SessionTable::SessionTable(uint32_t capacity)
    : capacity_(capacity),
      freeCount_(capacity),
      // Two index entries per session at <= ~60% slot load.
      bucketMask_(static_cast<uint32_t>(std::bit_ceil(
                      (uint64_t{capacity} * 2 * 10 / 6 + kSlotsPerBucket - 1) / kSlotsPerBucket)) -
                  1),
      pool_(hugeArray<Session>(capacity)),
      buckets_(hugeArray<Bucket>(size_t{bucketMask_} + 1)),
      freeList_(new uint32_t[capacity]),
      wheel_(new uint32_t[kWheelSlots]) {
  for (uint32_t b = 0; b <= bucketMask_; ++b) {
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
  return sizeof(Session) + sizeof(uint32_t) +
         (size_t{bucketMask_} + 1) * sizeof(Bucket) / capacity_;
}

uint32_t SessionTable::hash(const FlowKey& k) {
  // CRC32-C (SSE4.2). Deterministic across processes and nodes, which the Maglev scheduler
  // relies on. IPv4 keys (the last 12 address bytes zero) hash exactly like hash4().
  uint64_t s[2];
  uint64_t d[2];
  std::memcpy(s, k.src.b, 16);
  std::memcpy(d, k.dst.b, 16);
  if (s[1] == 0 && d[1] == 0 && (s[0] >> 32) == 0 && (d[0] >> 32) == 0) {
    return hash4(static_cast<uint32_t>(s[0]), static_cast<uint32_t>(d[0]), k.sport, k.dport,
                 k.proto);
  }
  uint32_t h = kHashSeed6;
  for (const uint64_t w : {s[0], s[1], d[0], d[1]}) h = crc64(w, h);
  const uint64_t tail = uint64_t{k.sport} | (uint64_t{k.dport} << 16) | (uint64_t{k.proto} << 32);
  return crc64(tail, h);
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
  uint32_t b = hash & bucketMask_;
  for (uint32_t probes = 0; probes <= bucketMask_; ++probes) {
    const Bucket& bk = buckets_[b];
    for (unsigned i = 0; i < kSlotsPerBucket; ++i) {
      const uint32_t e = bk.entry[i];
      if (bk.sig[i] == hash && e != kEmpty && (e & 1U) == static_cast<uint32_t>(dir) &&
          matches(pool_[e >> 1], dir, key)) {
        return e >> 1;
      }
    }
    if (bk.overflow == 0) break;
    b = (b + 1) & bucketMask_;
  }
  return kInvalid;
}

bool SessionTable::indexInsert(uint32_t hash, uint32_t entry) {
  uint32_t b = hash & bucketMask_;
  for (uint32_t probes = 0; probes <= bucketMask_; ++probes) {
    Bucket& bk = buckets_[b];
    for (unsigned i = 0; i < kSlotsPerBucket; ++i) {
      if (bk.entry[i] == kEmpty) {
        bk.sig[i] = hash;
        bk.entry[i] = entry;
        return true;
      }
    }
    ++bk.overflow;
    b = (b + 1) & bucketMask_;
  }
  return false;  // unreachable: the index has more slots than the pool can fill
}

void SessionTable::indexRemove(uint32_t hash, uint32_t entry) {
  uint32_t b = hash & bucketMask_;
  for (uint32_t probes = 0; probes <= bucketMask_; ++probes) {
    Bucket& bk = buckets_[b];
    for (uint32_t& slot : bk.entry) {
      if (slot == entry) {
        slot = kEmpty;
        // Undo the overflow counts the insert left in the buckets it passed.
        for (uint32_t p = hash & bucketMask_; p != b; p = (p + 1) & bucketMask_) {
          --buckets_[p].overflow;
        }
        return;
      }
    }
    b = (b + 1) & bucketMask_;
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
  return true;
}

void SessionTable::remove(uint32_t idx) {
  Session& s = pool_[idx];
  wheelUnlink(idx);
  indexRemove(hash(inboundKey(s)), (idx << 1) | static_cast<uint32_t>(Dir::kIn));
  indexRemove(hash(outboundKey(s)), (idx << 1) | static_cast<uint32_t>(Dir::kOut));
  release(idx);
}

void SessionTable::wheelLink(uint32_t idx) {
  Session& s = pool_[idx];
  uint32_t tick = s.expires >> kTickShift;
  // A session due in a tick the wheel has already passed goes to the next one processed.
  if (static_cast<int32_t>(tick - wheelTick_) < 0) tick = wheelTick_;
  const uint32_t slot = tick & (kWheelSlots - 1);
  s.timerTick = tick;
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

}  // namespace anylb::session
