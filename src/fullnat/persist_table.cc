// Persistence templates shared by the workers (persist_table.h). Worker threads for lookup and
// store, any thread for forEachLive; no locks, no allocation after construction.
#include "fullnat/persist_table.h"

#include <bit>
#include <cstring>

namespace anylb::fullnat {

namespace {
constexpr auto kRelaxed = std::memory_order_relaxed;
}  // namespace

PersistTable::PersistTable(uint32_t slots, const KeyedHash& hash)
    : hash_(hash),
      mask_(std::bit_ceil(std::max(slots, kWays)) - 1),
      slots_(std::make_unique<Slot[]>(size_t{mask_} + 1)) {}

uint32_t PersistTable::bucketOf(const PersistKey& k) const {
  // The slot index of the bucket's first way.
  const uint32_t h = hash_.hash(k.client.b, k.vip.b, k.vportBe, 0, k.proto);
  return (h * kWays) & mask_;
}

void PersistTable::fill(Copy& c, const PersistKey& k) {
  std::memcpy(c.client, k.client.b, 16);
  std::memcpy(c.vip, k.vip.b, 16);
  c.meta = uint64_t{k.vportBe} | uint64_t{k.proto} << 16 | uint64_t{k.family} << 24;
}

bool PersistTable::sameKey(const Copy& a, const Copy& b) {
  return a.client[0] == b.client[0] && a.client[1] == b.client[1] && a.vip[0] == b.vip[0] &&
         a.vip[1] == b.vip[1] && a.meta == b.meta;
}

bool PersistTable::read(const Slot& s, Copy& out) {
  const uint32_t before = s.seq.load(std::memory_order_acquire);
  if ((before & 1) != 0) return false;
  out.client[0] = s.client[0].load(kRelaxed);
  out.client[1] = s.client[1].load(kRelaxed);
  out.vip[0] = s.vip[0].load(kRelaxed);
  out.vip[1] = s.vip[1].load(kRelaxed);
  out.expires = s.expires.load(kRelaxed);
  out.meta = s.meta.load(kRelaxed);
  out.rsId = s.rsId.load(kRelaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  return s.seq.load(kRelaxed) == before;
}

int64_t PersistTable::lookup(const PersistKey& k, uint64_t nowMs, uint64_t expiresMs) {
  Copy want{};
  fill(want, k);
  const uint32_t first = bucketOf(k);
  for (uint32_t way = 0; way < kWays; ++way) {
    Slot& s = slots_[first + way];
    Copy c{};
    if (!read(s, c) || !c.live(nowMs) || !sameKey(c, want)) continue;
    // Refresh: only the expiry changes, so a plain atomic max would do for the value; the
    // seqlock is taken anyway so that a concurrent store never sees a half-refreshed slot.
    uint32_t seq = s.seq.load(kRelaxed);
    if ((seq & 1) == 0 &&
        s.seq.compare_exchange_strong(seq, seq + 1, std::memory_order_acquire, kRelaxed)) {
      std::atomic_thread_fence(std::memory_order_release);
      Copy now{};
      now.client[0] = s.client[0].load(kRelaxed);
      now.client[1] = s.client[1].load(kRelaxed);
      now.vip[0] = s.vip[0].load(kRelaxed);
      now.vip[1] = s.vip[1].load(kRelaxed);
      now.meta = s.meta.load(kRelaxed);
      if (sameKey(now, want) && s.expires.load(kRelaxed) < expiresMs) {
        s.expires.store(expiresMs, kRelaxed);
      }
      s.seq.store(seq + 2, std::memory_order_release);
    }
    return c.rsId;
  }
  return -1;
}

PersistTable::StoreResult PersistTable::store(const PersistKey& k, uint32_t rsId, uint64_t nowMs,
                                              uint64_t expiresMs) {
  Copy want{};
  fill(want, k);
  const uint32_t first = bucketOf(k);
  // The way to write: one holding this key, else an empty or expired one, else the live one of
  // another key that expires first (a collision).
  uint32_t target = first;
  int rank = 3;  // 0: same key, 1: empty/expired, 2: live other key
  uint64_t soonest = UINT64_MAX;
  for (uint32_t way = 0; way < kWays; ++way) {
    Copy c{};
    if (!read(slots_[first + way], c)) continue;  // being written: try the other way
    int r = 2;
    if (sameKey(c, want) && c.expires != 0) {
      r = 0;
    } else if (!c.live(nowMs)) {
      r = 1;
    }
    if (r < rank || (r == 2 && rank == 2 && c.expires < soonest)) {
      rank = r;
      target = first + way;
      soonest = c.expires;
    }
  }
  StoreResult res;
  if (rank == 3) {
    res.raced = true;
    return res;
  }
  Slot& s = slots_[target];
  uint32_t seq = s.seq.load(kRelaxed);
  if ((seq & 1) != 0 ||
      !s.seq.compare_exchange_strong(seq, seq + 1, std::memory_order_acquire, kRelaxed)) {
    res.raced = true;
    return res;
  }
  std::atomic_thread_fence(std::memory_order_release);
  // The slot is ours: what it holds now is what counts (another worker may have written it
  // between the choice above and the compare-and-swap).
  Copy now{};
  now.client[0] = s.client[0].load(kRelaxed);
  now.client[1] = s.client[1].load(kRelaxed);
  now.vip[0] = s.vip[0].load(kRelaxed);
  now.vip[1] = s.vip[1].load(kRelaxed);
  now.meta = s.meta.load(kRelaxed);
  now.expires = s.expires.load(kRelaxed);
  now.rsId = s.rsId.load(kRelaxed);
  if (now.live(nowMs) && sameKey(now, want)) {
    res.rsId = now.rsId;  // another worker's first connection of this client got here first
  } else {
    res.collision = now.live(nowMs);
    s.client[0].store(want.client[0], kRelaxed);
    s.client[1].store(want.client[1], kRelaxed);
    s.vip[0].store(want.vip[0], kRelaxed);
    s.vip[1].store(want.vip[1], kRelaxed);
    s.meta.store(want.meta, kRelaxed);
    s.expires.store(expiresMs, kRelaxed);
    s.rsId.store(rsId, kRelaxed);
    res.rsId = rsId;
  }
  s.seq.store(seq + 2, std::memory_order_release);
  return res;
}

void PersistTable::forEachLive(uint64_t nowMs,
                               const std::function<void(const PersistTemplate&)>& fn) const {
  for (uint32_t i = 0; i <= mask_; ++i) {
    Copy c{};
    // A slot being written is retried a few times, then skipped (a listing is a snapshot).
    bool ok = false;
    for (int attempt = 0; attempt < 4 && !ok; ++attempt) ok = read(slots_[i], c);
    if (!ok || !c.live(nowMs)) continue;
    PersistTemplate t;
    std::memcpy(t.key.client.b, c.client, 16);
    std::memcpy(t.key.vip.b, c.vip, 16);
    t.key.vportBe = static_cast<uint16_t>(c.meta);
    t.key.proto = static_cast<uint8_t>(c.meta >> 16);
    t.key.family = static_cast<uint8_t>(c.meta >> 24);
    t.rsId = c.rsId;
    t.expiresMs = c.expires;
    fn(t);
  }
}

}  // namespace anylb::fullnat
