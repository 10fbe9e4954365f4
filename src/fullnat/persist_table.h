// Persistence templates (IPVS's persistent services, ipvsadm -p / -M), shared by every worker of
// the node: a client's connections reach different workers (RSS hashes the 5-tuple), and each
// must find the template the first one left.
//
// A template maps (client address masked to the service's persistence prefix, VIP, VPORT,
// protocol) -> rsId, until it expires. The table is a fixed array of 2-way buckets (one 64-byte
// slot per way), indexed by a keyed hash (clients choose their addresses). It is touched only
// when a connection is created, never per packet.
//
// Lock-free: each slot is a seqlock. A reader copies the slot between two reads of its sequence
// and discards the copy if a writer was in it (a miss: the connection is scheduled afresh). A
// writer takes the slot by moving its sequence from even to odd with one compare-and-swap and
// never waits: if another worker holds the slot at that instant the write is skipped
// (`raced`). Every field is a relaxed atomic, so readers never see a torn value of a field and
// the seqlock makes the copy consistent across fields.
//
// Collisions: storing a template into a bucket whose two ways both hold live templates of
// other clients overwrites the one expiring first and counts a collision; no live template is
// ever replaced silently.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "common/keyed_hash.h"
#include "session/session.h"

namespace anylb::fullnat {

struct PersistKey {
  session::Addr client;  // masked; IPv4 in the first 4 bytes, the rest zero
  session::Addr vip;
  uint16_t vportBe = 0;  // network order
  uint8_t proto = 0;
  uint8_t family = 4;  // of client and VIP
};

// One live template, as a listing shows it.
struct PersistTemplate {
  PersistKey key;
  uint32_t rsId = 0;
  uint64_t expiresMs = 0;  // dataplane clock
};

class PersistTable {
 public:
  static constexpr uint32_t kWays = 2;
  // `slots` is rounded up to a power of two, at least kWays.
  explicit PersistTable(uint32_t slots, const KeyedHash& hash = KeyedHash::random());

  // Worker threads. The rsId of the live template of `k`, or -1. A hit also pushes the
  // template's expiry to `expiresMs` (never back).
  int64_t lookup(const PersistKey& k, uint64_t nowMs, uint64_t expiresMs);

  struct StoreResult {
    int64_t rsId = -1;       // the template's RS after the store: `rsId`, or the RS of a live
                             // template of the same key that another worker stored first
    bool collision = false;  // a live template of another key was overwritten
    bool raced = false;      // another worker was writing the slot: nothing stored
  };
  // Worker threads: stores k -> rsId until expiresMs, unless a live template of k appeared
  // since the lookup (then that one wins, so that concurrent first connections of one client
  // on two workers agree on the RS).
  StoreResult store(const PersistKey& k, uint32_t rsId, uint64_t nowMs, uint64_t expiresMs);

  // Any thread: calls fn for every live template (a consistent copy of each; templates written
  // during the walk may or may not be seen). Walks the whole table: control-plane rate only.
  void forEachLive(uint64_t nowMs, const std::function<void(const PersistTemplate&)>& fn) const;

  [[nodiscard]] uint32_t slots() const { return mask_ + 1; }

 private:
  struct alignas(64) Slot {
    std::atomic<uint32_t> seq{0};  // odd while a writer holds the slot
    std::atomic<uint32_t> rsId{0};
    std::atomic<uint64_t> client[2]{};
    std::atomic<uint64_t> vip[2]{};
    std::atomic<uint64_t> expires{0};  // dataplane ms; 0: empty
    std::atomic<uint64_t> meta{0};     // vport | proto << 16 | family << 24
  };
  struct Copy {
    uint64_t client[2];
    uint64_t vip[2];
    uint64_t expires;
    uint64_t meta;
    uint32_t rsId;
    [[nodiscard]] bool live(uint64_t nowMs) const { return expires > nowMs; }
  };
  static bool read(const Slot& s, Copy& out);
  static void fill(Copy& c, const PersistKey& k);
  static bool sameKey(const Copy& a, const Copy& b);
  [[nodiscard]] uint32_t bucketOf(const PersistKey& k) const;

  KeyedHash hash_;
  uint32_t mask_;  // slots - 1
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace anylb::fullnat
