// A counter written by one thread (a worker) and read by others (the control thread's stats,
// metrics and heartbeat checks).
//
// Why not a plain uint64_t: another thread reading it while the owner writes is a data race
// (undefined behaviour, and ThreadSanitizer says so). Why not std::atomic's ++: that is a
// locked read-modify-write (`lock xadd`, tens of cycles) on every packet. With a single writer
// a relaxed load plus a relaxed store is enough: no increment is lost because nobody else
// writes, and on x86-64 it compiles to the same plain `mov`/`add`/`mov` as a uint64_t.
// Readers see some recent value, never a torn one; counters that are read together (rx and
// forwarded) may be a few packets apart, as they always were.
//
// Only the owning thread may use ++, += and =; any thread may read (implicit conversion,
// load()). Copies read the source once (stats snapshots in tests and the control thread).
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <ostream>
#include <type_traits>

namespace anylb {

template <typename T>
class Relaxed {
  static_assert(std::is_integral_v<T> && std::atomic<T>::is_always_lock_free);

 public:
  constexpr Relaxed() noexcept = default;
  constexpr Relaxed(T v) noexcept : v_(v) {}  // NOLINT(google-explicit-constructor)
  Relaxed(const Relaxed& o) noexcept : v_(o.load()) {}
  Relaxed& operator=(const Relaxed& o) noexcept {
    store(o.load());
    return *this;
  }

  // Any thread.
  [[nodiscard]] T load() const noexcept { return v_.load(std::memory_order_relaxed); }
  operator T() const noexcept { return load(); }  // NOLINT(google-explicit-constructor)

  // Owning thread only (single writer: load + store, no locked instruction).
  void store(T v) noexcept { v_.store(v, std::memory_order_relaxed); }
  Relaxed& operator=(T v) noexcept {
    store(v);
    return *this;
  }
  Relaxed& operator+=(T n) noexcept {
    store(static_cast<T>(load() + n));
    return *this;
  }
  Relaxed& operator-=(T n) noexcept {
    store(static_cast<T>(load() - n));
    return *this;
  }
  Relaxed& operator++() noexcept { return *this += 1; }
  Relaxed& operator--() noexcept { return *this -= 1; }
  T operator++(int) noexcept {
    const T old = load();
    store(static_cast<T>(old + 1));
    return old;
  }

  friend std::ostream& operator<<(std::ostream& os, const Relaxed& c) { return os << c.load(); }
  // nlohmann::json (found by ADL; a template so this header needs no JSON include).
  template <typename Json>
  // NOLINTNEXTLINE(readability-identifier-naming): the name nlohmann looks up
  friend void to_json(Json& j, const Relaxed& c) {
    j = c.load();
  }

 private:
  std::atomic<T> v_{0};
};

using RelaxedCounter = Relaxed<uint64_t>;
using RelaxedGauge32 = Relaxed<uint32_t>;

}  // namespace anylb

// fmt::format("{}", counter) prints the value.
template <typename T>
struct fmt::formatter<anylb::Relaxed<T>> : fmt::formatter<T> {
  template <typename FormatContext>
  auto format(const anylb::Relaxed<T>& c, FormatContext& ctx) const {
    return fmt::formatter<T>::format(c.load(), ctx);
  }
};
