// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed pseudo-random function with a 128-bit key
// and a 64-bit output, fast on short inputs. Used where a keyed hash must also be
// unforgeable: SYN cookies (fullnat/synproxy.h), whose forgery would let a spoofed flood
// through. The reference test vectors (the paper's appendix) are in
// tests/unit/common/siphash_test.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace anylb {

struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
};

namespace detail {
inline uint64_t rotl64(uint64_t x, unsigned b) {
  return (x << b) | (x >> (64 - b));
}
inline void sipRound(uint64_t& v0, uint64_t& v1, uint64_t& v2, uint64_t& v3) {
  v0 += v1;
  v1 = rotl64(v1, 13);
  v1 ^= v0;
  v0 = rotl64(v0, 32);
  v2 += v3;
  v3 = rotl64(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = rotl64(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = rotl64(v1, 17);
  v1 ^= v2;
  v2 = rotl64(v2, 32);
}
}  // namespace detail

// SipHash-2-4 of `len` bytes (little-endian words, as the specification defines).
inline uint64_t siphash24(const SipKey& key, const void* data, size_t len) {
  using detail::sipRound;
  uint64_t v0 = 0x736f6d6570736575ULL ^ key.k0;
  uint64_t v1 = 0x646f72616e646f6dULL ^ key.k1;
  uint64_t v2 = 0x6c7967656e657261ULL ^ key.k0;
  uint64_t v3 = 0x7465646279746573ULL ^ key.k1;
  const auto* p = static_cast<const uint8_t*>(data);
  const size_t whole = len & ~size_t{7};
  for (size_t i = 0; i < whole; i += 8) {
    uint64_t m;
    std::memcpy(&m, p + i, 8);  // x86-64: little-endian, as SipHash reads its words
    v3 ^= m;
    sipRound(v0, v1, v2, v3);
    sipRound(v0, v1, v2, v3);
    v0 ^= m;
  }
  uint64_t last = uint64_t{len & 0xFF} << 56;
  for (size_t i = 0; i < (len & 7); ++i) last |= uint64_t{p[whole + i]} << (8 * i);
  v3 ^= last;
  sipRound(v0, v1, v2, v3);
  sipRound(v0, v1, v2, v3);
  v0 ^= last;
  v2 ^= 0xFF;
  for (int i = 0; i < 4; ++i) sipRound(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

}  // namespace anylb
