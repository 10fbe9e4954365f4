// The neighbour table holding both families, and the IPv6 prefix match of the packet path.
#include "dataplane/neighbors.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace anylb::dataplane {
namespace {

std::array<uint8_t, 16> v6(const char* text) {
  std::array<uint8_t, 16> a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1) << text;
  return a;
}

uint32_t v4(const char* text) {
  uint32_t a = 0;
  EXPECT_EQ(inet_pton(AF_INET, text, &a), 1) << text;
  return a;
}

constexpr uint8_t kMac[6] = {2, 0, 0, 0, 0xaa, 1};

TEST(NeighborTable, FamiliesDoNotAlias) {
  NeighborTable t(4);
  // An IPv6 entry leaves ipRaw at 0: a lookup of 0.0.0.0 must not find it, and an IPv6
  // address whose first bytes spell an IPv4 neighbour is not that neighbour.
  const int g6 = t.add6(v6("fd00:1:1::1"), 0);
  const int g4 = t.add(v4("10.1.1.1"), 0);
  ASSERT_GE(g6, 0);
  ASSERT_GE(g4, 0);
  EXPECT_NE(g6, g4);
  EXPECT_EQ(t.find(0), -1);
  EXPECT_EQ(t.find(v4("10.1.1.1")), g4);
  EXPECT_EQ(t.find6(v6("fd00:1:1::1").data()), g6);
  EXPECT_EQ(t.find6(v6("a01:101::").data()), -1);  // 10.1.1.1 in the first four bytes
  EXPECT_EQ(t.add6(v6("fd00:1:1::1"), 1), g6);     // added twice: the same entry
  EXPECT_EQ(t.addressString(static_cast<size_t>(g6)), "fd00:1:1::1");
  EXPECT_EQ(t.addressString(static_cast<size_t>(g4)), "10.1.1.1");
}

TEST(NeighborTable, Learn6OnlyForNeighbours) {
  NeighborTable t(2);
  const int g6 = t.add6(v6("fd00:1:1::1"), 0);
  EXPECT_FALSE(t.learn6(v6("fd00:1:1::9").data(), kMac, 5));  // not a gateway: ignored
  EXPECT_FALSE(t.at(static_cast<size_t>(g6)).resolved.load());
  EXPECT_TRUE(t.learn6(v6("fd00:1:1::1").data(), kMac, 7));
  const auto& n = t.at(static_cast<size_t>(g6));
  EXPECT_TRUE(n.resolved.load());
  EXPECT_EQ(n.lastSeenMs.load(), 7U);
  EXPECT_EQ(macString(n.mac.load()), "02:00:00:00:aa:01");
}

TEST(NeighborTable, FullTableRefuses) {
  NeighborTable t(1);
  EXPECT_EQ(t.add6(v6("fd00::1"), 0), 0);
  EXPECT_EQ(t.add(v4("10.0.0.1"), 0), -1);
  EXPECT_EQ(t.add6(v6("fd00::2"), 0), -1);
}

TEST(Prefix6, Contains) {
  const auto net = v6("fd00:1:1::");
  EXPECT_TRUE(prefix6Contains(net, 64, v6("fd00:1:1::2").data()));
  EXPECT_TRUE(prefix6Contains(net, 64, v6("fd00:1:1:0:ffff::1").data()));
  EXPECT_FALSE(prefix6Contains(net, 64, v6("fd00:1:1:1::2").data()));
  EXPECT_TRUE(prefix6Contains(net, 0, v6("2001:db8::1").data()));
  // A length that is not a multiple of 8: fd00:200:1::/124 holds ::0 .. ::f only.
  const auto lip = v6("fd00:200:1::");
  EXPECT_TRUE(prefix6Contains(lip, 124, v6("fd00:200:1::f").data()));
  EXPECT_FALSE(prefix6Contains(lip, 124, v6("fd00:200:1::10").data()));
  EXPECT_TRUE(prefix6Contains(v6("fd00:8000::"), 17, v6("fd00:ffff::").data()));
  EXPECT_FALSE(prefix6Contains(v6("fd00:8000::"), 17, v6("fd00:7fff::").data()));
  EXPECT_TRUE(prefix6Contains(v6("fd00::1"), 128, v6("fd00::1").data()));
  EXPECT_FALSE(prefix6Contains(v6("fd00::1"), 128, v6("fd00::2").data()));
}

}  // namespace
}  // namespace anylb::dataplane
