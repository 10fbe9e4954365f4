#include "common/siphash.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace anylb {
namespace {

// The reference vectors of SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input
// PRF", appendix A, and the reference implementation's vectors.h): key 00 01 .. 0f, message
// 00 01 .. (len - 1).
TEST(SipHash, ReferenceVectors) {
  const SipKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  std::vector<uint8_t> msg;
  for (uint8_t i = 0; i < 16; ++i) msg.push_back(i);
  EXPECT_EQ(siphash24(key, msg.data(), 0), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(siphash24(key, msg.data(), 1), 0x74f839c593dc67fdULL);
  EXPECT_EQ(siphash24(key, msg.data(), 8), 0x93f5f5799a932462ULL);
  EXPECT_EQ(siphash24(key, msg.data(), 15), 0xa129ca6149be45e5ULL);  // the paper's example
}

}  // namespace
}  // namespace anylb
