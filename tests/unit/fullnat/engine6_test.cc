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

}  // namespace
}  // namespace anylb::testing
