// The exception-path policer: token buckets (rates, bursts, clock jumps, a clock far from
// zero), classification, and floods that must not take BGP/BFD's share.
#include "dataplane/exception_policer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace anylb::dataplane {
namespace {

constexpr uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  // Network byte order as stored in memory (what the IP header holds), on this little-endian
  // host: the first octet in the lowest byte.
  return uint32_t{a} | uint32_t{b} << 8 | uint32_t{c} << 16 | uint32_t{d} << 24;
}

const uint32_t kTor1 = ip4(10, 1, 1, 1);
const uint32_t kNode1 = ip4(10, 1, 1, 2);
const uint32_t kTor2 = ip4(10, 2, 1, 1);
const uint32_t kNode2 = ip4(10, 2, 1, 2);
const uint32_t kStranger = ip4(203, 0, 113, 9);
const uint32_t kRs1 = ip4(10, 20, 0, 11);
const uint32_t kRs2 = ip4(10, 20, 0, 12);

void put16(std::vector<uint8_t>& f, size_t at, uint16_t v) {
  f[at] = static_cast<uint8_t>(v >> 8);
  f[at + 1] = static_cast<uint8_t>(v);
}

void put32raw(std::vector<uint8_t>& f, size_t at, uint32_t raw) {
  for (size_t i = 0; i < 4; ++i) f[at + i] = static_cast<uint8_t>(raw >> (8 * i));
}

// An Ethernet + IPv4 (+ 20 bytes of L4) frame.
std::vector<uint8_t> ipFrame(uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport,
                             uint16_t dport, uint8_t ttl = 64) {
  std::vector<uint8_t> f(14 + 20 + 20, 0);
  put16(f, 12, 0x0800);
  f[14] = 0x45;
  put16(f, 16, 40);
  f[22] = ttl;
  f[23] = proto;
  put32raw(f, 26, src);
  put32raw(f, 30, dst);
  put16(f, 34, sport);
  put16(f, 36, dport);
  return f;
}

std::vector<uint8_t> arpFrame() {
  std::vector<uint8_t> f(42, 0);
  put16(f, 12, 0x0806);
  return f;
}

std::vector<uint8_t> bgp(uint32_t src, uint32_t dst, bool fromPeerPort = true) {
  return fromPeerPort ? ipFrame(6, src, dst, 179, 40000) : ipFrame(6, src, dst, 40000, 179);
}
std::vector<uint8_t> bfd(uint32_t src, uint32_t dst, uint8_t ttl = 255) {
  return ipFrame(17, src, dst, 49152, 3784, ttl);
}
std::vector<uint8_t> junkUdp(uint32_t src, uint32_t dst, uint16_t dport = 9) {
  return ipFrame(17, src, dst, 1234, dport);
}

ExceptionPolicerConfig twoPeers() {
  ExceptionPolicerConfig c;
  c.peer = {1000, 100};
  c.arpIcmp = {500, 50};
  c.other = {2000, 200};
  c.peers[0] = {kTor1, kNode1};
  c.peers[1] = {kTor2, kNode2};
  c.peerCount = 2;
  c.realServer = {300, 30};
  // Unsorted on purpose: the policer sorts them.
  c.realServersRaw[0] = kRs2;
  c.realServersRaw[1] = ip4(10, 20, 0, 99);
  c.realServersRaw[2] = kRs1;
  c.realServerCount = 3;
  return c;
}

// How many of `n` frames offered at `nowMs` pass.
unsigned offer(ExceptionPolicer& p, const std::vector<uint8_t>& f, unsigned n, uint64_t nowMs) {
  unsigned passed = 0;
  for (unsigned i = 0; i < n; ++i) passed += p.admit(f, nowMs).pass ? 1 : 0;
  return passed;
}

TEST(TokenBucket, BurstThenExactRate) {
  TokenBucket b(1000, 100, 5);
  unsigned passed = 0;
  for (int i = 0; i < 150; ++i) passed += b.take(5) ? 1 : 0;
  EXPECT_EQ(passed, 100U) << "a full bucket gives the burst and no more";
  // 2x the rate offered for 10 s in 1-ms steps: the rate passes, not a packet more.
  passed = 0;
  for (uint64_t t = 6; t < 6 + 10000; ++t) {
    for (int i = 0; i < 2; ++i) passed += b.take(t) ? 1 : 0;
  }
  EXPECT_EQ(passed, 10000U);
}

TEST(TokenBucket, SlowRatesAccumulateAcrossMilliseconds) {
  // 7 packets/s: less than one token per ms, the fractions must add up. (Burst 10: the bucket
  // is never full when polled, so no refill is lost to the cap.)
  TokenBucket b(7, 10, 0);
  unsigned passed = 0;
  for (uint64_t t = 0; t <= 60000; ++t) passed += b.take(t) ? 1 : 0;
  EXPECT_EQ(passed, 10U + 7 * 60);
}

TEST(TokenBucket, IdleSpellRefillsToTheBurstOnly) {
  TokenBucket b(1000, 100, 0);
  while (b.take(0)) {
  }
  unsigned passed = 0;
  for (int i = 0; i < 1000; ++i) passed += b.take(3'600'000) ? 1 : 0;  // an hour later
  EXPECT_EQ(passed, 100U);
}

TEST(TokenBucket, ClockFarFromZeroAndJumps) {
  // 100 days of ms, then near the top of uint64: no overflow in the refill, no extra tokens.
  for (const uint64_t start : {uint64_t{100} * 86'400'000, UINT64_MAX - 20'000}) {
    TokenBucket b(1000, 100, start);
    unsigned passed = 0;
    for (uint64_t t = start; t < start + 10'000; ++t) {
      for (int i = 0; i < 3; ++i) passed += b.take(t) ? 1 : 0;
    }
    EXPECT_EQ(passed, 100U + 9'999) << "start " << start;
    // A jump forward by years fills the bucket to its burst, not beyond.
    passed = 0;
    const uint64_t later = start / 2 + UINT64_MAX / 2;  // far ahead, no overflow of the sum
    for (int i = 0; i < 1000; ++i) passed += b.take(later) ? 1 : 0;
    EXPECT_EQ(passed, later > start + 10'000 ? 100U : 0U) << "start " << start;
  }
}

TEST(TokenBucket, ClockStepBackNeitherStallsNorGivesTokens) {
  TokenBucket b(1000, 10, 50'000);
  while (b.take(50'000)) {
  }
  EXPECT_FALSE(b.take(10'000)) << "a step back gives nothing";
  // The refill continues from the new clock value (it does not wait 40 s to catch up).
  EXPECT_TRUE(b.take(10'001));
  EXPECT_FALSE(b.take(10'001));
}

TEST(ExceptionPolicer, Classifies) {
  ExceptionPolicer p(twoPeers(), 0);
  size_t peer = 99;
  EXPECT_EQ(p.classify(arpFrame(), peer), ExceptionClass::kArpIcmp);
  EXPECT_EQ(p.classify(ipFrame(1, kStranger, kNode1, 0x0800, 0), peer), ExceptionClass::kArpIcmp);
  EXPECT_EQ(p.classify(bgp(kTor1, kNode1), peer), ExceptionClass::kPeerControl);
  EXPECT_EQ(peer, 0U);
  EXPECT_EQ(p.classify(bgp(kTor2, kNode2, false), peer), ExceptionClass::kPeerControl);
  EXPECT_EQ(peer, 1U);
  EXPECT_EQ(p.classify(bfd(kTor2, kNode2), peer), ExceptionClass::kPeerControl);
  EXPECT_EQ(peer, 1U);
  EXPECT_EQ(p.classify(ipFrame(17, kTor1, kNode1, 49152, 4784, 17), peer),
            ExceptionClass::kPeerControl)
      << "multihop BFD: any TTL";
  // Hostile look-alikes: not a peer, a peer toward the other uplink's address, single-hop BFD
  // that crossed a router (TTL below 255), BGP's port on UDP, BFD's port on TCP.
  EXPECT_EQ(p.classify(bgp(kStranger, kNode1), peer), ExceptionClass::kOther);
  EXPECT_EQ(p.classify(bgp(kTor1, kNode2), peer), ExceptionClass::kOther);
  EXPECT_EQ(p.classify(bfd(kTor1, kNode1, 254), peer), ExceptionClass::kOther);
  EXPECT_EQ(p.classify(ipFrame(17, kTor1, kNode1, 179, 179), peer), ExceptionClass::kOther);
  EXPECT_EQ(p.classify(ipFrame(6, kTor1, kNode1, 3784, 3784, 255), peer), ExceptionClass::kOther);
  EXPECT_EQ(p.classify(junkUdp(kTor1, kNode1), peer), ExceptionClass::kOther);
  EXPECT_EQ(p.classify(ipFrame(47, kTor1, kNode1, 0, 0), peer), ExceptionClass::kOther);
  // A real server's replies to the node's health checks; its ICMP stays ARP/ICMP.
  EXPECT_EQ(p.classify(ipFrame(6, kRs1, kNode1, 80, 40000), peer), ExceptionClass::kRealServer);
  EXPECT_EQ(p.classify(ipFrame(17, kRs2, kNode2, 53, 40000), peer), ExceptionClass::kRealServer);
  EXPECT_EQ(p.classify(ipFrame(1, kRs1, kNode1, 0x0300, 0), peer), ExceptionClass::kArpIcmp);
  EXPECT_EQ(p.classify(ipFrame(6, ip4(10, 20, 0, 10), kNode1, 80, 40000), peer),
            ExceptionClass::kOther);
}

TEST(ExceptionPolicer, PerClassBurstsAndDropsInTheirOwnClass) {
  ExceptionPolicer p(twoPeers(), 1000);
  EXPECT_EQ(offer(p, arpFrame(), 80, 1000), 50U);
  EXPECT_EQ(offer(p, junkUdp(kStranger, kNode1), 300, 1000), 200U);
  EXPECT_EQ(offer(p, bgp(kTor1, kNode1), 150, 1000), 100U);
  EXPECT_EQ(offer(p, bfd(kTor2, kNode2), 150, 1000), 100U);
  const auto d = p.admit(junkUdp(kStranger, kNode1), 1000);
  EXPECT_EQ(d.cls, ExceptionClass::kOther);
  EXPECT_FALSE(d.pass);
}

// The defect of issue 12 item 7: a flood at the node's address must leave BGP and BFD alone.
// 100 junk frames per ms (100,000 pps, 50x the kOther rate) for 5 s, with the peers' BFD every
// 10 ms and BGP keepalives every 100 ms: every control frame passes; the junk gets its rate.
TEST(ExceptionPolicer, FloodOfOtherNeverStarvesPeerControl) {
  ExceptionPolicer p(twoPeers(), 0);
  unsigned junkPassed = 0;
  unsigned control = 0;
  unsigned controlPassed = 0;
  unsigned icmpPassed = 0;
  for (uint64_t t = 1; t <= 5000; ++t) {
    junkPassed += offer(p, junkUdp(kStranger, kNode1, static_cast<uint16_t>(t)), 100, t);
    if (t % 10 == 0) {
      control += 2;
      controlPassed += offer(p, bfd(kTor1, kNode1), 1, t) + offer(p, bfd(kTor2, kNode2), 1, t);
    }
    if (t % 100 == 0) {
      control += 2;
      controlPassed += offer(p, bgp(kTor1, kNode1), 1, t) + offer(p, bgp(kTor2, kNode2), 1, t);
      icmpPassed += offer(p, ipFrame(1, kStranger, kNode1, 0x0800, 0), 1, t);
    }
  }
  EXPECT_EQ(controlPassed, control);
  EXPECT_EQ(icmpPassed, 50U);
  // The full burst, then 2 per ms from t=2 (t=1's refill found the bucket full).
  EXPECT_EQ(junkPassed, 200U + 2 * 4999);
}

// What lab_exception_flood found with the first version (no real-server class): the flood took
// the health checks' replies with it, every RS went down and the VIP was withdrawn although BGP
// and BFD were fine. The RS replies have their own bucket now.
TEST(ExceptionPolicer, FloodOfOtherNeverStarvesHealthCheckReplies) {
  ExceptionPolicer p(twoPeers(), 0);
  unsigned replies = 0;
  unsigned repliesPassed = 0;
  for (uint64_t t = 1; t <= 5000; ++t) {
    offer(p, junkUdp(kStranger, kNode1, static_cast<uint16_t>(t)), 100, t);
    if (t % 20 == 0) {  // a SYN-ACK and an HTTP response from two RS every 20 ms
      replies += 2;
      repliesPassed += offer(p, ipFrame(6, kRs1, kNode1, 80, 40000), 1, t) +
                       offer(p, ipFrame(6, kRs2, kNode1, 80, 40001), 1, t);
    }
  }
  EXPECT_EQ(repliesPassed, replies);
}

// Hostile: the attacker forges ToR 1's address toward BGP's port. ToR 1's sessions may suffer
// (its bucket is shared with the forgeries), ToR 2's never do, nor do ARP/ICMP.
TEST(ExceptionPolicer, ForgedPeerFloodStarvesOnlyThatPeer) {
  ExceptionPolicer p(twoPeers(), 0);
  unsigned forged = 0;
  unsigned tor2 = 0;
  unsigned arp = 0;
  for (uint64_t t = 1; t <= 2000; ++t) {
    forged += offer(p, bgp(kTor1, kNode1, false), 50, t);
    // Forged single-hop BFD from beyond the ToR arrives with TTL < 255: kOther, not ToR 1's.
    offer(p, bfd(kTor1, kNode1, 250), 50, t);
    if (t % 10 == 0) tor2 += offer(p, bfd(kTor2, kNode2), 1, t);
    if (t % 20 == 0) arp += offer(p, arpFrame(), 1, t);
  }
  EXPECT_EQ(forged, 100U + 1999 * 1);  // ToR 1's bucket: burst + 1000 pps
  EXPECT_EQ(tor2, 200U);
  EXPECT_EQ(arp, 100U);
}

TEST(ExceptionPolicer, DisabledPassesEverything) {
  auto c = twoPeers();
  c.enabled = false;
  ExceptionPolicer p(c, 0);
  EXPECT_EQ(offer(p, junkUdp(kStranger, kNode1), 10000, 1), 10000U);
  EXPECT_EQ(p.admit(bfd(kTor1, kNode1), 1).cls, ExceptionClass::kPeerControl);
  ExceptionPolicer unconfigured;
  EXPECT_TRUE(unconfigured.admit(arpFrame(), 0).pass);
}

// Hostile bytes: truncated frames, IHL values the engine would have refused, random frames.
// Never a read out of bounds (ASan), never classified as a peer's control traffic.
TEST(ExceptionPolicer, HostileFrames) {
  ExceptionPolicer p(twoPeers(), 0);
  size_t peer = 0;
  const auto full = bgp(kTor1, kNode1);
  for (size_t len = 0; len < 14 + 20 + 4; ++len) {
    const std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<ptrdiff_t>(len));
    EXPECT_EQ(p.classify(cut, peer), ExceptionClass::kOther) << "length " << len;
  }
  auto longIhl = full;
  longIhl[14] = 0x4F;  // 60-byte header claimed, 40 bytes present
  EXPECT_EQ(p.classify(longIhl, peer), ExceptionClass::kOther);
  std::mt19937 rng(12);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> f(rng() % 80);
    for (auto& b : f) b = static_cast<uint8_t>(rng());
    if (f.size() > 13 && i % 2 == 0) put16(f, 12, 0x0800);
    (void)p.admit(f, static_cast<uint64_t>(i));
  }
}

// --- IPv6

using Addr6 = ExceptionPolicerConfig::Addr6;
Addr6 v6(uint8_t a, uint8_t b, uint8_t last) {
  return Addr6{0xfd, 0x00, 0x00, a, 0x00, b, 0, 0, 0, 0, 0, 0, 0, 0, 0, last};
}
const Addr6 kTor1v6 = v6(1, 1, 1);   // fd00:1:1::1, gateway6
const Addr6 kNode1v6 = v6(1, 1, 2);  // fd00:1:1::2, address6
const Addr6 kRs1v6 = v6(0x20, 0, 0x11);
const Addr6 kStrangerV6 = v6(0x66, 0, 9);

// An Ethernet + IPv6 (+ 20 bytes of L4) frame; `next` is the IPv6 next header.
std::vector<uint8_t> ip6Frame(uint8_t next, const Addr6& src, const Addr6& dst, uint16_t sport,
                              uint16_t dport, uint8_t hopLimit = 64) {
  std::vector<uint8_t> f(14 + 40 + 20, 0);
  put16(f, 12, 0x86DD);
  f[14] = 0x60;
  put16(f, 18, 20);
  f[20] = next;
  f[21] = hopLimit;
  std::copy(src.begin(), src.end(), f.begin() + 22);
  std::copy(dst.begin(), dst.end(), f.begin() + 38);
  put16(f, 54, sport);
  put16(f, 56, dport);
  return f;
}

ExceptionPolicerConfig dualStack() {
  auto c = twoPeers();
  c.peers6[0] = {kTor1v6, kNode1v6};
  c.peer6Count = 1;
  c.realServers6[0] = v6(0x20, 0, 0x13);
  c.realServers6[1] = kRs1v6;
  c.realServer6Count = 2;
  return c;
}

TEST(ExceptionPolicer, ClassifiesIpv6) {
  const ExceptionPolicer p(dualStack(), 0);
  size_t peer = 99;
  // Neighbor Discovery and any ICMPv6 (ping, Packet Too Big) share ARP/ICMP's class.
  EXPECT_EQ(p.classify(ip6Frame(58, kTor1v6, kNode1v6, 0x8700, 0), peer), ExceptionClass::kArpIcmp);
  EXPECT_EQ(p.classify(ip6Frame(6, kTor1v6, kNode1v6, 179, 40000), peer),
            ExceptionClass::kPeerControl);
  EXPECT_EQ(peer, 2U);  // after the two IPv4 peers
  EXPECT_EQ(p.classify(ip6Frame(17, kTor1v6, kNode1v6, 49152, 3784, 255), peer),
            ExceptionClass::kPeerControl);
  EXPECT_EQ(p.classify(ip6Frame(17, kTor1v6, kNode1v6, 49152, 4784), peer),
            ExceptionClass::kPeerControl);
  // Health-check replies from an IPv6 real server.
  EXPECT_EQ(p.classify(ip6Frame(6, kRs1v6, kNode1v6, 80, 50000), peer),
            ExceptionClass::kRealServer);
  EXPECT_EQ(p.classify(ip6Frame(6, kStrangerV6, kNode1v6, 1234, 22), peer), ExceptionClass::kOther);
}

TEST(ExceptionPolicer, Ipv6HostileFramesAreNotPeerControl) {
  const ExceptionPolicer p(dualStack(), 0);
  size_t peer = 0;
  // Single-hop BFD that crossed a router (hop limit 254), BGP to another local address, BGP
  // from a stranger, BGP behind an extension header (hop-by-hop, next header 0).
  EXPECT_EQ(p.classify(ip6Frame(17, kTor1v6, kNode1v6, 49152, 3784, 254), peer),
            ExceptionClass::kOther);
  EXPECT_EQ(p.classify(ip6Frame(6, kTor1v6, v6(1, 1, 3), 179, 40000), peer),
            ExceptionClass::kOther);
  EXPECT_EQ(p.classify(ip6Frame(6, kStrangerV6, kNode1v6, 179, 40000), peer),
            ExceptionClass::kOther);
  EXPECT_EQ(p.classify(ip6Frame(0, kTor1v6, kNode1v6, 179, 40000), peer), ExceptionClass::kOther);
  // Every truncation of a peer's BGP frame: never peer control, never out of bounds (ASan).
  const auto full = ip6Frame(6, kTor1v6, kNode1v6, 179, 40000);
  for (size_t len = 0; len < 14 + 40 + 4; ++len) {
    const std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<ptrdiff_t>(len));
    EXPECT_EQ(p.classify(cut, peer), ExceptionClass::kOther) << "length " << len;
  }
  std::mt19937 rng(6);
  ExceptionPolicer q(dualStack(), 0);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> f(rng() % 100);
    for (auto& b : f) b = static_cast<uint8_t>(rng());
    if (f.size() > 13) put16(f, 12, 0x86DD);
    (void)q.admit(f, static_cast<uint64_t>(i));
  }
}

TEST(ExceptionPolicer, Ipv6PeerFloodStarvesNeitherIpv4PeerNorNd) {
  ExceptionPolicer p(dualStack(), 0);
  unsigned forged = 0;
  unsigned tor1v4 = 0;
  unsigned nd = 0;
  for (uint64_t t = 1; t <= 2000; ++t) {
    forged += offer(p, ip6Frame(6, kTor1v6, kNode1v6, 40000, 179), 50, t);
    if (t % 10 == 0) tor1v4 += offer(p, bfd(kTor1, kNode1), 1, t);
    if (t % 20 == 0) nd += offer(p, ip6Frame(58, kTor1v6, kNode1v6, 0x8800, 0, 255), 1, t);
  }
  EXPECT_EQ(forged, 100U + 1999 * 1);  // its own bucket: burst + 1000 pps
  EXPECT_EQ(tor1v4, 200U);
  EXPECT_EQ(nd, 100U);
}

TEST(ExceptionPolicer, Ipv6PeersBeyondTheBucketsAreOther) {
  // 2 IPv4 peers + kMaxPeers IPv6 peers: only kMaxPeers buckets, the extra IPv6 peers are kOther.
  auto c = dualStack();
  c.peer6Count = ExceptionPolicerConfig::kMaxPeers;
  for (size_t i = 0; i < c.peer6Count; ++i) {
    c.peers6[i] = {v6(9, static_cast<uint8_t>(i), 1), kNode1v6};
  }
  const ExceptionPolicer p(c, 0);
  size_t peer = 0;
  constexpr auto kLast = static_cast<uint8_t>(ExceptionPolicerConfig::kMaxPeers - 3);
  EXPECT_EQ(p.classify(ip6Frame(6, v6(9, kLast, 1), kNode1v6, 179, 1), peer),
            ExceptionClass::kPeerControl);
  EXPECT_EQ(peer, ExceptionPolicerConfig::kMaxPeers - 1);
  EXPECT_EQ(p.classify(ip6Frame(6, v6(9, kLast + 1, 1), kNode1v6, 179, 1), peer),
            ExceptionClass::kOther);
}

}  // namespace
}  // namespace anylb::dataplane

namespace anylb::dataplane {
namespace {

// Session sync: a sync peer's datagrams to the sync port have their own bucket; the same
// peer's other UDP, anybody else's datagrams to the sync port, and a flood forging a sync
// peer take nothing from a ToR's bucket.
TEST(ExceptionPolicer, SyncPeerDatagramsAreTheirPeersControlTraffic) {
  auto c = twoPeers();
  const uint32_t peerNode = ip4(10, 1, 2, 2);
  c.peers[2] = {peerNode, kNode1, 8848};
  c.peerCount = 3;
  ExceptionPolicer p(c, 1000);
  size_t peer = 99;
  EXPECT_EQ(p.classify(junkUdp(peerNode, kNode1, 8848), peer), ExceptionClass::kPeerControl);
  EXPECT_EQ(peer, 2U);
  EXPECT_EQ(p.classify(junkUdp(peerNode, kNode1, 8849), peer), ExceptionClass::kOther);
  EXPECT_EQ(p.classify(junkUdp(kStranger, kNode1, 8848), peer), ExceptionClass::kOther);
  EXPECT_EQ(p.classify(junkUdp(peerNode, kNode2, 8848), peer), ExceptionClass::kOther);
  // The ToR's BGP is not a sync datagram, and a ToR's UDP to 8848 is not its control traffic.
  EXPECT_EQ(p.classify(junkUdp(kTor1, kNode1, 8848), peer), ExceptionClass::kOther);
  // A forged bulk sync flood uses up that peer's bucket only.
  // (63 sync peers are checked below to leave the IPv6 ToRs their buckets.)
  EXPECT_EQ(offer(p, junkUdp(peerNode, kNode1, 8848), 500, 1000), 100U);
  EXPECT_EQ(offer(p, bfd(kTor1, kNode1), 10, 1000), 10U);
}

}  // namespace
}  // namespace anylb::dataplane

namespace anylb::dataplane {
namespace {

// A 64-node fleet: 2 IPv4 ToRs + 63 sync peers come first; the IPv6 ToR sessions that follow
// keep their own buckets (with 16 buckets they fell to kOther behind the sync peers).
TEST(ExceptionPolicer, SixtyThreeSyncPeersLeaveTheIpv6TorsTheirBuckets) {
  auto c = dualStack();
  for (uint32_t i = 0; i < 63; ++i) {
    c.peers[c.peerCount++] = {ip4(10, 1, static_cast<uint8_t>(10 + i), 2), kNode1, 8848};
  }
  ExceptionPolicer p(c, 1000);
  size_t peer = 0;
  EXPECT_EQ(p.classify(junkUdp(ip4(10, 1, 72, 2), kNode1, 8848), peer),
            ExceptionClass::kPeerControl);
  EXPECT_EQ(peer, 64U);
  EXPECT_EQ(p.classify(ip6Frame(17, kTor1v6, kNode1v6, 49152, 3784, 255), peer),
            ExceptionClass::kPeerControl);
  EXPECT_EQ(peer, 65U);
}

}  // namespace
}  // namespace anylb::dataplane
