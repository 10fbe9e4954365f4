// UDP_CHECK against a real UDP server on 127.0.0.1, and hostile ones: port unreachable,
// silence, wrong and oversize replies, floods.
#include "health/udp_prober.h"

#include <gtest/gtest.h>

#include "probe_outcome.h"
#include "udp_server.h"

namespace anylb::health {
namespace {

using std::chrono::milliseconds;
using testing::closedUdpPort;
using testing::expectOutcome;
using testing::kProbeMargin;
using testing::Outcome;
using testing::UdpServer;

constexpr auto kTimeout = milliseconds(500);

Target udpTarget(uint16_t port, std::string payload, bool requireReply = false,
                 std::string expect = "") {
  Target t;
  t.rsId = 1;
  t.service = "udp";
  t.address = *IpAddr::parse("127.0.0.1");
  t.port = port;
  t.check.kind = config::CheckKind::kUdp;
  t.check.udpPayload = std::move(payload);
  t.check.requireReply = requireReply;
  t.check.expectReply = std::move(expect);
  return t;
}

Outcome probe(const Target& t) {
  return testing::runProbe<UdpProber>(t, kTimeout);
}

UdpServer::Behaviour echo() {
  return [](std::string_view req, const UdpServer::Send& send) { send(std::string(req)); };
}

TEST(UdpProber, EchoedPayloadMatchesTheExpectedPrefix) {
  std::string got;
  UdpServer s([&](std::string_view req, const UdpServer::Send& send) {
    got = std::string(req);
    send("PONG " + std::string(req));
  });
  const std::string payload("PING\x00\x01", 6);
  expectOutcome(probe(udpTarget(s.port(), payload, true, "PONG PING")), true, "reply",
                kProbeMargin);
  EXPECT_EQ(got, payload);
}

TEST(UdpProber, AnyReplyWhenNoneIsExpected) {
  UdpServer s(echo());
  expectOutcome(probe(udpTarget(s.port(), "x", true)), true, "reply", kProbeMargin);
}

TEST(UdpProber, WrongReplyIsDown) {
  UdpServer s([](std::string_view, const UdpServer::Send& send) { send("NOPE"); });
  expectOutcome(probe(udpTarget(s.port(), "PING", true, "PONG")), false, "reply mismatch",
                kProbeMargin);
}

TEST(UdpProber, PortUnreachableIsDown) {
  expectOutcome(probe(udpTarget(closedUdpPort(), "PING")), false, "port unreachable", kProbeMargin);
  expectOutcome(probe(udpTarget(closedUdpPort(), "PING", true)), false, "port unreachable",
                kProbeMargin);
}

TEST(UdpProber, SilenceIsUpWithoutRequireReplyAndDownWithIt) {
  UdpServer s([](std::string_view, const UdpServer::Send&) {});
  Outcome o = probe(udpTarget(s.port(), "PING"));
  expectOutcome(o, true, "no ICMP error", kTimeout + kProbeMargin);
  EXPECT_GE(o.took, kTimeout);
  o = probe(udpTarget(s.port(), "PING", true));
  expectOutcome(o, false, "no reply", kTimeout + kProbeMargin);
  EXPECT_EQ(s.received(), 2);
}

TEST(UdpProberHostile, OversizeReplyIsJudgedByItsPrefix) {
  UdpServer s([](std::string_view, const UdpServer::Send& send) {
    send("PONG" + std::string(65000, 'x'));
  });
  expectOutcome(probe(udpTarget(s.port(), "PING", true, "PONG")), true, "reply", kProbeMargin);
}

TEST(UdpProberHostile, EmptyReplyDoesNotMatchAPrefix) {
  UdpServer s([](std::string_view, const UdpServer::Send& send) { send(""); });
  expectOutcome(probe(udpTarget(s.port(), "PING", true, "PONG")), false, "reply mismatch",
                kProbeMargin);
}

}  // namespace
}  // namespace anylb::health
