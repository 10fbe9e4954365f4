// [dataplane.exception_policer]: defaults, a full block, and values an operator gets wrong.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "config/loader.h"
#include "config_test_util.h"

namespace anylb::config {
namespace {

TEST(ExceptionPolicerConfig, DefaultsPoliceEveryClass) {
  auto r = loadConfigString(testing::minimal(), "t.toml");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  const auto& ep = r.config->dataplane.exceptionPolicer;
  EXPECT_TRUE(ep.enabled);
  EXPECT_EQ(ep.peerRate, 10000U);
  EXPECT_EQ(ep.peerBurst, 2000U);
  EXPECT_EQ(ep.realServerRate, 10000U);
  EXPECT_EQ(ep.realServerBurst, 1000U);
  EXPECT_EQ(ep.arpIcmpRate, 1000U);
  EXPECT_EQ(ep.arpIcmpBurst, 200U);
  EXPECT_EQ(ep.otherRate, 5000U);
  EXPECT_EQ(ep.otherBurst, 500U);
}

TEST(ExceptionPolicerConfig, ReadsEveryKey) {
  auto r = loadConfigString(testing::minimal() +
                                "[dataplane.exception_policer]\nenabled = false\n"
                                "peer_rate = 11\npeer_burst = 12\narp_icmp_rate = 13\n"
                                "real_server_rate = 17\nreal_server_burst = 18\n"
                                "arp_icmp_burst = 14\nother_rate = 15\nother_burst = 16\n",
                            "t.toml");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  const auto& ep = r.config->dataplane.exceptionPolicer;
  EXPECT_FALSE(ep.enabled);
  EXPECT_EQ(ep.peerRate, 11U);
  EXPECT_EQ(ep.peerBurst, 12U);
  EXPECT_EQ(ep.arpIcmpRate, 13U);
  EXPECT_EQ(ep.arpIcmpBurst, 14U);
  EXPECT_EQ(ep.otherRate, 15U);
  EXPECT_EQ(ep.otherBurst, 16U);
  EXPECT_EQ(ep.realServerRate, 17U);
  EXPECT_EQ(ep.realServerBurst, 18U);
}

TEST(ExceptionPolicerConfig, RejectsZeroRatesAndUnknownKeys) {
  const auto base = testing::minimal();
  // The line of the block's first key: the minimal text's lines plus the table header.
  const auto line = std::count(base.begin(), base.end(), '\n') + 2;
  auto r = loadConfigString(base +
                                "[dataplane.exception_policer]\nother_rate = 0\n"
                                "arp_icmp_burst = 0\npeer_rate = -5\nrate = 100\n",
                            "t.toml");
  EXPECT_FALSE(r.config);
  std::vector<std::string> got;
  for (const auto& e : r.errors) got.push_back(e.str());
  EXPECT_EQ(
      got,
      (std::vector<std::string>{
          fmt::format("t.toml:{}:14: dataplane.exception_policer.other_rate: 0 is out "
                      "of range 1..10000000",
                      line),
          fmt::format("t.toml:{}:18: dataplane.exception_policer.arp_icmp_burst: 0 "
                      "is out of range 1..1000000",
                      line + 1),
          fmt::format("t.toml:{}:13: dataplane.exception_policer.peer_rate: -5 is "
                      "out of range 1..10000000",
                      line + 2),
          fmt::format("t.toml:{}:1: dataplane.exception_policer.rate: unknown key", line + 3)}));
}

}  // namespace
}  // namespace anylb::config
