// Per-peer replay protection of session-sync datagrams (codec.h's Header: epoch, seq).
// One ReplayWindow per configured peer, owned and called by the sync service's thread only;
// accept() is called AFTER the datagram's tag verified (an unauthenticated datagram must not
// move the window). No allocation, no locks: 16 words of bitmap and two counters.
#pragma once

#include <array>
#include <cstdint>

namespace anylb::sync {

class ReplayWindow {
 public:
  // Seqs tracked below the highest seen (inclusive of the highest): a datagram delayed behind
  // up to 1023 later ones is still accepted.
  static constexpr uint64_t kWidth = 1024;

  enum class Result : uint8_t {
    kAccepted,
    kOldEpoch,   // an earlier incarnation of the peer (replayed from before its restart)
    kDuplicate,  // seq already accepted in this epoch
    kTooOld,     // seq at or below highest - kWidth, or seq 0 (never sent: seqs start at 1)
  };

  // epoch > current: the peer restarted (epoch = its start time): forget the window, accept.
  // epoch < current: refuse. Same epoch: accept a seq not yet seen within the window.
  // A refused datagram changes nothing.
  Result accept(uint64_t epoch, uint64_t seq);

  // 0 before the first accepted datagram.
  [[nodiscard]] uint64_t epoch() const { return epoch_; }
  [[nodiscard]] uint64_t highest() const { return highest_; }

 private:
  void set(uint64_t seq) { seen_[(seq / 64) % kWords] |= uint64_t{1} << (seq % 64); }
  [[nodiscard]] bool test(uint64_t seq) const {
    return (seen_[(seq / 64) % kWords] >> (seq % 64)) & 1U;
  }
  void advanceTo(uint64_t seq);

  static constexpr uint64_t kWords = kWidth / 64;
  uint64_t epoch_ = 0;
  uint64_t highest_ = 0;  // highest seq accepted in epoch_; 0 = none yet
  // Ring of bits: seq s lives at bit s % kWidth. Holds exactly the seqs in
  // (highest_ - kWidth, highest_], so a position is never shared by two live seqs.
  std::array<uint64_t, kWords> seen_{};
};

const char* toString(ReplayWindow::Result r);

}  // namespace anylb::sync
