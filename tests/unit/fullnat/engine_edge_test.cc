// The engine at its edges: ICMP errors, persistence, quiescence, exhaustion, malformed input.
#include <gtest/gtest.h>

#include <set>

#include "engine_fixture.h"

namespace anylb::testing {
namespace {

using fullnat::DropReason;
using fullnat::Verdict;

class Edge : public EngineTest {
 protected:
  // SYN / SYN-ACK / ACK on `cport` toward VIP:`vport`; returns the session.
  const session::Session* connect(uint16_t cport, uint16_t vport = 80,
                                  const char* client = kClient) {
    auto syn = fromClient(kSyn, kMss, {}, cport, vport);
    syn.src = client;
    const auto out = run(frame(syn));
    EXPECT_EQ(out.v.verdict, Verdict::kForward) << fullnat::dropReasonName(out.v.reason);
    return findInbound(client, cport, vport);
  }
};

TEST_F(Edge, IcmpFragNeededFromTheRsSideReachesTheClient) {
  const auto syn = fromClient(kSyn, kMss);
  expectForward(syn, toRs(syn, kMss));
  const auto synAck = fromRs(kSyn | kAck, kMss);
  expectForward(synAck, toClient(synAck, kMssClamped));
  const auto ack = fromClient(kAck, {}, {1, 2, 3});
  const auto sent = toRs(ack, optToa(40000, kClient));
  expectForward(ack, sent);

  // A router on the RS side cannot forward `sent` (MTU 1400) and tells the LIP.
  L4Spec icmp;
  icmp.proto = 1;
  icmp.src = "10.20.0.1";
  icmp.dst = kLip;
  icmp.icmpType = 3;
  icmp.icmpCode = 4;
  icmp.icmpRest = 1400;
  icmp.payload = ipPacket(sent);
  // The client gets it from the VIP, quoting what it sent itself: CIP:CPORT -> VIP:VPORT.
  L4Spec quoted = sent;
  quoted.src = kClient;
  quoted.dst = kVip;
  quoted.sport = 40000;
  quoted.dport = 80;
  L4Spec expected = icmp;
  expected.src = kVip;
  expected.dst = kClient;
  expected.ttl = 63;
  expected.payload = ipPacket(quoted);
  expectForward(icmp, expected);
  EXPECT_EQ(worker_->counters().icmpTranslated, 1U);
}

TEST_F(Edge, IcmpFromTheClientSideReachesTheRs) {
  const auto syn = fromClient(kSyn, kMss);
  expectForward(syn, toRs(syn, kMss));
  const auto synAck = fromRs(kSyn | kAck, kMss);
  const auto toC = toClient(synAck, kMssClamped);
  expectForward(synAck, toC);
  // Only the first 8 bytes of TCP quoted (RFC 792): no inner L4 checksum to fix.
  const L4Spec icmp = fragNeededToVipQuoting(toC);
  L4Spec quotedForRs = toC;
  quotedForRs.src = kRs;
  quotedForRs.dst = kLip;
  quotedForRs.sport = 8080;
  quotedForRs.dport = 1024;
  auto expectedQuote = ipPacket(quotedForRs);
  expectedQuote.resize(28);
  L4Spec expected = icmp;
  expected.src = kLip;
  expected.dst = kRs;
  expected.ttl = 63;
  expected.payload = expectedQuote;
  expectForward(icmp, expected);
}

TEST_F(Edge, PersistenceKeepsAClientOnOneRs) {
  const auto* a = connect(40001, 81);
  const auto* b = connect(40002, 81);
  const auto* c = connect(40003, 81, "192.0.2.8");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->rip, b->rip);
  EXPECT_NE(a->rip, c->rip);  // rr moved on for the other client
  // Without persistence, rr alternates for the same client too.
  cfg_.services[2].persistence = 0;
  makeWorker(1024, 0, 1);
  const auto* d = connect(40001, 81);
  const auto* e = connect(40002, 81);
  EXPECT_NE(d->rip, e->rip);
}

TEST_F(Edge, WeightZeroTakesNoNewSessionsButKeepsItsOwn) {
  const auto* s = connect(40001, 82);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(IpAddr::parse("10.20.0.42")->bytes[3], s->rip.b[3]);
  const uint16_t lport = s->lport;
  // Swap: .41 gets weight 1, .42 weight 0 (rsIds 4 and 5 in config order).
  reweight({{4, 1}, {5, 0}});
  // The established session keeps going to .42.
  auto data = fromClient(kAck, {}, {7}, 40001, 82);
  const auto out = run(frame(data));
  ASSERT_EQ(out.v.verdict, Verdict::kForward);
  EXPECT_EQ(out.bytes[14 + 19], 42);  // IP destination's last byte
  EXPECT_EQ(out.bytes[14 + 20] << 8 | out.bytes[14 + 21], ntohs(lport));
  // New ones go to .41.
  const auto* n = connect(40002, 82);
  EXPECT_EQ(n->rip.b[3], 41);
  // All zero: refused and counted.
  reweight({{4, 0}, {5, 0}});
  const auto refused = run(frame(fromClient(kSyn, kMss, {}, 40003, 82)));
  EXPECT_EQ(refused.v.reason, DropReason::kNoRealServer);
}

TEST_F(Edge, FullSessionTableRefusesOnlyNewConnections) {
  makeWorker(2, 0, 1);
  ASSERT_NE(connect(40001), nullptr);
  ASSERT_NE(connect(40002), nullptr);
  const auto out = run(frame(fromClient(kSyn, kMss, {}, 40003)));
  EXPECT_EQ(out.v.reason, DropReason::kSessionTableFull);
  EXPECT_EQ(worker_->sessions().size(), 2U);
  // Existing sessions still forward.
  const auto ok = run(frame(fromClient(kAck, {}, {1}, 40001)));
  EXPECT_EQ(ok.v.verdict, Verdict::kForward);
}

TEST_F(Edge, ExhaustedPortsRefuseOnlyThatRsAndPortsAreSharedAcrossRs) {
  // Worker 0 of 1024 owns 63 ports of the single LIP: 1024, 2048, ..., 64512.
  makeWorker(1024, 0, 1024);
  std::set<uint16_t> ports;
  for (uint16_t i = 0; i < 63; ++i) {
    const auto* s = connect(static_cast<uint16_t>(30000 + i));
    ASSERT_NE(s, nullptr) << i;
    ports.insert(ntohs(s->lport));
    EXPECT_EQ(ntohs(s->lport) % 1024, 0);
  }
  EXPECT_EQ(ports.size(), 63U);
  const auto out = run(frame(fromClient(kSyn, kMss, {}, 31000)));
  EXPECT_EQ(out.v.reason, DropReason::kNoLocalPort);
  // Toward another RS the same LIP:LPORTs are free again (the 5-tuples differ).
  const auto* other = connect(31001, 81);
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(ports.contains(ntohs(other->lport)));
}

TEST_F(Edge, RepliesForAnotherWorkersPortAreRedirectedToIt) {
  makeWorker(1024, 1, 2);  // worker 1 of 2 owns the odd ports
  const auto out = run(frame(fromRs(kAck, {}, {1}, 2000)));
  EXPECT_EQ(out.v.verdict, Verdict::kRedirect);
  EXPECT_EQ(out.v.worker, 0);
  EXPECT_EQ(worker_->counters().redirected, 1U);
}

TEST_F(Edge, PacketsForTheNodeGoToTheKernel) {
  auto bgp = fromClient(kSyn, kMss, {}, 50000, 179);
  bgp.dst = "10.1.0.2";
  EXPECT_EQ(run(frame(bgp)).v.verdict, Verdict::kToKernel);
  std::vector<uint8_t> arp = frame(ipPacket(bgp));
  arp[12] = 0x08;
  arp[13] = 0x06;
  EXPECT_EQ(run(arp).v.verdict, Verdict::kToKernel);
  EXPECT_EQ(worker_->sessions().size(), 0U);
}

// eBGP and BFD single-hop arrive with TTL 1 (or 255): the node's own traffic is the kernel's
// whatever its TTL, while a TTL-1 packet for a VIP is dropped (ttl_1 below). Both go through
// the session lookup first (the service is looked up only on a miss).
TEST_F(Edge, NodeTrafficWithTtlOneStillGoesToTheKernel) {
  auto bgp = fromClient(kAck, {}, {1}, 50000, 179);
  bgp.dst = "10.1.0.2";
  bgp.ttl = 1;
  EXPECT_EQ(run(frame(bgp)).v.verdict, Verdict::kToKernel);
  auto vip = fromClient(kSyn, kMss);
  vip.ttl = 1;
  EXPECT_EQ(run(frame(vip)).v.reason, DropReason::kTtlExceeded);
  EXPECT_EQ(worker_->sessions().size(), 0U);
}

// --- malformed input: dropped with its reason, and nothing else changes

void fixIpChecksum(std::vector<uint8_t>& f) {
  f[24] = f[25] = 0;
  const size_t ihl = std::min<size_t>((f[14] & 0x0F) * 4U, f.size() - 14);
  put16(f, 24, foldSum(sumBytes(&f[14], ihl)));
}

struct Bad {
  const char* name;
  std::vector<uint8_t> frame;
  DropReason reason;
};

// NOLINTNEXTLINE(readability-identifier-naming): the name gtest looks for
void PrintTo(const Bad& b, std::ostream* os) {
  *os << b.name;
}

std::vector<Bad> badFrames() {
  const auto syn = frame(fromClient(kSyn, kMss));
  auto with = [&](auto mutate, bool fixSum = true) {
    auto f = syn;
    mutate(f);
    if (fixSum) fixIpChecksum(f);
    return f;
  };
  auto toAddress = [](const char* dst) {
    L4Spec s = fromClient(kSyn, kMss);
    s.dst = dst;
    return s;
  };
  auto fromAddress = [](const char* src) {
    L4Spec s = fromClient(kSyn, kMss);
    s.src = src;
    return s;
  };
  auto tcpOpts = [&](std::vector<uint8_t> opts) {
    return frame(fromClient(kSyn, std::move(opts)));
  };
  L4Spec udp = fromClient(0, {}, {1, 2, 3}, 5353, 53);
  udp.proto = 17;
  L4Spec gre = fromClient(0);
  gre.proto = 47;
  L4Spec echo;
  echo.proto = 1;
  echo.src = kClient;
  echo.dst = kVip;
  echo.icmpType = 8;
  echo.icmpCode = 0;
  L4Spec shortErr = echo;
  shortErr.icmpType = 3;
  shortErr.payload = {0x45, 0, 0, 20};
  L4Spec unknownErr = shortErr;
  unknownErr.payload = ipPacket(toClient(fromRs(kAck), {}, 47000));
  return {
      {"truncated_l2", {syn.begin(), syn.begin() + 10}, DropReason::kTruncatedL2},
      {"lldp", with([](auto& f) { f[12] = 0x88, f[13] = 0xcc; }, false),
       DropReason::kUnsupportedL3},
      {"ipv4_under_the_ipv6_ethertype", with([](auto& f) { f[13] = 0xdd, f[12] = 0x86; }, false),
       DropReason::kBadIpVersion},
      {"truncated_ip", {syn.begin(), syn.begin() + 24}, DropReason::kTruncatedIp},
      {"ip_version_6", with([](auto& f) { f[14] = 0x65; }), DropReason::kBadIpVersion},
      {"ihl_below_5", with([](auto& f) { f[14] = 0x44; }), DropReason::kBadIhl},
      {"ihl_beyond_packet", with([](auto& f) { f[14] = 0x4f, f.resize(14 + 40); }, false),
       DropReason::kBadIhl},
      {"total_length_beyond_frame", with([](auto& f) { put16(f, 16, 1000); }),
       DropReason::kBadIpLength},
      {"total_length_below_header", with([](auto& f) { put16(f, 16, 10); }),
       DropReason::kBadIpLength},
      {"bad_ip_checksum", with([](auto& f) { f[24] ^= 0xFF; }, false), DropReason::kBadIpChecksum},
      {"more_fragments", with([](auto& f) { put16(f, 20, 0x2000); }), DropReason::kFragment},
      {"fragment_offset", with([](auto& f) { put16(f, 20, 0x0010); }), DropReason::kFragment},
      {"ttl_1", with([](auto& f) { f[22] = 1; }), DropReason::kTtlExceeded},
      {"truncated_tcp", with([](auto& f) { put16(f, 16, 30), f.resize(14 + 30); }),
       DropReason::kTruncatedL4},
      {"tcp_offset_below_5", with([](auto& f) { f[34 + 12] = 0x40; }), DropReason::kBadTcpOffset},
      {"tcp_offset_beyond_packet", with([](auto& f) { f[34 + 12] = 0xf0; }),
       DropReason::kBadTcpOffset},
      {"option_length_0", tcpOpts({2, 0, 5, 0xb4}), DropReason::kBadTcpOptions},
      {"option_length_1", tcpOpts({3, 1, 1, 1}), DropReason::kBadTcpOptions},
      {"option_overruns_header", tcpOpts({1, 1, 8, 10}), DropReason::kBadTcpOptions},
      {"option_kind_without_length", tcpOpts({1, 1, 1, 2}), DropReason::kBadTcpOptions},
      {"mss_wrong_length", tcpOpts({2, 3, 5, 1}), DropReason::kBadTcpOptions},
      {"udp_length_mismatch", with([&](auto& f) { f = frame(udp), put16(f, 34 + 4, 99); }, false),
       DropReason::kBadUdpLength},
      {"unsupported_protocol", frame(gre), DropReason::kUnsupportedL4},
      {"not_local", frame(toAddress("198.51.100.5")), DropReason::kNotLocal},
      // A SYN whose TCP checksum is wrong (no NIC verdict): checked in software.
      {"syn_bad_tcp_checksum", with([](auto& f) { f[34 + 16] ^= 0x5a; }),
       DropReason::kBadL4Checksum},
      // Martian sources (RFC 1812 5.3.7) and our own addresses as a client.
      {"martian_src_zero", frame(fromAddress("0.0.0.0")), DropReason::kMartianSource},
      {"martian_src_broadcast", frame(fromAddress("255.255.255.255")), DropReason::kMartianSource},
      {"martian_src_multicast", frame(fromAddress("224.0.0.5")), DropReason::kMartianSource},
      {"martian_src_loopback", frame(fromAddress("127.0.0.1")), DropReason::kMartianSource},
      {"martian_src_class_e", frame(fromAddress("240.1.2.3")), DropReason::kMartianSource},
      {"martian_src_this_net", frame(fromAddress("0.1.2.3")), DropReason::kMartianSource},
      {"src_is_the_vip", frame(fromAddress(kVip)), DropReason::kMartianSource},
      {"src_is_a_lip", frame(fromAddress(kLip)), DropReason::kMartianSource},
      {"vip_without_service", frame(fromClient(kSyn, kMss, {}, 40000, 9999)),
       DropReason::kNoService},
      {"icmp_echo_to_vip", frame(echo), DropReason::kIcmpUnsupported},
      {"icmp_error_truncated", frame(shortErr), DropReason::kIcmpTruncated},
      {"icmp_error_for_no_session", frame(unknownErr), DropReason::kIcmpNoSession},
  };
}

class Malformed : public EngineTest, public ::testing::WithParamInterface<Bad> {};

TEST_P(Malformed, IsDroppedWithItsReasonAndChangesNothingElse) {
  // A live session that must survive untouched.
  run(frame(fromClient(kSyn, kMss, {}, 41000)));
  const auto before = worker_->counters();
  const auto& bad = GetParam();
  const auto out = run(bad.frame);
  EXPECT_EQ(out.v.verdict, Verdict::kDrop);
  EXPECT_EQ(fullnat::dropReasonName(out.v.reason),
            std::string(fullnat::dropReasonName(bad.reason)));
  EXPECT_EQ(out.bytes, bad.frame);
  const auto& after = worker_->counters();
  for (unsigned r = 0; r < fullnat::kDropReasonCount; ++r) {
    const uint64_t want = before.drops[r] + (r == static_cast<unsigned>(bad.reason) ? 1 : 0);
    EXPECT_EQ(after.drops[r], want) << fullnat::dropReasonName(static_cast<DropReason>(r));
  }
  EXPECT_EQ(after.dropped, before.dropped + 1);
  EXPECT_EQ(after.forwarded, before.forwarded);
  EXPECT_EQ(after.sessionsCreated, before.sessionsCreated);
  EXPECT_EQ(worker_->sessions().size(), 1U);
  // And the live session still forwards.
  EXPECT_EQ(run(frame(fromClient(kAck, {}, {1}, 41000))).v.verdict, Verdict::kForward);
}

INSTANTIATE_TEST_SUITE_P(Engine, Malformed, ::testing::ValuesIn(badFrames()),
                         [](const auto& info) { return std::string(info.param.name); });

// local_addresses.port_min / port_max: every worker takes only its ports of the range (LPORT %
// workers == id), from wherever its cursor starts, and a flood of new connections toward one
// RS ends at the range's size with kNoLocalPort, not with a port outside it.
TEST_F(Edge, LocalPortsStayInsidePortMinToPortMax) {
  cfg_.localPortMin = 5001;
  cfg_.localPortMax = 5010;
  fullnat::EngineOptions opts;
  opts.randomPortStart = true;
  makeWorker(1024, 1, 2, opts);  // worker 1 of 2: the odd ports 5001, 5003, ..., 5009
  std::set<uint16_t> ports;
  for (uint16_t i = 0; i < 5; ++i) {
    const auto* s = connect(static_cast<uint16_t>(30000 + i));
    ASSERT_NE(s, nullptr) << i;
    ports.insert(ntohs(s->lport));
  }
  EXPECT_EQ(ports, (std::set<uint16_t>{5001, 5003, 5005, 5007, 5009}));
  for (uint16_t i = 0; i < 20; ++i) {
    const auto out = run(frame(fromClient(kSyn, kMss, {}, static_cast<uint16_t>(31000 + i))));
    EXPECT_EQ(out.v.reason, DropReason::kNoLocalPort) << i;
  }
  EXPECT_EQ(worker_->sessions().size(), 5U);
  // Worker 0 of 2 gets the even ones.
  makeWorker(1024, 0, 2, opts);
  const auto* s = connect(32000);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(ntohs(s->lport) % 2, 0);
  EXPECT_GE(ntohs(s->lport), 5002);
  EXPECT_LE(ntohs(s->lport), 5010);
}

// The dataplane's workers start allocating local ports at a random place, so a restarted node
// does not reuse the LIP:LPORT -> RS tuples its previous run left in TIME_WAIT on the RS.
TEST_F(Edge, RandomPortStartDoesNotBeginAtTheFirstPort) {
  fullnat::EngineOptions opts;
  opts.randomPortStart = true;
  std::set<uint16_t> first;
  for (uint16_t run = 0; run < 4; ++run) {
    makeWorker(1024, 0, 1, opts);
    const auto* s = connect(static_cast<uint16_t>(40000 + run));
    ASSERT_NE(s, nullptr);
    first.insert(ntohs(s->lport));
  }
  // The same first port in four runs: a chance of 1 in 2^48 with random starts.
  EXPECT_GT(first.size(), 1U);
  // Without it, the first port of every run is the first of the range.
  makeWorker(1024, 0, 1);
  const auto* s = connect(41000);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(ntohs(s->lport), 1024);
}

}  // namespace
}  // namespace anylb::testing
