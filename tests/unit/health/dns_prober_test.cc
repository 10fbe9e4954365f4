// DNS_CHECK against a UDP DNS server on 127.0.0.1 (Boost.Asio, answering from the query it
// got): up, down by RCODE, and hostile servers (wrong IDs, floods, garbage, silence).
#include "health/dns_prober.h"

#include <gtest/gtest.h>

#include "dns_test_util.h"
#include "probe_outcome.h"
#include "udp_server.h"

namespace anylb::health {
namespace {

using std::chrono::milliseconds;
using testing::closedUdpPort;
using testing::DnsRecord;
using testing::dnsResponse;
using testing::expectOutcome;
using testing::kProbeMargin;
using testing::Outcome;
using testing::UdpServer;

constexpr auto kTimeout = milliseconds(500);

Target dnsTarget(uint16_t port, std::string name = "www.example.test", uint16_t type = 1) {
  Target t;
  t.rsId = 1;
  t.service = "dns";
  t.address = *IpAddr::parse("127.0.0.1");
  t.port = port;
  t.check.kind = config::CheckKind::kDns;
  t.check.dnsName = std::move(name);
  t.check.dnsType = type;
  return t;
}

Outcome probe(const Target& t) {
  return testing::runProbe<DnsProber>(t, kTimeout);
}

TEST(DnsProber, AnswerOfTheTypeIsUp) {
  std::string got;
  UdpServer s([&](std::string_view q, const UdpServer::Send& send) {
    got = std::string(q);
    send(dnsResponse(got, 0, {DnsRecord{}}));
  });
  expectOutcome(probe(dnsTarget(s.port())), true, "1 answer", kProbeMargin);
  ASSERT_GE(got.size(), 12U);
  EXPECT_EQ(got.substr(12, 18), std::string("\x03www\x07"
                                            "example\x04test\x00",
                                            18));
}

TEST(DnsProber, QueryIdsDiffer) {
  std::vector<std::string> ids;
  UdpServer s([&](std::string_view q, const UdpServer::Send& send) {
    ids.emplace_back(q.substr(0, 2));
    send(dnsResponse(std::string(q), 0, {DnsRecord{}}));
  });
  for (int i = 0; i < 4; ++i) probe(dnsTarget(s.port()));
  ASSERT_EQ(ids.size(), 4U);
  // One probe per prober here: four fresh random IDs, not all equal (1 in 2^48 to fail).
  EXPECT_FALSE(ids[0] == ids[1] && ids[1] == ids[2] && ids[2] == ids[3]);
}

TEST(DnsProber, NxdomainIsDown) {
  UdpServer s([](std::string_view q, const UdpServer::Send& send) {
    send(dnsResponse(std::string(q), 3, {}));
  });
  expectOutcome(probe(dnsTarget(s.port())), false, "rcode NXDOMAIN", kProbeMargin);
}

TEST(DnsProber, PortUnreachableIsDown) {
  expectOutcome(probe(dnsTarget(closedUdpPort())), false, "port unreachable", kProbeMargin);
}

TEST(DnsProberHostile, WrongIdIsIgnoredAndTheRightOneStillCounts) {
  UdpServer s([](std::string_view q, const UdpServer::Send& send) {
    std::string wrong(q);
    wrong[0] = static_cast<char>(wrong[0] ^ 0x5a);
    send(dnsResponse(wrong, 3, {}));  // a spoofed NXDOMAIN with another ID
    send(std::string("garbage"));
    send(dnsResponse(std::string(q), 0, {DnsRecord{}}));
  });
  expectOutcome(probe(dnsTarget(s.port())), true, "1 answer", kProbeMargin);
}

TEST(DnsProberHostile, OnlyWrongIdsTimeOut) {
  UdpServer s([](std::string_view q, const UdpServer::Send& send) {
    std::string wrong(q);
    wrong[1] = static_cast<char>(wrong[1] ^ 1);
    send(dnsResponse(wrong, 0, {DnsRecord{}}));
  });
  const Outcome o = probe(dnsTarget(s.port()));
  expectOutcome(o, false, "no matching reply", kTimeout + kProbeMargin);
  EXPECT_GE(o.took, kTimeout);
}

TEST(DnsProberHostile, FloodOfStraysEndsTheProbeEarly) {
  UdpServer s([](std::string_view, const UdpServer::Send& send) {
    for (int i = 0; i < 200; ++i) send(std::string(512, static_cast<char>(i)));
  });
  expectOutcome(probe(dnsTarget(s.port())), false, "too many unexpected datagrams", kProbeMargin);
}

TEST(DnsProberHostile, SilentServerTimesOut) {
  UdpServer s([](std::string_view, const UdpServer::Send&) {});
  expectOutcome(probe(dnsTarget(s.port())), false, "no reply", kTimeout + kProbeMargin);
}

TEST(DnsProberHostile, OversizeResponseWithLyingCountsIsDown) {
  UdpServer s([](std::string_view q, const UdpServer::Send& send) {
    std::string r = dnsResponse(std::string(q), 0, {DnsRecord{}});
    r[6] = static_cast<char>(0xff);
    r[7] = static_cast<char>(0xff);  // 65535 answers claimed
    r += std::string(60000, '\xc0');
    send(r);
  });
  expectOutcome(probe(dnsTarget(s.port())), false, "malformed answer", kProbeMargin);
}

}  // namespace
}  // namespace anylb::health
