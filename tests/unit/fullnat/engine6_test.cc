// IPv6 FULLNAT fixtures: CIP6:CPORT -> VIP6:VPORT becomes LIP6:LPORT -> RIP6:RPORT and back,
// TOA for IPv6 clients (kind 254, length 20), ICMPv6 errors, extension headers, and hostile
// IPv6 frames. Every output frame is compared byte for byte with one built independently, and
// every checksum recomputed in full (tests/unit/fullnat/packet.h).
#include <gtest/gtest.h>

#include "engine_fixture.h"

namespace anylb::testing {
namespace {

using fullnat::DropReason;
using fullnat::Verdict;
using session::TcpState;

// Linux's SYN options on an IPv6 socket (MSS 1440), with the timestamp the engine strips.
const std::vector<uint8_t> kSynOpts6 = {2, 4, 0x05, 0xa0, 4, 2, 8, 10, 0, 0,
                                        0, 1, 0,    0,    0, 0, 1, 3,  3, 7};
const std::vector<uint8_t> kSynStripped6 = {2, 4, 0x05, 0xa0, 4, 2, 1, 1, 1, 1,
                                            1, 1, 1,    1,    1, 1, 1, 3, 3, 7};
// The RS's SYN-ACK (MSS 1440) and as it leaves the node: 1440 - 20 (TOA) = 1420, which is also
// the 1500-byte uplink's ceiling (1500 - 40 IPv6 - 20 TCP - 20 TOA).
const std::vector<uint8_t> kSynAckOpts6 = {2, 4, 0x05, 0xa0, 1, 1, 4, 2, 1, 3, 3, 7};
const std::vector<uint8_t> kSynAckClamped6 = {2, 4, 0x05, 0x8c, 1, 1, 4, 2, 1, 3, 3, 7};
const std::vector<uint8_t> kToa6 = optToa6(40000, kClient6);
const std::vector<uint8_t> kData = {'G', 'E', 'T', ' ', '/', '\r', '\n', '\r', '\n'};

L4Spec fromClient6(uint8_t flags, std::vector<uint8_t> opts = {}, std::vector<uint8_t> payload = {},
                   uint16_t cport = 40000) {
  L4Spec s = fromClient(flags, std::move(opts), std::move(payload), cport);
  s.src = kClient6;
  s.dst = kVip6;
  s.flowLabel = 0x12345;
  return s;
}
L4Spec toRs6(const L4Spec& c, std::vector<uint8_t> opts, uint16_t rport = 8080,
             const char* rs = kRs6) {
  return toRs(c, std::move(opts), 1024, rs, rport);
}
L4Spec fromRs6(uint8_t flags, std::vector<uint8_t> opts = {}, std::vector<uint8_t> payload = {}) {
  L4Spec s = fromRs(flags, std::move(opts), std::move(payload));
  s.src = kRs6;
  s.dst = kLip6;
  return s;
}
L4Spec toClient6(const L4Spec& r, std::vector<uint8_t> opts) {
  L4Spec s = toClient(r, std::move(opts));
  s.src = kVip6;
  s.dst = kClient6;
  return s;
}

class Engine6 : public EngineTest {
 protected:
  // toRs()/toClient() keep the spec's addresses' family: fix the v6 ones up.
  static L4Spec rsSide(L4Spec s) {
    s.src = kLip6;
    return s;
  }
  void handshake() {
    const auto syn = fromClient6(kSyn, kSynOpts6);
    expectForward(syn, rsSide(toRs6(syn, kSynStripped6)));
    const auto synAck = fromRs6(kSyn | kAck, kSynAckOpts6);
    expectForward(synAck, toClient6(synAck, kSynAckClamped6));
    const auto ack = fromClient6(kAck);
    expectForward(ack, rsSide(toRs6(ack, kToa6)));
  }
  const session::Session* session6(uint16_t cport = 40000, uint16_t vport = 80, uint8_t proto = 6) {
    session::FlowKey k{};
    k.src = fullnat::toAddr(*IpAddr::parse(kClient6));
    k.dst = fullnat::toAddr(*IpAddr::parse(kVip6));
    k.sport = htons(cport);
    k.dport = htons(vport);
    k.proto = proto;
    const auto& t = worker_->sessions();
    const uint32_t idx = t.find(t.hash(k), session::Dir::kIn, k);
    return idx == session::SessionTable::kInvalid ? nullptr : &t.at(idx);
  }
  DropReason dropOf(const std::vector<uint8_t>& f) {
    const auto out = run(f);
    EXPECT_EQ(out.v.verdict, Verdict::kDrop);
    return out.v.reason;
  }
};

TEST_F(Engine6, HandshakeTranslatesBothWaysAndTheAckCarriesAToaOfTwentyBytes) {
  handshake();
  const auto* s = session6();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->family, 6);
  EXPECT_EQ(s->state, TcpState::kEstablished);
  EXPECT_EQ(worker_->counters().toaInserted, 1U);
  EXPECT_EQ(worker_->counters().mssClamped, 1U);
  EXPECT_EQ(worker_->checkInvariants(), "");
}

// As engine_test's StaleConnectionAtTheRsIsResetAndTheRetriedSynOpens, over IPv6: the RST to
// the RS is an IPv6 segment of its own.
TEST_F(Engine6, StaleConnectionAtTheRsIsResetAndTheRetriedSynOpens) {
  const auto syn = fromClient6(kSyn, kSynOpts6);
  expectForward(syn, rsSide(toRs6(syn, kSynStripped6)));
  auto stale = fromRs6(kAck);
  stale.seq = 777000;
  stale.ack = 123456789;
  expectForward(stale, staleRst(kLip6, kRs6, 123456789));
  EXPECT_EQ(worker_->counters().staleRsResets, 1U);
  expectForward(syn, rsSide(toRs6(syn, kSynStripped6)));
  const auto synAck = fromRs6(kSyn | kAck, kSynAckOpts6);
  expectForward(synAck, toClient6(synAck, kSynAckClamped6));
  EXPECT_EQ(worker_->checkInvariants(), "");
}

TEST_F(Engine6, DataBothWaysThenFinsThenTimeWaitExpires) {
  handshake();
  const auto req = fromClient6(kPsh | kAck, {}, kData);
  expectForward(req, rsSide(toRs6(req, kToa6)));
  const auto resp = fromRs6(kPsh | kAck, {}, kData);
  expectForward(resp, toClient6(resp, {}));
  const auto more = fromClient6(kAck, {}, kData);  // the RS spoke: no TOA any more
  expectForward(more, rsSide(toRs6(more, {})));
  const auto fin = fromClient6(kFin | kAck);
  expectForward(fin, rsSide(toRs6(fin, {})));
  const auto rsFin = fromRs6(kFin | kAck);
  expectForward(rsFin, toClient6(rsFin, {}));
  const auto last = fromClient6(kAck);
  expectForward(last, rsSide(toRs6(last, {})));
  EXPECT_EQ(session6()->state, TcpState::kTimeWait);
  EXPECT_EQ(worker_->expire(1000 + 100'000), 0U);
  EXPECT_EQ(worker_->expire(1000 + 125'000), 1U);
  EXPECT_EQ(session6(), nullptr);
}

TEST_F(Engine6, RstFromTheClientClosesTheSession) {
  handshake();
  auto rst = fromClient6(kRst);
  rst.seq = 1001;  // exactly the next sequence number (RFC 5961)
  expectForward(rst, rsSide(toRs6(rst, {})));
  EXPECT_EQ(session6()->state, TcpState::kClose);
}

TEST_F(Engine6, UdpBothWays) {
  L4Spec q;
  q.proto = 17;
  q.src = kClient6;
  q.dst = kVip6;
  q.sport = 5353;
  q.dport = 53;
  q.payload = kData;
  L4Spec atRs = q;
  atRs.src = kLip6;
  atRs.dst = "fd00:20::21";
  atRs.sport = 1024;
  atRs.ttl = 63;
  expectForward(q, atRs);
  L4Spec a = atRs;
  std::swap(a.src, a.dst);
  std::swap(a.sport, a.dport);
  a.ttl = 64;
  L4Spec atClient = q;
  std::swap(atClient.src, atClient.dst);
  std::swap(atClient.sport, atClient.dport);
  atClient.ttl = 63;
  expectForward(a, atClient);
  EXPECT_NE(session6(5353, 53, 17), nullptr);
}

TEST_F(Engine6, UdpWithoutChecksumIsDropped) {
  L4Spec q;
  q.proto = 17;
  q.src = kClient6;
  q.dst = kVip6;
  q.sport = 5353;
  q.dport = 53;
  q.udpNoChecksum = true;
  EXPECT_EQ(dropOf(frame(q)), DropReason::kBadL4Checksum);
}

TEST_F(Engine6, ClientToaIsReplacedNotTrusted) {
  const auto syn = fromClient6(kSyn, kSynOpts6);
  expectForward(syn, rsSide(toRs6(syn, kSynStripped6)));
  const auto synAck = fromRs6(kSyn | kAck, kSynAckOpts6);
  expectForward(synAck, toClient6(synAck, kSynAckClamped6));
  // The client forges a TOA naming somebody else: scrubbed to NOPs, the real one goes first.
  const auto ack = fromClient6(kAck, optToa6(1, "2001:db8::666"));
  expectForward(ack, rsSide(toRs6(ack, cat(kToa6, std::vector<uint8_t>(20, 1)))));
  EXPECT_EQ(worker_->counters().toaForgedRemoved, 1U);
}

TEST_F(Engine6, DestinationOptionsAndAFinishedRoutingHeaderAreCarriedThrough) {
  auto syn = fromClient6(kSyn, kSynOpts6);
  std::vector<uint8_t> dstOpts = {0, 0, 1, 4, 0, 0, 0, 0};  // PadN
  std::vector<uint8_t> srh = {0, 0, 4, 0, 0, 0, 0, 0};      // type 4, segments left 0
  syn.ext6 = {{60, dstOpts}, {43, srh}};
  auto want = rsSide(toRs6(syn, kSynStripped6));
  expectForward(syn, want);
  EXPECT_NE(session6(), nullptr);
}

TEST_F(Engine6, HostileExtensionHeadersAreDroppedUnderTheirOwnReasons) {
  auto syn = fromClient6(kSyn, kSynOpts6);
  syn.ext6 = {{0, {0, 0, 1, 4, 0, 0, 0, 0}}};
  EXPECT_EQ(dropOf(frame(syn)), DropReason::kIpv6HopByHop);
  syn.ext6 = {{43, {0, 0, 0, 1, 0, 0, 0, 0}}};  // type 0 (RFC 5095)
  EXPECT_EQ(dropOf(frame(syn)), DropReason::kIpv6Routing);
  syn.ext6 = {{43, {0, 0, 4, 2, 0, 0, 0, 0}}};  // segments left: not ours to skip
  EXPECT_EQ(dropOf(frame(syn)), DropReason::kIpv6Routing);
  syn.ext6 = {{44, {0, 0, 0, 1, 0, 0, 0, 1}}};  // fragment
  EXPECT_EQ(dropOf(frame(syn)), DropReason::kFragment);
  syn.ext6.assign(9, {60, {0, 0, 1, 4, 0, 0, 0, 0}});  // a chain longer than 8
  EXPECT_EQ(dropOf(frame(syn)), DropReason::kIpv6ExtHeaders);
  syn.ext6 = {{60, {0, 40, 1, 4, 0, 0, 0, 0}}};  // claims 328 bytes
  auto f = frame(syn);
  EXPECT_EQ(dropOf(f), DropReason::kIpv6ExtHeaders);
  syn.ext6.clear();
  syn.proto = 50;  // ESP: not ours
  EXPECT_EQ(dropOf(frame(syn)), DropReason::kUnsupportedL4);
  EXPECT_EQ(worker_->sessions().size(), 0U);
}

TEST_F(Engine6, MalformedHeadersAreDropped) {
  const auto good = frame(fromClient6(kSyn, kSynOpts6));
  auto f = good;
  f.resize(14 + 39);  // truncated IPv6 header
  EXPECT_EQ(dropOf(f), DropReason::kTruncatedIp);
  f = good;
  f[14] = 0x45;  // IPv4 version under the IPv6 EtherType
  EXPECT_EQ(dropOf(f), DropReason::kBadIpVersion);
  f = good;
  put16(f, 18, static_cast<uint16_t>(get16(f, 18) + 1));  // payload length beyond the frame
  EXPECT_EQ(dropOf(f), DropReason::kBadIpLength);
  f = good;
  put16(f, 18, 10);  // payload too short for a TCP header
  EXPECT_EQ(dropOf(f), DropReason::kTruncatedL4);
  f = good;
  f[14 + 40 + 17] ^= 0x01;  // SYN checksum wrong (checked in software)
  EXPECT_EQ(dropOf(f), DropReason::kBadL4Checksum);
  auto ttl1 = fromClient6(kSyn, kSynOpts6);
  ttl1.ttl = 1;
  EXPECT_EQ(dropOf(frame(ttl1)), DropReason::kTtlExceeded);
  EXPECT_EQ(worker_->sessions().size(), 0U);
}

TEST_F(Engine6, PaddedFrameIsTrimmedToThePayloadLength) {
  auto syn = fromClient6(kSyn, kSynOpts6);
  auto f = frame(syn);
  f.insert(f.end(), 6, 0xEE);
  const auto out = run(f);
  ASSERT_EQ(out.v.verdict, Verdict::kForward);
  EXPECT_EQ(out.bytes, frame(rsSide(toRs6(syn, kSynStripped6))));
}

TEST_F(Engine6, MartianSourcesAreDropped) {
  for (const char* src : {"::1", "::", "fe80::1", "ff02::1", "::ffff:192.0.2.1", kVip6, kLip6}) {
    auto syn = fromClient6(kSyn, kSynOpts6);
    syn.src = src;
    EXPECT_EQ(dropOf(frame(syn)), DropReason::kMartianSource) << src;
  }
  EXPECT_EQ(worker_->sessions().size(), 0U);
}

TEST_F(Engine6, NeighborDiscoveryLinkLocalAndNodeTrafficGoToTheKernel) {
  L4Spec ns;  // neighbour solicitation for the node's address, to its solicited-node group
  ns.proto = 58;
  ns.src = "fd00:1::1";
  ns.dst = "ff02::1:ff00:2";
  ns.icmpType = 135;
  ns.icmpCode = 0;
  ns.ttl = 255;
  ns.payload.assign(16, 0);
  putAddr(ns.payload, 0, kNode6);
  EXPECT_EQ(run(frame(ns)).v.verdict, Verdict::kToKernel);
  ns.icmpType = 136;  // an advertisement, unicast to the node
  ns.dst = kNode6;
  EXPECT_EQ(run(frame(ns)).v.verdict, Verdict::kToKernel);
  auto bgp = fromClient6(kSyn);  // BGP or SSH to the node's uplink address
  bgp.src = "fd00:1::1";
  bgp.dst = kNode6;
  bgp.dport = 179;
  EXPECT_EQ(run(frame(bgp)).v.verdict, Verdict::kToKernel);
  bgp.dst = "fe80::2";
  EXPECT_EQ(run(frame(bgp)).v.verdict, Verdict::kToKernel);
  L4Spec echo = ns;  // an echo request to a VIP: not ours to answer
  echo.icmpType = 128;
  echo.dst = kVip6;
  echo.src = kClient6;
  EXPECT_EQ(dropOf(frame(echo)), DropReason::kIcmpUnsupported);
  auto elsewhere = fromClient6(kSyn);
  elsewhere.dst = "fd00:999::1";
  EXPECT_EQ(dropOf(frame(elsewhere)), DropReason::kNotLocal);
  auto noService = fromClient6(kSyn);
  noService.dport = 443;
  EXPECT_EQ(dropOf(frame(noService)), DropReason::kNoService);
}

TEST(Snapshot6, LipAndNodeAddressLookupsHonourPrefixLengthsOffByteBoundaries) {
  mbufPool();
  std::string toml = engineConfig();
  const std::string from = "fd00:200::1/128";
  toml.replace(toml.find(from), from.size(), "fd00:200::40/122");
  auto r = config::loadConfigString(toml, "t.toml");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  fullnat::RsRegistry reg;
  const auto snap = fullnat::Snapshot::build(*r.config, 1, 1, reg);
  auto a = [](const char* text) { return fullnat::toAddr(*IpAddr::parse(text)); };
  EXPECT_TRUE(snap->isLip6(a("fd00:200::40").b));
  EXPECT_TRUE(snap->isLip6(a("fd00:200::7f").b));
  EXPECT_FALSE(snap->isLip6(a("fd00:200::80").b));  // the bit after /122
  EXPECT_FALSE(snap->isLip6(a("fd00:200::3f").b));
  EXPECT_FALSE(snap->isLip6(a("fd01:200::40").b));
  EXPECT_TRUE(snap->isNodeAddress6(a(kNode6).b));
  EXPECT_FALSE(snap->isNodeAddress6(a("fd00:1::3").b));
  EXPECT_FALSE(snap->isNodeAddress6(a("fd00:1::1").b));  // the gateway is not ours
}

// An ICMPv6 error quoting `quoted` (a packet the node sent), as a router would send it.
L4Spec icmp6Quoting(const L4Spec& quoted, const char* from, const char* to, uint8_t type,
                    uint32_t rest) {
  L4Spec e;
  e.proto = 58;
  e.src = from;
  e.dst = to;
  e.icmpType = type;
  e.icmpCode = 0;
  e.icmpRest = rest;
  e.payload = ipPacket(quoted);
  return e;
}

TEST_F(Engine6, PacketTooBigFromTheRsSideReachesTheClientLessTheToa) {
  handshake();
  const auto req = fromClient6(kPsh | kAck, {}, kData);
  const auto sent = rsSide(toRs6(req, kToa6));
  expectForward(req, sent);
  // A router toward the RS: MTU 1400 for LIP -> RS.
  const auto ptb = icmp6Quoting(sent, "fd00:20::1", kLip6, 2, 1400);
  // The client sees VIP -> CIP, quoting its own packet as it sent it (CIP -> VIP, but with
  // the TOA the node added), and an MTU 20 bytes lower: its segments grow by the TOA.
  L4Spec quoteAtClient = sent;
  quoteAtClient.src = kClient6;
  quoteAtClient.dst = kVip6;
  quoteAtClient.sport = 40000;
  quoteAtClient.dport = 80;
  auto want = icmp6Quoting(quoteAtClient, kVip6, kClient6, 2, 1380);
  want.ttl = 63;
  const auto out = run(frame(ptb));
  ASSERT_EQ(out.v.verdict, Verdict::kForward) << fullnat::dropReasonName(out.v.reason);
  EXPECT_EQ(checksumProblems(out.bytes), "");
  auto wantFrame = frame(want);
  // The quoted TCP checksum is updated incrementally for the new quoted addresses and ports:
  // the same value a full computation of the quoted packet gives.
  EXPECT_EQ(out.bytes, wantFrame);
  EXPECT_EQ(worker_->counters().icmpTranslated, 1U);
}

TEST_F(Engine6, PacketTooBigFromTheClientSideReachesTheRs) {
  handshake();
  const auto resp = fromRs6(kPsh | kAck, {}, kData);
  const auto sent = toClient6(resp, {});
  expectForward(resp, sent);
  const auto ptb = icmp6Quoting(sent, "2001:db8::1", kVip6, 2, 1280);
  L4Spec quoteAtRs = sent;
  quoteAtRs.src = kRs6;
  quoteAtRs.dst = kLip6;
  quoteAtRs.sport = 8080;
  quoteAtRs.dport = 1024;
  auto want = icmp6Quoting(quoteAtRs, kLip6, kRs6, 2, 1280);
  want.ttl = 63;
  const auto out = run(frame(ptb));
  ASSERT_EQ(out.v.verdict, Verdict::kForward) << fullnat::dropReasonName(out.v.reason);
  EXPECT_EQ(checksumProblems(out.bytes), "");
  EXPECT_EQ(out.bytes, frame(want));
}

TEST_F(Engine6, IcmpErrorsQuotingNothingKnownOrTruncatedAreDropped) {
  handshake();
  const auto req = fromClient6(kPsh | kAck, {}, kData);
  auto sent = rsSide(toRs6(req, kToa6));
  expectForward(req, sent);
  auto other = sent;
  other.sport = 1025;  // no session on that local port
  EXPECT_EQ(dropOf(frame(icmp6Quoting(other, "fd00:20::1", kLip6, 1, 0))),
            DropReason::kIcmpNoSession);
  auto ptb = icmp6Quoting(sent, "fd00:20::1", kLip6, 2, 1400);
  ptb.payload.resize(40 + 4);  // the quote ends inside the ports
  EXPECT_EQ(dropOf(frame(ptb)), DropReason::kIcmpTruncated);
  auto forged = icmp6Quoting(sent, "fd00:20::1", kLip6, 2, 1400);
  forged.payload[0] = 0x45;  // quotes an "IPv4" packet
  EXPECT_EQ(dropOf(frame(forged)), DropReason::kIcmpTruncated);
  EXPECT_EQ(worker_->counters().icmpTranslated, 0U);
  EXPECT_EQ(session6()->state, TcpState::kEstablished);  // nothing changed the session
}

TEST_F(Engine6, NonSynWithoutSessionAndOutboundMissAreDropped) {
  EXPECT_EQ(dropOf(frame(fromClient6(kAck))), DropReason::kTcpNonSynMiss);
  EXPECT_EQ(dropOf(frame(fromRs6(kAck))), DropReason::kOutboundMiss);
}

TEST_F(Engine6, V4AndV6SessionsOfTheSameClientPortLiveSideBySide) {
  handshake();
  const auto syn4 = fromClient(kSyn, {});
  const auto out = run(frame(syn4));
  ASSERT_EQ(out.v.verdict, Verdict::kForward);
  EXPECT_NE(findInbound(kClient, 40000, 80), nullptr);
  EXPECT_NE(session6(), nullptr);
  EXPECT_EQ(worker_->sessions().size(), 2U);
  std::vector<fullnat::SessionInfo> listed;
  fullnat::SessionFilter f;
  f.vip = IpAddr::parse(kVip6);
  EXPECT_EQ(worker_->listSessions(f, 10, 1000, listed), 1U);
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0].client.str(), kClient6);
  EXPECT_EQ(listed[0].local.str(), kLip6);
  EXPECT_EQ(listed[0].rs.str(), kRs6);
  EXPECT_EQ(worker_->checkInvariants(), "");
}

// NAT64 (service 10: [fd00:100::10]:81 -> 10.20.0.91:8081 from the IPv4 LIP; 11: UDP :54).
class Nat64 : public Engine6 {
 protected:
  static L4Spec client(uint8_t flags, std::vector<uint8_t> opts = {},
                       std::vector<uint8_t> payload = {}) {
    auto s = fromClient6(flags, std::move(opts), std::move(payload));
    s.dport = 81;
    return s;
  }
  // What the RS receives: IPv4 LIP:1024 -> RS:8081, TTL = hop limit - 1, ID 0 with DF.
  static L4Spec atRs(const L4Spec& c, std::vector<uint8_t> opts) {
    L4Spec s = c;
    s.src = kLip;
    s.dst = "10.20.0.91";
    s.sport = 1024;
    s.dport = 8081;
    s.ttl = static_cast<uint8_t>(c.ttl - 1);
    s.ipId = 0;
    s.options = std::move(opts);
    return s;
  }
  static L4Spec rs(uint8_t flags, std::vector<uint8_t> opts = {},
                   std::vector<uint8_t> payload = {}) {
    L4Spec s = fromRs(flags, std::move(opts), std::move(payload));
    s.src = "10.20.0.91";
    s.sport = 8081;
    return s;
  }
  // What the client receives: IPv6 VIP:81 -> CIP:40000, hop limit = TTL - 1, flow label 0.
  static L4Spec atClient(const L4Spec& r, std::vector<uint8_t> opts) {
    L4Spec s = r;
    s.src = kVip6;
    s.dst = kClient6;
    s.sport = 81;
    s.dport = 40000;
    s.ttl = static_cast<uint8_t>(r.ttl - 1);
    s.options = std::move(opts);
    return s;
  }
  void handshake() {
    const auto syn = client(kSyn, kSynOpts6);
    expectForward(syn, atRs(syn, kSynStripped6));
    // The RS's IPv4 MSS 1460 leaves as 1440 (- TOA 20); the IPv4 RS path's ceiling is
    // 1500 - 20 - 20 - 20 = 1440 too.
    const auto synAck = rs(kSyn | kAck, {2, 4, 0x05, 0xb4});
    expectForward(synAck, atClient(synAck, {2, 4, 0x05, 0xa0}));
    const auto ack = client(kAck);
    expectForward(ack, atRs(ack, kToa6));
  }
};

TEST_F(Nat64, HandshakeAndDataCrossFamiliesWithTheIpv6ClientInAToaOfTwentyBytes) {
  handshake();
  const auto req = client(kPsh | kAck, {}, kData);
  expectForward(req, atRs(req, kToa6));
  const auto resp = rs(kPsh | kAck, {}, kData);
  expectForward(resp, atClient(resp, {}));
  const auto fin = client(kFin | kAck);
  expectForward(fin, atRs(fin, {}));
  const auto* s = session6(40000, 81);
  ASSERT_NE(s, nullptr);
  EXPECT_NE(s->flags & session::kNat64, 0);
  EXPECT_EQ(s->state, TcpState::kFinWait);
  std::vector<fullnat::SessionInfo> listed;
  fullnat::SessionFilter f;
  f.vip = IpAddr::parse(kVip6);
  f.vport = 81;
  ASSERT_EQ(worker_->listSessions(f, 10, 1000, listed), 1U);
  EXPECT_EQ(listed[0].client.str(), kClient6);
  EXPECT_EQ(listed[0].local.str(), kLip);
  EXPECT_EQ(listed[0].rs.str(), "10.20.0.91");
  EXPECT_EQ(worker_->checkInvariants(), "");
}

TEST_F(Nat64, TrafficClassAndTosCarryOverAndIpv4OptionsDoNot) {
  auto syn = client(kSyn, kSynOpts6);
  syn.tos = 0xB8;  // traffic class EF, with the flow label fromClient6() sets
  auto want = atRs(syn, kSynStripped6);
  expectForward(syn, want);  // TOS 0xB8
  // The RS answers with an IPv4 option (record route, 8 bytes): the client gets plain IPv6.
  auto synAck = frame(rs(kSyn | kAck, {2, 4, 0x05, 0xb4}));
  std::vector<uint8_t> opt = {7, 7, 4, 0, 0, 0, 0, 1};  // RR, 1 slot, then EOL
  synAck.insert(synAck.begin() + 34, opt.begin(), opt.end());
  synAck[14] = 0x47;
  put16(synAck, 16, static_cast<uint16_t>(get16(synAck, 16) + 8));
  put16(synAck, 24, 0);
  put16(synAck, 24, foldSum(sumBytes(&synAck[14], 28)));
  const auto back = run(synAck);
  ASSERT_EQ(back.v.verdict, Verdict::kForward) << fullnat::dropReasonName(back.v.reason);
  const auto plain = rs(kSyn | kAck, {2, 4, 0x05, 0xb4});
  EXPECT_EQ(back.bytes, frame(atClient(plain, {2, 4, 0x05, 0xa0})));
}

TEST_F(Nat64, UdpBothWaysAndAMissingIpv4ChecksumIsComputedForIpv6) {
  L4Spec q;
  q.proto = 17;
  q.src = kClient6;
  q.dst = kVip6;
  q.sport = 5353;
  q.dport = 54;
  q.payload = kData;
  L4Spec at = q;
  at.src = kLip;
  at.dst = "10.20.0.92";
  at.sport = 1024;
  at.ttl = 63;
  at.ipId = 0;
  expectForward(q, at);
  L4Spec a = at;
  std::swap(a.src, a.dst);
  std::swap(a.sport, a.dport);
  a.ttl = 64;
  a.udpNoChecksum = true;  // allowed in IPv4, not in IPv6
  L4Spec back = q;
  std::swap(back.src, back.dst);
  std::swap(back.sport, back.dport);
  back.ttl = 63;
  back.flowLabel = 0;
  expectForward(a, back);
}

TEST_F(Nat64, FragmentationNeededFromTheRsSideBecomesPacketTooBigForTheClient) {
  handshake();
  const auto req = client(kPsh | kAck, {}, kData);
  const auto sent = atRs(req, kToa6);
  expectForward(req, sent);
  // A router toward the RS: MTU 1400 for LIP -> RS, quoting the IPv4 header and 8 bytes.
  auto quote = ipPacket(sent);
  quote.resize(28);
  L4Spec frag;
  frag.proto = 1;
  frag.src = "10.20.0.1";
  frag.dst = kLip;
  frag.icmpType = 3;
  frag.icmpCode = 4;
  frag.icmpRest = 1400;
  frag.payload = quote;
  // The client gets Packet Too Big from the VIP quoting its own packet (IPv6 header with the
  // original payload length, then the 8 bytes: its ports and sequence number). MTU: 1400 + 20
  // (the IPv6 header is 20 bytes longer) - 20 (the TOA its segments gain) = 1400.
  L4Spec quoted = sent;
  quoted.src = kClient6;
  quoted.dst = kVip6;
  quoted.sport = 40000;
  quoted.dport = 81;
  quoted.flowLabel = 0;
  auto q6 = ipPacket(quoted);
  q6.resize(48);
  L4Spec want;
  want.proto = 58;
  want.src = kVip6;
  want.dst = kClient6;
  want.icmpType = 2;
  want.icmpCode = 0;
  want.icmpRest = 1400;
  want.ttl = 63;
  want.payload = q6;
  const auto out = run(frame(frag));
  ASSERT_EQ(out.v.verdict, Verdict::kForward) << fullnat::dropReasonName(out.v.reason);
  EXPECT_EQ(checksumProblems(out.bytes), "");
  EXPECT_EQ(out.bytes, frame(want));
  // Codes without an IPv6 equivalent (protocol unreachable: a parameter problem) are dropped.
  frag.icmpCode = 2;
  EXPECT_EQ(dropOf(frame(frag)), DropReason::kIcmpNat64);
  EXPECT_EQ(worker_->counters().icmpTranslated, 1U);
}

TEST_F(Nat64, PacketTooBigFromTheClientSideBecomesFragmentationNeededForTheRs) {
  handshake();
  const auto resp = rs(kPsh | kAck, {}, kData);
  const auto toC = atClient(resp, {});
  expectForward(resp, toC);
  const auto ptb = icmp6Quoting(toC, "2001:db8::1", kVip6, 2, 1280);
  // The RS gets "fragmentation needed", next-hop MTU 1260 (its IPv4 packets grow by 20 bytes
  // on the way to the client), quoting its own packet: RS:8081 -> LIP:1024, ID 0, DF.
  L4Spec quoted = resp;
  quoted.ttl = 63;  // the hop limit of the packet the node sent
  quoted.ipId = 0;
  L4Spec want;
  want.proto = 1;
  want.src = kLip;
  want.dst = "10.20.0.91";
  want.icmpType = 3;
  want.icmpCode = 4;
  want.icmpRest = 1260;
  want.ttl = 63;
  want.ipId = 0;
  want.payload = ipPacket(quoted);
  const auto out = run(frame(ptb));
  ASSERT_EQ(out.v.verdict, Verdict::kForward) << fullnat::dropReasonName(out.v.reason);
  EXPECT_EQ(checksumProblems(out.bytes), "");
  EXPECT_EQ(out.bytes, frame(want));
  // Time exceeded maps to time exceeded; a parameter problem has no mapping here.
  auto te = icmp6Quoting(toC, "2001:db8::1", kVip6, 3, 0);
  const auto teOut = run(frame(te));
  ASSERT_EQ(teOut.v.verdict, Verdict::kForward);
  EXPECT_EQ(teOut.bytes[14 + 20], 11);
  EXPECT_EQ(checksumProblems(teOut.bytes), "");
  auto pp = icmp6Quoting(toC, "2001:db8::1", kVip6, 4, 0);
  EXPECT_EQ(dropOf(frame(pp)), DropReason::kIcmpUnsupported);
  EXPECT_EQ(session6(40000, 81)->state, TcpState::kEstablished);
}

// Proxy Protocol v2 for IPv6 clients: a 52-byte header (AF_INET6, STREAM) whether the RS is
// reached over IPv6 (service 12, port 91) or, NAT64, over IPv4 (service 13, port 92).
std::vector<uint8_t> ppv2Header6(uint16_t vport) {
  std::vector<uint8_t> h = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51,
                            0x55, 0x49, 0x54, 0x0A, 0x21, 0x21, 0x00, 36};
  h.resize(52);
  putAddr(h, 16, kClient6);
  putAddr(h, 32, kVip6);
  put16(h, 48, 40000);
  put16(h, 50, vport);
  return h;
}

class Ppv2Ipv6 : public Engine6, public ::testing::WithParamInterface<uint16_t> {};

TEST_P(Ppv2Ipv6, TheHandshakeAckCarriesTheIpv6HeaderAndLaterBytesShiftBy52) {
  const uint16_t vport = GetParam();
  const bool nat64 = vport == 92;
  const std::string rsAddr = nat64 ? "10.20.0.93" : "fd00:20::61";
  const std::string lip = nat64 ? kLip : kLip6;
  const uint16_t rport = nat64 ? 9200 : 9100;
  auto syn = fromClient6(kSyn, {2, 4, 0x05, 0xa0});
  syn.dport = vport;
  L4Spec wantSyn = syn;
  wantSyn.src = lip;
  wantSyn.dst = rsAddr;
  wantSyn.sport = 1024;
  wantSyn.dport = rport;
  wantSyn.ttl = 63;
  wantSyn.ipId = 0;
  if (nat64) wantSyn.flowLabel = 0;
  expectForward(syn, wantSyn);
  // The RS's SYN-ACK: MSS 1440 lowered by the header's 52 bytes.
  L4Spec sa;
  sa.src = rsAddr;
  sa.dst = lip;
  sa.sport = rport;
  sa.dport = 1024;
  sa.flags = kSyn | kAck;
  sa.seq = 5000;
  sa.ack = 1001;
  sa.options = {2, 4, 0x05, 0xa0};
  L4Spec wantSa = sa;
  wantSa.src = kVip6;
  wantSa.dst = kClient6;
  wantSa.sport = vport;
  wantSa.dport = 40000;
  wantSa.ttl = 63;
  wantSa.options = {2, 4, 0x05, 0x6c};  // 1440 - 52
  expectForward(sa, wantSa);
  // The ACK completing the handshake carries the header as its payload.
  auto ack = fromClient6(kAck);
  ack.dport = vport;
  ack.seq = 1001;
  L4Spec wantAck = wantSyn;
  wantAck.flags = kAck;
  wantAck.seq = 1001;
  wantAck.ack = 5001;
  wantAck.options.clear();
  wantAck.payload = ppv2Header6(vport);
  expectForward(ack, wantAck);
  // The RS acknowledges the header; a later request is 52 further on in its view.
  L4Spec rsAck = sa;
  rsAck.flags = kAck;
  rsAck.seq = 5001;
  rsAck.ack = 1001 + 52;
  rsAck.options.clear();
  L4Spec wantRsAck = wantSa;
  wantRsAck.flags = kAck;
  wantRsAck.seq = 5001;
  wantRsAck.ack = 1001;
  wantRsAck.options.clear();
  expectForward(rsAck, wantRsAck);
  auto req = fromClient6(kPsh | kAck, {}, kData);
  req.dport = vport;
  req.seq = 1001;
  L4Spec wantReq = wantAck;
  wantReq.flags = kPsh | kAck;
  wantReq.seq = 1001 + 52;
  wantReq.payload = kData;
  expectForward(req, wantReq);
  EXPECT_EQ(worker_->counters().ppv2Headers, 1U);
  EXPECT_EQ(worker_->checkInvariants(), "");
}

INSTANTIATE_TEST_SUITE_P(Engine6, Ppv2Ipv6, ::testing::Values(uint16_t{91}, uint16_t{92}),
                         [](const auto& info) { return info.param == 91 ? "ipv6" : "nat64"; });

TEST_F(Engine6, PacketTooBigQuotingAPpv2SegmentGivesTheClientItsOwnSequenceNumber) {
  auto syn = fromClient6(kSyn, {2, 4, 0x05, 0xa0});
  syn.dport = 91;
  ASSERT_EQ(run(frame(syn)).v.verdict, Verdict::kForward);
  L4Spec sa;
  sa.src = "fd00:20::61";
  sa.dst = kLip6;
  sa.sport = 9100;
  sa.dport = 1024;
  sa.flags = kSyn | kAck;
  sa.seq = 5000;
  sa.ack = 1001;
  ASSERT_EQ(run(frame(sa)).v.verdict, Verdict::kForward);
  auto ack = fromClient6(kAck);
  ack.dport = 91;
  ack.seq = 1001;
  ASSERT_EQ(run(frame(ack)).v.verdict, Verdict::kForward);
  // A request the RS sees at 1001 + 52; a router toward the RS says it is too big.
  L4Spec sent;
  sent.src = kLip6;
  sent.dst = "fd00:20::61";
  sent.sport = 1024;
  sent.dport = 9100;
  sent.flags = kPsh | kAck;
  sent.seq = 1001 + 52;
  sent.ack = 5001;
  sent.payload = kData;
  sent.ttl = 63;
  const auto out = run(frame(icmp6Quoting(sent, "fd00:20::1", kLip6, 2, 1400)));
  ASSERT_EQ(out.v.verdict, Verdict::kForward) << fullnat::dropReasonName(out.v.reason);
  EXPECT_EQ(checksumProblems(out.bytes), "");
  L4Spec quoted = sent;  // as the client sent it: its own addresses, ports and sequence number
  quoted.src = kClient6;
  quoted.dst = kVip6;
  quoted.sport = 40000;
  quoted.dport = 91;
  quoted.seq = 1001;
  auto want = icmp6Quoting(quoted, kVip6, kClient6, 2, 1400);  // no TOA: MTU unchanged
  want.ttl = 63;
  EXPECT_EQ(out.bytes, frame(want));
}

}  // namespace
}  // namespace anylb::testing
