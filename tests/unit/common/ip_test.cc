#include "common/ip.h"

#include <gtest/gtest.h>

namespace anylb {
namespace {

TEST(IpAddr, ParsesAndFormatsBothFamilies) {
  auto a = IpAddr::parse("192.0.2.1");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->isV4());
  EXPECT_EQ(a->v4HostOrder(), 0xC0000201U);
  EXPECT_EQ(a->str(), "192.0.2.1");
  auto b = IpAddr::parse("2001:db8::1");
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->isV4());
  EXPECT_EQ(b->str(), "2001:db8::1");
  EXPECT_EQ(IpAddr::v4(0xC0000201U), *a);
}

TEST(IpAddr, RejectsGarbage) {
  for (const char* s : {"", "1.2.3", "1.2.3.256", "1.2.3.4 ", "::g", "a.b.c.d", "1.2.3.4/24"}) {
    EXPECT_FALSE(IpAddr::parse(s)) << s;
  }
  EXPECT_FALSE(IpAddr::parse(std::string(100, '1')));
}

TEST(Prefix, ContainsOverlapsAndIndexes) {
  auto p = Prefix::parse("10.200.1.5/28");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->network().str(), "10.200.1.0");
  EXPECT_EQ(p->size(), 16U);
  EXPECT_EQ(p->at(15).str(), "10.200.1.15");
  EXPECT_TRUE(p->contains(*IpAddr::parse("10.200.1.15")));
  EXPECT_FALSE(p->contains(*IpAddr::parse("10.200.1.16")));
  EXPECT_FALSE(p->contains(*IpAddr::parse("::1")));
  EXPECT_TRUE(p->overlaps(*Prefix::parse("10.0.0.0/8")));
  EXPECT_FALSE(p->overlaps(*Prefix::parse("10.200.1.16/28")));
  auto v6 = Prefix::parse("fd00::/127");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->size(), 2U);
  EXPECT_EQ(v6->at(1).str(), "fd00::1");
  EXPECT_EQ(Prefix::parse("10.0.0.1")->len, 32);
  for (const char* s : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "fd00::/129", "/8"}) {
    EXPECT_FALSE(Prefix::parse(s)) << s;
  }
}

TEST(Prefix, CarriesAcrossBytes) {
  auto p = Prefix::parse("10.0.0.0/16");
  EXPECT_EQ(p->at(256 + 7).str(), "10.0.1.7");
  EXPECT_EQ(Prefix::parse("0.0.0.0/0")->size(), uint64_t{1} << 32);
}

TEST(Endpoint, ParsesBothForms) {
  EXPECT_EQ(Endpoint::parse("127.0.0.1:9469")->str(), "127.0.0.1:9469");
  EXPECT_EQ(Endpoint::parse("[::1]:80")->str(), "[::1]:80");
  for (const char* s :
       {"127.0.0.1", "::1:80", "[::1]80", "1.2.3.4:65536", "1.2.3.4:", "[1.2.3.4]:1"}) {
    EXPECT_FALSE(Endpoint::parse(s)) << s;
  }
}

}  // namespace
}  // namespace anylb
