// Publication and reclamation of the forwarding snapshot. The control thread publishes a new
// immutable snapshot at any time; each worker (a "reader") switches to it between bursts and
// reads it without locks or reference counts; an old snapshot is freed only once no reader
// can still be reading it. No EAL: tests drive it with std::threads (and ThreadSanitizer).
//
// Per reader, two announcements (hazard pointers), each on the reader's own cache line:
//   incoming  the snapshot the reader is switching to (or uses, once switched);
//   inUse     the snapshot its engine used before the switch, until the switch completes.
//
// Reader, refresh() between bursts:
//   c = current_                      (acquire; fast path: c == incoming, nothing to do)
//   repeat: incoming = c; c2 = current_; until c2 == c, else c = c2        (both seq_cst)
//   onSwitch(c)                       (the engine switches; may still read the old one)
//   inUse = c                         (release: the old snapshot is let go here)
// Control, publish(s) then reclaim():
//   current_ = s                      (seq_cst)
//   for every retained snapshot x other than current_: free x unless some reader's
//   incoming or inUse names x         (seq_cst loads, incoming before inUse)
//
// Why no reader uses a freed snapshot. Take a snapshot x the reader uses, i.e. its re-read
// R of current_ returned x after its store H (incoming = x). A reclaim frees x only after the
// publish P that replaced x, and reads the reader's incoming at some point L after P. All of
// P, H, R, L are seq_cst, so they sit in one total order consistent with program order:
//  - if L comes before H, then P < L < H < R, so R reads P's value or a later one, and since
//    a replaced snapshot is never current again (publishing makes a new object; a freed one
//    can't be published again, its last owner is gone) R cannot return x: contradiction;
//  - so H comes before L, and L reads x (the reader still announces it) or a later store of
//    the reader. A later store to incoming happens only at the reader's next switch, and the
//    reader keeps x in inUse until that switch's onSwitch has returned; reclaim reads inUse
//    after incoming, and a value read from incoming is a release by the reader, so the inUse
//    store before it is visible: x is still named by inUse, or the reader has published
//    inUse = (its next snapshot) with release after its last access to x, and reclaim's
//    acquire of that value orders the free after every access. Either way no free races a
//    read. Pointer reuse (ABA) cannot fool it: a reader only compares addresses of snapshots
//    it protects, and a protected snapshot is never freed, so its address is not reused.
// The fast path is one acquire load and a compare with the reader's own announcement (no
// locked instruction); the seq_cst store (an xchg on x86) happens only when a snapshot
// changes. A reader that stalls pins the snapshot it announced, nothing newer.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

namespace anylb::dataplane {

template <typename T>
class SnapshotRcu {
 public:
  explicit SnapshotRcu(size_t readers) : readers_(readers), slots_(new Slot[readers]) {}

  // --- control thread only (one thread: publish and reclaim never run concurrently).

  // Makes `snap` the snapshot readers switch to at their next refresh(). Keeps it (and every
  // snapshot a reader may still hold) until reclaim() proves it unused.
  void publish(std::shared_ptr<const T> snap) {
    current_.store(snap.get(), std::memory_order_seq_cst);
    retained_.push_back(std::move(snap));
  }
  // Drops the snapshots no reader can be using; returns how many were dropped.
  size_t reclaim() {
    const T* cur = current_.load(std::memory_order_relaxed);  // only this thread writes it
    return std::erase_if(retained_, [&](const std::shared_ptr<const T>& s) {
      if (s.get() == cur) return false;
      for (size_t r = 0; r < readers_; ++r) {
        // incoming first, then inUse: see the header comment.
        if (slots_[r].incoming.load(std::memory_order_seq_cst) == s.get()) return false;
        if (slots_[r].inUse.load(std::memory_order_seq_cst) == s.get()) return false;
      }
      return true;
    });
  }
  [[nodiscard]] const T* current() const { return current_.load(std::memory_order_acquire); }
  [[nodiscard]] size_t retained() const { return retained_.size(); }
  [[nodiscard]] size_t readers() const { return readers_; }

  // --- reader r's thread only (r < readers).

  // Returns the snapshot reader r uses until its next refresh(): the newest published one.
  // When it changes, onSwitch(newSnapshot) runs first (the engine switches there; both the
  // old and the new snapshot are safe to read during the call). Returns nullptr (and does
  // not call onSwitch) while nothing has been published.
  template <typename OnSwitch>
  const T* refresh(size_t r, OnSwitch&& onSwitch) {
    Slot& slot = slots_[r];
    const T* snap = current_.load(std::memory_order_acquire);
    if (snap == slot.incoming.load(std::memory_order_relaxed)) return snap;
    for (;;) {
      slot.incoming.store(snap, std::memory_order_seq_cst);
      const T* again = current_.load(std::memory_order_seq_cst);
      if (again == snap) break;
      snap = again;  // replaced meanwhile: announce the newer one instead
    }
    if (snap != nullptr) onSwitch(snap);
    slot.inUse.store(snap, std::memory_order_release);
    return snap;
  }

 private:
  struct alignas(64) Slot {
    std::atomic<const T*> incoming{nullptr};
    std::atomic<const T*> inUse{nullptr};
  };

  size_t readers_;
  std::unique_ptr<Slot[]> slots_;
  std::atomic<const T*> current_{nullptr};
  std::vector<std::shared_ptr<const T>> retained_;
};

}  // namespace anylb::dataplane
