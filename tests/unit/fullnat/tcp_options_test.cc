#include "toa/tcp_options.h"

#include <gtest/gtest.h>

#include <vector>

namespace anylb::toa {
namespace {

using Bytes = std::vector<uint8_t>;

TEST(TcpOptions, ValidityFollowsTheKernelsRules) {
  EXPECT_TRUE(optionsValid(Bytes{2, 4, 5, 0xb4}.data(), 4));
  EXPECT_TRUE(optionsValid(Bytes{1, 1, 1, 0}.data(), 4));
  EXPECT_TRUE(optionsValid(Bytes{0, 9, 9, 9}.data(), 4));  // after EOL: padding
  EXPECT_FALSE(optionsValid(Bytes{2, 0, 5, 0xb4}.data(), 4));
  EXPECT_FALSE(optionsValid(Bytes{5, 1, 0, 0}.data(), 4));
  EXPECT_FALSE(optionsValid(Bytes{1, 1, 1, 5}.data(), 4));  // kind without length byte
  EXPECT_FALSE(optionsValid(Bytes{5, 6, 0, 0}.data(), 4));  // overruns
  EXPECT_FALSE(optionsValid(Bytes{8, 4, 0, 0}.data(), 4));  // timestamp must be 10
  EXPECT_FALSE(optionsValid(Bytes{2, 3, 1, 1}.data(), 4));  // MSS must be 4
}

TEST(TcpOptions, ScrubRemovesToaAlwaysAndTimestampsOnRequest) {
  Bytes o = {254, 8, 0, 80, 1, 2, 3, 4, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1};
  auto r = scrubClientOptions(o.data(), static_cast<unsigned>(o.size()), false);
  EXPECT_TRUE(r.removedToa);
  EXPECT_FALSE(r.removedTimestamp);
  EXPECT_EQ(Bytes(o.begin(), o.begin() + 8), Bytes(8, 1));
  EXPECT_EQ(o[8], 8);
  r = scrubClientOptions(o.data(), static_cast<unsigned>(o.size()), true);
  EXPECT_TRUE(r.removedTimestamp);
  EXPECT_EQ(o, Bytes(20, 1));
}

TEST(TcpOptions, BuildPrependsToaAndPadsToFourBytes) {
  const Bytes toa = {254, 8, 0x9c, 0x40, 192, 0, 2, 7};
  const Bytes opts = {2, 4, 5, 0xb4, 0, 0, 0, 0};  // MSS, EOL + padding: padding is dropped
  uint8_t out[kMaxOptionBytes];
  const int n = buildWithToa(opts.data(), 8, toa.data(), 8, out);
  ASSERT_EQ(n, 12);
  EXPECT_EQ(Bytes(out, out + n), (Bytes{254, 8, 0x9c, 0x40, 192, 0, 2, 7, 2, 4, 5, 0xb4}));
  Bytes sack = {5, 10, 1, 2, 3, 4, 5, 6, 7, 8};  // 10 bytes -> 18 + 2 padding
  const int m = buildWithToa(sack.data(), 10, toa.data(), 8, out);
  EXPECT_EQ(m, 20);
  EXPECT_EQ(out[18], 1);
  EXPECT_EQ(out[19], 1);
}

TEST(TcpOptions, BuildGivesUpWhenEvenWithoutNopsThereIsNoRoom) {
  Bytes opts(36, 0);
  opts[0] = 5;
  opts[1] = 34;  // SACK with 4 blocks
  opts[34] = 1;
  opts[35] = 1;
  const Bytes toa = {254, 8, 0, 1, 1, 2, 3, 4};
  uint8_t out[kMaxOptionBytes];
  EXPECT_EQ(buildWithToa(opts.data(), 36, toa.data(), 8, out), -1);
}

TEST(TcpOptions, MssClampLowersButNeverBelow536) {
  Bytes o = {1, 1, 2, 4, 0x05, 0xb4};
  EXPECT_TRUE(clampMss(o.data(), 6, 8));
  EXPECT_EQ((o[4] << 8) | o[5], 1452);
  Bytes small = {2, 4, 0x02, 0x18};  // 536
  EXPECT_FALSE(clampMss(small.data(), 4, 8));
  Bytes none = {1, 1, 1, 1};
  EXPECT_FALSE(clampMss(none.data(), 4, 8));
}

}  // namespace
}  // namespace anylb::toa
