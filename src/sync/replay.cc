#include "sync/replay.h"

namespace anylb::sync {

ReplayWindow::Result ReplayWindow::accept(uint64_t epoch, uint64_t seq) {
  if (epoch < epoch_) return Result::kOldEpoch;
  if (seq == 0) return Result::kTooOld;
  if (epoch > epoch_) {
    // A new incarnation numbers its datagrams from 1 again: nothing of the old window applies.
    epoch_ = epoch;
    highest_ = seq;
    seen_.fill(0);
    set(seq);
    return Result::kAccepted;
  }
  if (seq > highest_) {
    advanceTo(seq);
    set(seq);
    return Result::kAccepted;
  }
  if (highest_ - seq >= kWidth) return Result::kTooOld;
  if (test(seq)) return Result::kDuplicate;
  set(seq);
  return Result::kAccepted;
}

// Slides the window up to `seq`: the positions of seqs highest_+1 .. seq held seqs that now fall
// out of the window, so they are cleared (whole words where the range covers them).
void ReplayWindow::advanceTo(uint64_t seq) {
  if (seq - highest_ >= kWidth) {
    seen_.fill(0);
  } else {
    for (uint64_t s = highest_ + 1; s <= seq;) {
      if (s % 64 == 0 && seq - s >= 63) {
        seen_[(s / 64) % kWords] = 0;
        s += 64;
      } else {
        seen_[(s / 64) % kWords] &= ~(uint64_t{1} << (s % 64));
        ++s;
      }
    }
  }
  highest_ = seq;
}

const char* toString(ReplayWindow::Result r) {
  switch (r) {
    case ReplayWindow::Result::kAccepted:
      return "accepted";
    case ReplayWindow::Result::kOldEpoch:
      return "old epoch";
    case ReplayWindow::Result::kDuplicate:
      return "duplicate";
    case ReplayWindow::Result::kTooOld:
      return "too old";
  }
  return "unknown";
}

}  // namespace anylb::sync
