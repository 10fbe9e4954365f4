// CRC32-C steps for hashing on the packet path. The SSE4.2 instruction directly: DPDK's
// rte_hash_crc_8byte() dispatches on the CPU at run time, which costs more than the CRC.
// Same values as rte_hash_crc_8byte/_4byte on SSE4.2 machines (the build requires SSE4.2).
#pragma once

#include <nmmintrin.h>

#include <cstdint>

namespace anylb {

inline uint32_t crc64(uint64_t data, uint32_t init) {
  return static_cast<uint32_t>(_mm_crc32_u64(init, data));
}
inline uint32_t crc32(uint32_t data, uint32_t init) {
  return _mm_crc32_u32(init, data);
}

}  // namespace anylb
