// A keyed hash for keys that an attacker chooses (session index, persistence templates).
//
// Why not CRC32-C with a fixed seed: CRC is affine over GF(2), so anyone can solve for
// millions of 5-tuples that share the low bits of the hash (one index bucket) and turn every
// lookup into a long scan with spoofed SYNs. Here the key is a per-process random secret:
//  1. NH (the UMAC compression function): pairs of 32-bit words, each offset by a key word
//     mod 2^32, multiplied to 64 bits and summed. For two different inputs the sums collide
//     with probability <= 2^-32 over the choice of key (Black et al., UMAC, 1999).
//  2. A final key word is added and the 64-bit murmur3 finaliser (a bijection) spreads every
//     input bit over the low bits that index the table.
// It is not a MAC: an attacker who can measure lookup times may learn something about the
// key over many probes; rotating it means rebuilding the index, which a restart does.
// Cost: four multiplications for an IPv4 key (the benchmark reports cycles per packet).
//
// Not for the Maglev or source-hash schedulers: their choice must be the same on every node of
// the fleet, so they keep their own fixed hash (fullnat/scheduler.h).
#pragma once

#include <sys/random.h>

#include <array>
#include <cstdint>
#include <cstring>

namespace anylb {

class KeyedHash {
 public:
  static constexpr unsigned kWords = 10;  // an IPv6 5-tuple: 2 x 4 address words, ports, proto
  using Key = std::array<uint32_t, kWords + 2>;  // NH words, then a 64-bit final word

  explicit KeyedHash(const Key& key) : k_(key) {}
  // A fresh secret from the kernel's CSPRNG (getrandom); falls back to a weaker mix of the
  // clock and addresses only if getrandom fails, which it does not on any kernel we run on.
  static KeyedHash random() {
    Key k{};
    if (getrandom(k.data(), sizeof(k), 0) != static_cast<ssize_t>(sizeof(k))) {
      uint64_t seed = __builtin_ia32_rdtsc() ^ reinterpret_cast<uintptr_t>(&k);
      for (auto& w : k) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        w = static_cast<uint32_t>(seed >> 32);
      }
    }
    return KeyedHash(k);
  }

  // An IPv4 5-tuple; addresses raw (network order), ports network order.
  [[nodiscard]] uint32_t hash4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                               uint8_t proto) const {
    const uint32_t ports = uint32_t{sport} | uint32_t{dport} << 16;
    uint64_t h = nh(src, 0, dst, 1) + nh(ports, 2, proto, 3);
    return finish(h);
  }

  // Any 5-tuple: 16-byte addresses (IPv4 in the first 4 bytes, the rest zero).
  [[nodiscard]] uint32_t hash(const uint8_t* src16, const uint8_t* dst16, uint16_t sport,
                              uint16_t dport, uint8_t proto) const {
    uint32_t s[4];
    uint32_t d[4];
    std::memcpy(s, src16, 16);
    std::memcpy(d, dst16, 16);
    if ((s[1] | s[2] | s[3] | d[1] | d[2] | d[3]) == 0) {
      return hash4(s[0], d[0], sport, dport, proto);  // IPv4: the same as hash4()
    }
    const uint32_t ports = uint32_t{sport} | uint32_t{dport} << 16;
    uint64_t h = nh(s[0], 0, s[1], 1) + nh(s[2], 2, s[3], 3) + nh(d[0], 4, d[1], 5) +
                 nh(d[2], 6, d[3], 7) + nh(ports, 8, proto, 9);
    return finish(h);
  }

 private:
  [[nodiscard]] uint64_t nh(uint32_t a, unsigned ka, uint32_t b, unsigned kb) const {
    return uint64_t{static_cast<uint32_t>(a + k_[ka])} * static_cast<uint32_t>(b + k_[kb]);
  }
  [[nodiscard]] uint32_t finish(uint64_t h) const {
    h += uint64_t{k_[kWords]} << 32 | k_[kWords + 1];
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return static_cast<uint32_t>(h);
  }

  Key k_;
};

}  // namespace anylb
