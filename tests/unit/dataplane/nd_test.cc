// Neighbor Discovery frames: the solicitation the control thread sends, and what the workers
// accept (and refuse) to learn a gateway's MAC from. Reference frames were made with scapy
// (independent checksum code): Ether()/IPv6(hlim=255)/ICMPv6ND_NS|NA()/ICMPv6NDOpt*LLAddr().
#include "dataplane/nd.h"

#include <gtest/gtest.h>

#include <vector>

namespace anylb::dataplane::nd {
namespace {

Addr6 a6(std::initializer_list<uint8_t> tail) {
  Addr6 a{0xfd, 0x00, 0x00, 0x01, 0x00, 0x01};  // fd00:1:1::/64
  size_t i = 16 - tail.size();
  for (uint8_t b : tail) a[i++] = b;
  return a;
}

constexpr uint8_t kNodeMac[6] = {0x02, 0x00, 0x00, 0x00, 0x01, 0x02};

// scapy: NS from fd00:1:1::2 (02:00:00:00:01:02) for fd00:1:1::1, source LL option.
const std::vector<uint8_t> kScapyNs = {
    0x33, 0x33, 0xff, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01, 0x02, 0x86, 0xdd, 0x60,
    0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x01, 0x87, 0x00, 0x7c, 0x93, 0x00, 0x00,
    0x00, 0x00, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01, 0x02};

// scapy: solicited NA from fd00:1:1::1 (02:00:00:00:aa:01) to fd00:1:1::2, R S O set, target
// LL option.
const std::vector<uint8_t> kScapyNa = {
    0x02, 0x00, 0x00, 0x00, 0x01, 0x02, 0x02, 0x00, 0x00, 0x00, 0xaa, 0x01, 0x86, 0xdd, 0x60,
    0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x88, 0x00, 0xf2, 0x94, 0xe0, 0x00,
    0x00, 0x00, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0xaa, 0x01};

constexpr size_t kIcmp = 14 + 40;  // offset of the ICMPv6 header in a frame

// Rewrites the ICMPv6 checksum of a frame after a test changed it (so that only the change
// under test can make it invalid). Payload length from the IPv6 header.
void fixChecksum(std::vector<uint8_t>& f) {
  Addr6 src;
  Addr6 dst;
  std::copy_n(f.begin() + 22, 16, src.begin());
  std::copy_n(f.begin() + 38, 16, dst.begin());
  const auto len = static_cast<size_t>(f[18] << 8 | f[19]);
  f[kIcmp + 2] = 0;
  f[kIcmp + 3] = 0;
  const uint16_t c = icmp6Checksum(src, dst, f.data() + kIcmp, len);
  f[kIcmp + 2] = static_cast<uint8_t>(c >> 8);
  f[kIcmp + 3] = static_cast<uint8_t>(c & 0xFF);
}

void setPayloadLen(std::vector<uint8_t>& f, size_t len) {
  f[18] = static_cast<uint8_t>(len >> 8);
  f[19] = static_cast<uint8_t>(len & 0xFF);
}

TEST(Nd, SolicitedNodeGroup) {
  const Addr6 g = solicitedNode(a6({0xab, 0xcd, 0xef, 0x12}));
  const Addr6 want{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0xcd, 0xef, 0x12};
  EXPECT_EQ(g, want);
}

TEST(Nd, SolicitIsByteForByteWhatScapyBuilds) {
  std::vector<uint8_t> out(128, 0xAA);
  ASSERT_EQ(buildSolicit(out, kNodeMac, a6({2}), a6({1})), kSolicitFrameLen);
  out.resize(kSolicitFrameLen);
  EXPECT_EQ(out, kScapyNs);
}

TEST(Nd, SolicitRefusesAShortBuffer) {
  std::vector<uint8_t> out(kSolicitFrameLen - 1);
  EXPECT_EQ(buildSolicit(out, kNodeMac, a6({2}), a6({1})), 0U);
}

TEST(Nd, OwnSolicitParsesAsABindingOfTheSender) {
  std::vector<uint8_t> out(kSolicitFrameLen);
  buildSolicit(out, kNodeMac, a6({2}), a6({0x12, 0x34}));
  NdBinding b;
  ASSERT_EQ(parseNd(out, b), NdResult::kLearn);
  EXPECT_EQ(b.addr, a6({2}));
  EXPECT_TRUE(std::equal(b.mac.begin(), b.mac.end(), kNodeMac));
}

TEST(Nd, AdvertBindsTargetToTargetLinkLayerAddress) {
  NdBinding b;
  ASSERT_EQ(parseNd(kScapyNa, b), NdResult::kLearn);
  EXPECT_EQ(b.addr, a6({1}));
  const std::array<uint8_t, 6> mac{0x02, 0x00, 0x00, 0x00, 0xaa, 0x01};
  EXPECT_EQ(b.mac, mac);
}

TEST(Nd, EthernetPaddingAfterThePayloadIsFine) {
  auto f = kScapyNa;
  f.resize(f.size() + 10, 0);
  NdBinding b;
  EXPECT_EQ(parseNd(f, b), NdResult::kLearn);
}

TEST(Nd, OtherFramesAreNotNd) {
  NdBinding b;
  auto f = kScapyNa;
  f[12] = 0x08;  // IPv4 ether type
  f[13] = 0x00;
  EXPECT_EQ(parseNd(f, b), NdResult::kNotNd);
  f = kScapyNa;
  f[kIcmp] = 128;  // echo request
  EXPECT_EQ(parseNd(f, b), NdResult::kNotNd);
  f = kScapyNa;
  f[20] = 6;  // next header TCP
  EXPECT_EQ(parseNd(f, b), NdResult::kNotNd);
  EXPECT_EQ(parseNd(std::span<const uint8_t>(kScapyNa.data(), 40), b), NdResult::kNotNd);
}

TEST(Nd, HopLimitOtherThan255IsInvalid) {
  // An NA forwarded by a router (hop limit 254) may come from anywhere: RFC 4861 7.1.2.
  auto f = kScapyNa;
  f[21] = 254;
  NdBinding b;
  EXPECT_EQ(parseNd(f, b), NdResult::kInvalid);
  f = kScapyNs;
  f[21] = 64;
  EXPECT_EQ(parseNd(f, b), NdResult::kInvalid);
}

TEST(Nd, BadChecksumIsInvalid) {
  auto f = kScapyNa;
  f[kIcmp + 3] ^= 0x01;
  NdBinding b;
  EXPECT_EQ(parseNd(f, b), NdResult::kInvalid);
  // A changed MAC in the option with the old checksum: refused, not learnt.
  f = kScapyNa;
  f.back() ^= 0xFF;
  EXPECT_EQ(parseNd(f, b), NdResult::kInvalid);
}

TEST(Nd, NonZeroCodeIsInvalid) {
  auto f = kScapyNa;
  f[kIcmp + 1] = 1;
  fixChecksum(f);
  NdBinding b;
  EXPECT_EQ(parseNd(f, b), NdResult::kInvalid);
}

TEST(Nd, ZeroLengthOptionIsInvalid) {
  auto f = kScapyNa;
  f[kIcmp + 25] = 0;  // the option's length
  fixChecksum(f);
  NdBinding b;
  EXPECT_EQ(parseNd(f, b), NdResult::kInvalid);
}

TEST(Nd, OptionOverrunningThePayloadIsInvalid) {
  auto f = kScapyNa;
  f[kIcmp + 25] = 2;  // 16 bytes, 8 present
  fixChecksum(f);
  NdBinding b;
  EXPECT_EQ(parseNd(f, b), NdResult::kInvalid);
  // A lone option-type byte (payload 25): no room for its length.
  f = kScapyNa;
  setPayloadLen(f, 25);
  f.resize(14 + 40 + 25);
  fixChecksum(f);
  EXPECT_EQ(parseNd(f, b), NdResult::kInvalid);
}

TEST(Nd, TruncatedMessageIsInvalid) {
  NdBinding b;
  // Payload length claims more than the frame holds.
  auto f = kScapyNa;
  f.resize(f.size() - 4);
  EXPECT_EQ(parseNd(f, b), NdResult::kInvalid);
  // Shorter than the 24 bytes an NA needs, consistently so.
  f = kScapyNa;
  setPayloadLen(f, 20);
  f.resize(14 + 40 + 20);
  fixChecksum(f);
  EXPECT_EQ(parseNd(f, b), NdResult::kInvalid);
}

TEST(Nd, AdvertWithoutLinkLayerOptionProvesNothing) {
  auto f = kScapyNa;
  setPayloadLen(f, 24);
  f.resize(14 + 40 + 24);
  fixChecksum(f);
  NdBinding b;
  EXPECT_EQ(parseNd(f, b), NdResult::kNoBinding);
}

TEST(Nd, AdvertWithASourceInsteadOfTargetOptionProvesNothing) {
  auto f = kScapyNa;
  f[kIcmp + 24] = 1;  // source LL option in an NA
  fixChecksum(f);
  NdBinding b;
  EXPECT_EQ(parseNd(f, b), NdResult::kNoBinding);
}

TEST(Nd, SolicitedAdvertToMulticastIsInvalid) {
  auto f = kScapyNa;
  f[38] = 0xff;  // destination ff..: multicast, and the S flag is set
  f[39] = 0x02;
  fixChecksum(f);
  NdBinding b;
  EXPECT_EQ(parseNd(f, b), NdResult::kInvalid);
  f[kIcmp + 4] = 0x20;  // only O: an unsolicited NA to all nodes is fine
  fixChecksum(f);
  EXPECT_EQ(parseNd(f, b), NdResult::kLearn);
}

TEST(Nd, MulticastTargetIsInvalid) {
  auto f = kScapyNa;
  f[kIcmp + 8] = 0xff;
  fixChecksum(f);
  NdBinding b;
  EXPECT_EQ(parseNd(f, b), NdResult::kInvalid);
}

TEST(Nd, DuplicateAddressDetectionProvesNothing) {
  // NS from :: (DAD) without a source LL option: valid, no binding; with one: invalid.
  std::vector<uint8_t> f(kSolicitFrameLen);
  buildSolicit(f, kNodeMac, Addr6{}, a6({1}));
  NdBinding b;
  EXPECT_EQ(parseNd(f, b), NdResult::kInvalid);
  setPayloadLen(f, 24);
  f.resize(14 + 40 + 24);
  fixChecksum(f);
  EXPECT_EQ(parseNd(f, b), NdResult::kNoBinding);
}

TEST(Nd, LaterOptionsAreWalkedAndAnUnknownOneIsSkipped) {
  // An unknown option (type 14, nonce, 8 bytes) before the target LL option.
  std::vector<uint8_t> f(kScapyNa.begin(), kScapyNa.begin() + kIcmp + 24);
  const uint8_t nonce[8] = {14, 1, 1, 2, 3, 4, 5, 6};
  f.insert(f.end(), nonce, nonce + 8);
  f.insert(f.end(), kScapyNa.begin() + kIcmp + 24, kScapyNa.end());
  setPayloadLen(f, 40);
  fixChecksum(f);
  NdBinding b;
  ASSERT_EQ(parseNd(f, b), NdResult::kLearn);
  EXPECT_EQ(b.mac[5], 0x01);
}

}  // namespace
}  // namespace anylb::dataplane::nd
