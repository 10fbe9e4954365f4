// A bounded single-producer single-consumer ring of values: the path between a worker and the
// sync service (session events out, peers' sessions in). No allocation after construction, no
// locks: the producer owns head_, the consumer tail_, each published with release and read
// with acquire. A full ring refuses the push (the caller counts it).
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace anylb::sync {

template <typename T>
class SpscRing {
 public:
  // Capacity rounded up to a power of two (at least 2).
  explicit SpscRing(size_t capacity)
      : mask_(std::bit_ceil(capacity < 2 ? size_t{2} : capacity) - 1),
        slots_(std::make_unique<T[]>(mask_ + 1)) {}
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  [[nodiscard]] size_t capacity() const { return mask_ + 1; }

  // Producer thread.
  bool push(const T& v) {
    const uint64_t h = head_.load(std::memory_order_relaxed);
    if (h - tailCache_ > mask_) {
      tailCache_ = tail_.load(std::memory_order_acquire);
      if (h - tailCache_ > mask_) return false;
    }
    slots_[h & mask_] = v;
    head_.store(h + 1, std::memory_order_release);
    return true;
  }
  // Producer thread: room for at least n more values.
  [[nodiscard]] bool hasRoom(size_t n) {
    const uint64_t h = head_.load(std::memory_order_relaxed);
    if (h + n - tailCache_ <= mask_ + 1) return true;
    tailCache_ = tail_.load(std::memory_order_acquire);
    return h + n - tailCache_ <= mask_ + 1;
  }

  // Consumer thread.
  bool pop(T& out) {
    const uint64_t t = tail_.load(std::memory_order_relaxed);
    if (t == headCache_) {
      headCache_ = head_.load(std::memory_order_acquire);
      if (t == headCache_) return false;
    }
    out = slots_[t & mask_];
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  // Any thread: values waiting (approximate while the others run).
  [[nodiscard]] size_t size() const {
    return static_cast<size_t>(head_.load(std::memory_order_acquire) -
                               tail_.load(std::memory_order_acquire));
  }

 private:
  const size_t mask_;
  std::unique_ptr<T[]> slots_;
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t tailCache_ = 0;  // producer's last view of tail_
  alignas(64) std::atomic<uint64_t> tail_{0};
  uint64_t headCache_ = 0;  // consumer's last view of head_
};

}  // namespace anylb::sync
