// The -L -n listings and the session table, from canned results, against text produced by
// ipvsadm's own printf format strings (ipvsadm.c print_title / print_service_entry /
// print_largenum / list_conn) fed the same numbers. Note the blanks that end the plain
// listing's real-server lines: ipvsadm pads InActConn with "%-10u".
#include <gtest/gtest.h>

#include "ctl/ipvs_format.h"
#include "fixtures.h"

namespace anylb::ctl {
namespace {

Json parse(const char* text) {
  return Json::parse(text);
}

TEST(IpvsFormat, PlainListingIsIpvsadmLayoutSortedAsIpvsadmSorts) {
  const std::string expected =
      "IP Virtual Server version 1.2.1 (size=4096)\n"
      "Prot LocalAddress:Port Scheduler Flags\n"
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
      "TCP  10.100.0.9:443 mh\n"
      "TCP  10.100.0.10:80 wrr\n"
      "  -> 10.20.0.11:80                FullNat 3      2          1         \n"
      "  -> 10.20.0.12:80                FullNat 0      0          0         \n"
      "UDP  10.100.0.10:53 rr persistent 300\n"
      "  -> 10.20.0.21:53                FullNat 1      0          5         \n"
      "TCP  [2001:db8::10]:80 wrr\n"
      "  -> [2001:db8:1::11]:8080        FullNat 1      0          0         \n";
  EXPECT_EQ(formatServiceList(parse(test::kServicesResult), {}), expected);
}

TEST(IpvsFormat, StatsListingAbbreviatesAsPrintLargenum) {
  const std::string expected =
      "IP Virtual Server version 1.2.1 (size=4096)\n"
      "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n"
      "  -> RemoteAddress:Port\n"
      "TCP  10.100.0.9:443                      0        0        0        0        0\n"
      "TCP  10.100.0.10:80                     12      140  123456K    9876M   12345G\n"
      "  -> 10.20.0.11:80                      12      140  123456K    9876M   12345G\n"
      "  -> 10.20.0.12:80                       0        0        0        0        0\n"
      "UDP  10.100.0.10:53               99999999  100000K  999999K    1000M     100T\n"
      "  -> 10.20.0.21:53                       7        8        9       10       11\n"
      "TCP  [2001:db8::10]:80                   1        2        3        4        5\n"
      "  -> [2001:db8:1::11]:8080               1        2        3        4        5\n";
  EXPECT_EQ(
      formatServiceList(parse(test::kServicesResult), {ListFormat::kStats, false, std::nullopt}),
      expected);
}

TEST(IpvsFormat, StatsListingExact) {
  const std::string expected =
      "IP Virtual Server version 1.2.1 (size=4096)\n"
      "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n"
      "  -> RemoteAddress:Port\n"
      "TCP  10.100.0.9:443                      0        0        0        0        0\n"
      "TCP  10.100.0.10:80                     12      140 123456789 9876543210 12345678901234\n"
      "  -> 10.20.0.11:80                      12      140 123456789 9876543210 12345678901234\n"
      "  -> 10.20.0.12:80                       0        0        0        0        0\n"
      "UDP  10.100.0.10:53               99999999 100000000 999999999 1000000000 "
      "100000000000000\n"
      "  -> 10.20.0.21:53                       7        8        9       10       11\n"
      "TCP  [2001:db8::10]:80                   1        2        3        4        5\n"
      "  -> [2001:db8:1::11]:8080               1        2        3        4        5\n";
  EXPECT_EQ(
      formatServiceList(parse(test::kServicesResult), {ListFormat::kStats, true, std::nullopt}),
      expected);
}

TEST(IpvsFormat, RateListingKeepsRealServerPacketRatesUnabbreviated) {
  const std::string expected =
      "IP Virtual Server version 1.2.1 (size=4096)\n"
      "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n"
      "  -> RemoteAddress:Port\n"
      "TCP  10.100.0.9:443                      0        0        0        0        0\n"
      "TCP  10.100.0.10:80                      2       20       18     1300   120000\n"
      "  -> 10.20.0.11:80                       2 150000000       18     1300  100000K\n"
      "  -> 10.20.0.12:80                       0        0        0        0        0\n"
      "UDP  10.100.0.10:53                      1        2        3        4        5\n"
      "  -> 10.20.0.21:53                       1        2        3        4        5\n"
      "TCP  [2001:db8::10]:80                   0        0        0        0        0\n"
      "  -> [2001:db8:1::11]:8080               0        0        0        0        0\n";
  EXPECT_EQ(
      formatServiceList(parse(test::kServicesResult), {ListFormat::kRate, false, std::nullopt}),
      expected);
}

TEST(IpvsFormat, EmptyListingHasOnlyTheHeaders) {
  EXPECT_EQ(formatServiceList(parse(R"({"services": []})"), {}),
            "IP Virtual Server version 1.2.1 (size=4096)\n"
            "Prot LocalAddress:Port Scheduler Flags\n"
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
}

TEST(IpvsFormat, MissingMembersPrintAsZerosNotCrashes) {
  const auto text = formatServiceList(
      parse(R"({"services": [{"vip": "10.1.1.1", "port": "x", "real_servers": [{}]}, 7]})"),
      {ListFormat::kStats, false, std::nullopt});
  EXPECT_NE(text.find("TCP  10.1.1.1:0"), std::string::npos) << text;
  EXPECT_NE(text.find("  -> :0 "), std::string::npos) << text;
}

TEST(IpvsFormat, LargeNumberBoundaries) {
  EXPECT_EQ(largeNumber(0, false), "        0");
  EXPECT_EQ(largeNumber(99'999'999, false), " 99999999");
  EXPECT_EQ(largeNumber(100'000'000, false), "  100000K");
  EXPECT_EQ(largeNumber(999'999'999, false), "  999999K");
  EXPECT_EQ(largeNumber(1'000'000'000, false), "    1000M");
  EXPECT_EQ(largeNumber(99'999'999'999, false), "   99999M");
  EXPECT_EQ(largeNumber(100'000'000'000, false), "     100G");
  EXPECT_EQ(largeNumber(99'999'999'999'999, false), "   99999G");
  EXPECT_EQ(largeNumber(100'000'000'000'000, false), "     100T");
  EXPECT_EQ(largeNumber(12, true), "       12");
  EXPECT_EQ(largeNumber(123'456'789, true), " 123456789");
}

TEST(IpvsFormat, SessionsTableIsIpvsadmConnectionListingWithLocalColumn) {
  const std::string expected =
      "IPVS connection entries\n"
      "pro expire state       source             virtual            local              "
      "destination\n"
      "TCP 14:59  ESTABLISHED 198.51.100.7:40312 10.100.0.10:80     10.0.5.1:1025      "
      "10.20.0.11:80\n"
      "UDP 00:05  UDP         [2001:db8:ff::1]:5353 [2001:db8::10]:53  [2001:db8:5::1]:2000 "
      "[2001:db8:1::21]:53\n"
      "(truncated: more sessions match; raise --limit)\n";
  EXPECT_EQ(formatSessions(parse(test::kSessionsResult)), expected);
}

TEST(IpvsFormat, SessionsNotTruncatedHasNoTrailer) {
  EXPECT_EQ(formatSessions(parse(R"({"sessions": [], "truncated": false})")),
            "IPVS connection entries\n"
            "pro expire state       source             virtual            local              "
            "destination\n");
}

TEST(IpvsFormat, EndpointAsObjectOrString) {
  EXPECT_EQ(endpointText(parse(R"({"address": "2001:db8::1", "port": 80})")), "[2001:db8::1]:80");
  EXPECT_EQ(endpointText(parse(R"("10.0.0.1:8")")), "10.0.0.1:8");
}

}  // namespace
}  // namespace anylb::ctl
