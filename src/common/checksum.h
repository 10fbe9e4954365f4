// Internet checksum helpers (RFC 1071 sums, RFC 1624 incremental updates).
//
// Everything works on raw memory words: sums are accumulated over 16-bit words exactly as they
// sit in the packet (network byte order, loaded natively), and checksum fields are read and
// written the same way. One's complement arithmetic is byte-order independent, so no swaps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace anylb::csum {

// Partial sums are kept small (at most 0x1FFFE per term) so that callers can add up many of
// them in a uint32_t without overflow; fold() reduces any such total to 16 bits.
inline uint16_t fold(uint32_t sum) {
  sum = (sum & 0xFFFF) + (sum >> 16);
  sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// Partial sum of `len` bytes (len may be odd: the last byte is padded with zero), folded to
// 16 bits. Adds 32-bit words into a 64-bit accumulator: 2^16 = 1 modulo 0xFFFF, so summing
// wider words and folding gives the same one's complement sum as 16-bit words.
inline uint32_t partial(const void* data, size_t len, uint32_t sum = 0) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t acc = sum;
  while (len >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    acc += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2;
    len -= 2;
  }
  if (len != 0) {
    uint16_t w = 0;
    std::memcpy(&w, p, 1);
    acc += w;
  }
  acc = (acc & 0xFFFFFFFF) + (acc >> 32);
  acc = (acc & 0xFFFFFFFF) + (acc >> 32);
  return fold(static_cast<uint32_t>(acc));
}

// The checksum field value for data whose partial sum is `sum`.
inline uint16_t finish(uint32_t sum) {
  return static_cast<uint16_t>(~fold(sum));
}

// RFC 1624 eq. 3: HC' = ~(~HC + ~m + m'), where m and m' are the old and new partial sums of
// every word that changed. `field` is the checksum as stored in the packet.
// Computed with one fold: 0xFFFFFFFF - m is congruent to ~m modulo 0xFFFF, so the three
// terms can be added in 64 bits and folded once. oldSum and newSum may be any partial sums.
inline uint16_t update(uint16_t field, uint32_t oldSum, uint32_t newSum) {
  uint64_t s = uint64_t{static_cast<uint16_t>(~field)} + (0xFFFFFFFFULL - oldSum) + newSum;
  s = (s & 0xFFFFFFFF) + (s >> 32);
  return static_cast<uint16_t>(~fold(static_cast<uint32_t>(s)));
}

// Same, for a single changed 16-bit word / 32-bit word (both raw).
inline uint16_t update16(uint16_t field, uint16_t oldWord, uint16_t newWord) {
  return update(field, oldWord, newWord);
}
inline uint32_t sum32(uint32_t raw) {
  return (raw & 0xFFFF) + (raw >> 16);
}

// True when an IPv4 header (ihl bytes, checksum included) sums to 0xFFFF. The common 20-byte
// header is five 32-bit words, summed without a loop.
inline bool ipv4HeaderValid(const void* hdr, size_t ihl) {
  if (ihl != 20) return partial(hdr, ihl) == 0xFFFF;
  uint32_t w[5];
  std::memcpy(w, hdr, 20);
  uint64_t acc = uint64_t{w[0]} + w[1] + w[2] + w[3] + w[4];
  acc = (acc & 0xFFFFFFFF) + (acc >> 32);
  acc = (acc & 0xFFFFFFFF) + (acc >> 32);
  return fold(static_cast<uint32_t>(acc)) == 0xFFFF;
}

}  // namespace anylb::csum
