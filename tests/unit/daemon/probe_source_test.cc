// Which node address health probes leave from, per family and uplink state.
#include "daemon/probe_source.h"

#include <gtest/gtest.h>

namespace anylb {
namespace {

config::Uplink uplink(const char* a4, const char* a6) {
  config::Uplink u;
  u.address = *Prefix::parse(a4);
  if (a6 != nullptr) {
    u.address6 = *Prefix::parse(a6);
    u.gateway6 = u.address6->at(1);
  }
  return u;
}

std::string str(const std::optional<IpAddr>& a) {
  return a ? a->str() : "-";
}

TEST(ProbeSource, FirstUpUplinkOfTheFamily) {
  const std::vector<config::Uplink> ups = {uplink("10.1.1.2/30", "fd00:1:1::2/64"),
                                           uplink("10.2.1.2/30", "fd00:2:1::2/64")};
  EXPECT_EQ(str(probeSourceFor(ups, {true, true}, Family::kV4)), "10.1.1.2");
  EXPECT_EQ(str(probeSourceFor(ups, {true, true}, Family::kV6)), "fd00:1:1::2");
  EXPECT_EQ(str(probeSourceFor(ups, {false, true}, Family::kV4)), "10.2.1.2");
  EXPECT_EQ(str(probeSourceFor(ups, {false, true}, Family::kV6)), "fd00:2:1::2");
  // None up (or not known yet): the first uplink's, so that probes wait for its link.
  EXPECT_EQ(str(probeSourceFor(ups, {false, false}, Family::kV6)), "fd00:1:1::2");
  EXPECT_EQ(str(probeSourceFor(ups, {}, Family::kV4)), "10.1.1.2");
}

TEST(ProbeSource, IPv6OnlyFromUplinksWithAddress6) {
  // Only the second uplink is dual-stack: IPv6 probes never take the first's IPv4 address,
  // even while the first is the only one up.
  const std::vector<config::Uplink> ups = {uplink("10.1.1.2/30", nullptr),
                                           uplink("10.2.1.2/30", "fd00:2:1::2/64")};
  EXPECT_EQ(str(probeSourceFor(ups, {true, true}, Family::kV6)), "fd00:2:1::2");
  EXPECT_EQ(str(probeSourceFor(ups, {true, false}, Family::kV6)), "fd00:2:1::2");
  EXPECT_EQ(str(probeSourceFor(ups, {true, false}, Family::kV4)), "10.1.1.2");
  const std::vector<config::Uplink> v4only = {uplink("10.1.1.2/30", nullptr)};
  EXPECT_EQ(str(probeSourceFor(v4only, {true}, Family::kV6)), "-");
  EXPECT_EQ(str(probeSourceFor({}, {}, Family::kV4)), "-");
}

}  // namespace
}  // namespace anylb
