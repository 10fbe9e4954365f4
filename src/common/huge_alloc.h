// Large zeroed arrays for per-worker tables (sessions, their index), backed by huge pages when
// the system has them: a hugetlbfs page (MAP_HUGETLB) if one is free, else transparent huge
// pages (madvise). A random lookup in a table of millions of sessions then costs a cache miss
// but rarely a TLB miss. Allocation happens at start-up only; it throws std::bad_alloc.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <memory>
#include <new>

namespace anylb {

struct HugeDeleter {
  size_t bytes = 0;
  void operator()(void* p) const {
    if (p != nullptr) munmap(p, bytes);
  }
};

template <typename T>
using HugeArray = std::unique_ptr<T[], HugeDeleter>;

// Whether the pages are faulted in now (tables the packet loop fills: a first touch there
// zeroes a whole huge page in the middle of a burst) or on first use (arrays most entries of
// which are never touched, like the sequence-shift state).
enum class Prefault : bool { kNo, kYes };

// T must be trivially constructible: the memory arrives zeroed, and the caller initialises it.
template <typename T>
HugeArray<T> hugeArray(size_t n, Prefault prefault = Prefault::kNo) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t bytes = (n * sizeof(T) + kHuge - 1) / kHuge * kHuge;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
                 -1, 0);
  if (p == MAP_FAILED) {
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    madvise(p, bytes, MADV_HUGEPAGE);  // best effort: THP may be off
  }
  if (prefault == Prefault::kYes && madvise(p, bytes, MADV_POPULATE_WRITE) != 0) {
    // Kernels before 5.14: one write per page does the same.
    for (size_t off = 0; off < bytes; off += 4096) static_cast<volatile char*>(p)[off] = 0;
  }
  return HugeArray<T>(static_cast<T*>(p), HugeDeleter{bytes});
}

}  // namespace anylb
