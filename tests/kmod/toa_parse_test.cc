// Unit tests of the TOA option parser (kmod/toa/toa_parse.h), the same code
// toa.ko runs.  Every input lives in a heap buffer of exactly its own size,
// so any read past the end shows up under AddressSanitizer.
#define TOA_PARSE_USERSPACE
#include "toa_parse.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

namespace {

using Bytes = std::vector<uint8_t>;

// Appends n bytes. Not vector::insert(end, first, last): GCC 12's libstdc++ reports
// -Warray-bounds false positives for it once inlined at -O2 (GCC bug 107852).
void appendBytes(std::vector<uint8_t>& to, const uint8_t* p, size_t n) {
  if (n == 0) return;
  const size_t at = to.size();
  to.resize(at + n);
  std::memcpy(to.data() + at, p, n);
}
void appendBytes(std::vector<uint8_t>& to, const std::vector<uint8_t>& from) {
  appendBytes(to, from.data(), from.size());
}

// Kinds of the options the walk must step over.
constexpr uint8_t kEol = 0;
constexpr uint8_t kNop = 1;
constexpr uint8_t kToa = 254;

struct Parsed {
  unsigned int flags;
  toa_addr toa;
};

// Parses an option list held in a buffer of exactly opts.size() bytes.
Parsed parseOptions(const Bytes& opts) {
  auto buf = std::make_unique<uint8_t[]>(opts.size() + (opts.empty() ? 1 : 0));
  if (!opts.empty()) std::memcpy(buf.get(), opts.data(), opts.size());
  Parsed p{};
  std::memset(&p.toa, 0xa5, sizeof(p.toa));  // must be overwritten
  p.flags = toa_parse_options(buf.get(), static_cast<unsigned int>(opts.size()), &p.toa);
  return p;
}

// Parses a TCP header (20 fixed bytes + opts, data offset from the header)
// held in a buffer of exactly the header's size plus `extra` bytes.
Parsed parseTcp(const Bytes& opts, int doffWords = -1, size_t avail = SIZE_MAX) {
  Bytes th(20, 0);
  th[0] = 0x9c;  // source port 40000
  th[1] = 0x40;
  th[2] = 0x00;  // destination port 80
  th[3] = 0x50;
  th[13] = 0x10;  // ACK
  appendBytes(th, opts);
  const int doff = doffWords >= 0 ? doffWords : static_cast<int>(th.size() / 4);
  th[12] = static_cast<uint8_t>(doff << 4);
  const size_t n = avail == SIZE_MAX ? th.size() : avail;
  auto buf = std::make_unique<uint8_t[]>(n);
  std::memcpy(buf.get(), th.data(), std::min(n, th.size()));
  Parsed p{};
  std::memset(&p.toa, 0xa5, sizeof(p.toa));
  p.flags = toa_parse_tcp(buf.get(), static_cast<unsigned int>(n), &p.toa);
  return p;
}

Bytes toa4(std::array<uint8_t, 4> addr, uint16_t port) {
  return {kToa,
          8,
          static_cast<uint8_t>(port >> 8),
          static_cast<uint8_t>(port & 0xff),
          addr[0],
          addr[1],
          addr[2],
          addr[3]};
}

Bytes toa6(uint8_t last, uint16_t port) {
  // Sized once and filled in place (growing a short vector trips GCC 12's -Warray-bounds
  // false positive, GCC bug 107852).
  Bytes b(20, 0);
  b[0] = kToa;
  b[1] = 20;
  b[2] = static_cast<uint8_t>(port >> 8);
  b[3] = static_cast<uint8_t>(port & 0xff);
  const uint8_t prefix[] = {0x20, 0x01, 0x0d, 0xb8};  // 2001:db8::<last>
  std::memcpy(b.data() + 4, prefix, 4);
  b[19] = last;
  return b;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) appendBytes(out, p);
  return out;
}

void expectV4(const Parsed& p, std::array<uint8_t, 4> addr, uint16_t port) {
  ASSERT_EQ(p.toa.family, TOA_IPV4);
  EXPECT_EQ(p.toa.port[0], port >> 8);
  EXPECT_EQ(p.toa.port[1], port & 0xff);
  EXPECT_EQ(0, std::memcmp(p.toa.addr, addr.data(), 4));
  for (int i = 4; i < 16; i++) EXPECT_EQ(p.toa.addr[i], 0) << "byte " << i;
}

void expectV6(const Parsed& p, uint8_t last, uint16_t port) {
  ASSERT_EQ(p.toa.family, TOA_IPV6);
  EXPECT_EQ(p.toa.port[0], port >> 8);
  EXPECT_EQ(p.toa.port[1], port & 0xff);
  const uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last};
  EXPECT_EQ(0, std::memcmp(p.toa.addr, want, 16));
}

void expectNone(const Parsed& p) {
  EXPECT_EQ(p.toa.family, TOA_NONE);
  for (int i = 0; i < 16; i++) EXPECT_EQ(p.toa.addr[i], 0) << "byte " << i;
  EXPECT_EQ(p.toa.port[0], 0);
  EXPECT_EQ(p.toa.port[1], 0);
}

TEST(ToaParse, ValidIpv4) {
  auto p = parseOptions(toa4({198, 51, 100, 7}, 4242));
  EXPECT_EQ(p.flags, 0u);
  expectV4(p, {198, 51, 100, 7}, 4242);
}

TEST(ToaParse, ValidIpv6) {
  auto p = parseOptions(toa6(0x42, 65535));
  EXPECT_EQ(p.flags, 0u);
  expectV6(p, 0x42, 65535);
}

TEST(ToaParse, PortAndAddressStayInNetworkByteOrder) {
  auto p = parseOptions(toa4({10, 0, 0, 1}, 0x1234));
  ASSERT_EQ(p.toa.family, TOA_IPV4);
  EXPECT_EQ(p.toa.port[0], 0x12);
  EXPECT_EQ(p.toa.port[1], 0x34);
  EXPECT_EQ(p.toa.addr[0], 10);
  EXPECT_EQ(p.toa.addr[3], 1);
}

TEST(ToaParse, EmptyListHasNoToa) {
  auto p = parseOptions({});
  EXPECT_EQ(p.flags, 0u);
  expectNone(p);
}

TEST(ToaParse, NopsBeforeAndAfter) {
  auto p = parseOptions(cat({{kNop, kNop}, toa4({1, 2, 3, 4}, 80), {kNop, kNop}}));
  EXPECT_EQ(p.flags, 0u);
  expectV4(p, {1, 2, 3, 4}, 80);
}

TEST(ToaParse, EolEndsTheList) {
  auto p = parseOptions(cat({{kEol, 0, 0, 0}, toa4({1, 2, 3, 4}, 80)}));
  EXPECT_EQ(p.flags, 0u) << "bytes after EOL are padding, not a malformed list";
  expectNone(p);
}

TEST(ToaParse, ToaBeforeEolCounts) {
  auto p = parseOptions(cat({toa4({1, 2, 3, 4}, 80), {kEol, 30, 0, 0xff}}));
  EXPECT_EQ(p.flags, 0u);
  expectV4(p, {1, 2, 3, 4}, 80);
}

TEST(ToaParse, UnknownAndStandardOptionsAreSkipped) {
  const Bytes mss{2, 4, 0x05, 0xb4};
  const Bytes wscale{3, 3, 7};
  const Bytes sackOk{4, 2};
  const Bytes ts{8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
  const Bytes unknown{30, 6, 0xde, 0xad, 0xbe, 0xef};
  const Bytes tfoExperimental{kToa, 4, 0xf9, 0x89};  // RFC 6994 ExID, not a TOA
  auto p = parseOptions(cat({mss, wscale, sackOk, ts, unknown, toa6(9, 443)}));
  EXPECT_EQ(p.flags, 0u);
  expectV6(p, 9, 443);

  p = parseOptions(cat({unknown, {kNop}, toa4({9, 8, 7, 6}, 1)}));
  EXPECT_EQ(p.flags, 0u);
  expectV4(p, {9, 8, 7, 6}, 1);

  p = parseOptions(cat({tfoExperimental, toa4({9, 8, 7, 6}, 1)}));
  EXPECT_EQ(p.flags, unsigned{TOA_BAD_LEN});
  expectV4(p, {9, 8, 7, 6}, 1);
}

TEST(ToaParse, OptionLengthZeroStopsTheWalk) {
  auto p = parseOptions(cat({{30, 0}, toa4({1, 2, 3, 4}, 80)}));
  EXPECT_EQ(p.flags, unsigned{TOA_BAD_LIST});
  expectNone(p);
}

TEST(ToaParse, OptionLengthOneStopsTheWalk) {
  auto p = parseOptions(cat({{30, 1}, toa4({1, 2, 3, 4}, 80)}));
  EXPECT_EQ(p.flags, unsigned{TOA_BAD_LIST});
  expectNone(p);
}

TEST(ToaParse, ToaLengthZeroOrOne) {
  for (uint8_t len : {0, 1}) {
    auto p = parseOptions(cat({{kToa, len}, toa4({1, 2, 3, 4}, 80)}));
    EXPECT_EQ(p.flags, unsigned{TOA_BAD_LIST}) << "length " << int{len};
    expectNone(p);
  }
}

TEST(ToaParse, ToaRunningPastTheList) {
  // The v4 option cut short by one byte, and a v6 length over 12 bytes.
  Bytes cut = toa4({1, 2, 3, 4}, 80);
  cut.pop_back();
  auto p = parseOptions(cut);
  EXPECT_EQ(p.flags, unsigned{TOA_BAD_LIST});
  expectNone(p);

  Bytes v6 = toa6(1, 80);
  v6.resize(12);
  p = parseOptions(cat({{kNop, kNop}, v6}));
  EXPECT_EQ(p.flags, unsigned{TOA_BAD_LIST});
  expectNone(p);
}

TEST(ToaParse, LoneKindByteAtTheEnd) {
  auto p = parseOptions({kNop, kNop, kNop, kToa});
  EXPECT_EQ(p.flags, unsigned{TOA_BAD_LIST});
  expectNone(p);
}

TEST(ToaParse, WrongToaLengthsAreSkipped) {
  for (uint8_t len : {2, 3, 6, 7, 9, 16, 19, 21, 40}) {
    Bytes bad(len, 0x77);  // not {kToa, len} then resize: GCC 12 -Warray-bounds false positive
    bad[0] = kToa;
    bad[1] = len;
    auto p = parseOptions(bad);
    EXPECT_EQ(p.flags, unsigned{TOA_BAD_LEN}) << "length " << int{len};
    expectNone(p);
  }
}

TEST(ToaParse, DuplicateFirstWins) {
  auto p = parseOptions(cat({toa4({1, 1, 1, 1}, 1), toa4({2, 2, 2, 2}, 2)}));
  EXPECT_EQ(p.flags, 0u);
  expectV4(p, {1, 1, 1, 1}, 1);

  p = parseOptions(cat({toa6(1, 1), toa4({2, 2, 2, 2}, 2)}));
  EXPECT_EQ(p.flags, 0u);
  expectV6(p, 1, 1);

  p = parseOptions(cat({toa4({1, 1, 1, 1}, 1), toa6(2, 2)}));
  EXPECT_EQ(p.flags, 0u);
  expectV4(p, {1, 1, 1, 1}, 1);
}

TEST(ToaParse, DuplicateWithBadLengthAfterTheFirstIsIgnored) {
  auto p = parseOptions(cat({toa4({1, 1, 1, 1}, 1), {kToa, 6, 0, 0, 0, 0}}));
  EXPECT_EQ(p.flags, 0u);
  expectV4(p, {1, 1, 1, 1}, 1);
}

TEST(ToaParse, ToaBeforeAMalformedOptionStands) {
  // As in tcp_parse_options(): options parsed before the bad one stay.
  auto p = parseOptions(cat({toa4({1, 1, 1, 1}, 1), {30, 0, kNop, kNop}}));
  EXPECT_EQ(p.flags, unsigned{TOA_BAD_LIST});
  expectV4(p, {1, 1, 1, 1}, 1);
}

TEST(ToaParseTcp, HeaderWithToa) {
  auto p = parseTcp(toa4({203, 0, 113, 5}, 12345));
  EXPECT_EQ(p.flags, 0u);
  expectV4(p, {203, 0, 113, 5}, 12345);
}

TEST(ToaParseTcp, BareHeaderHasNoOptions) {
  auto p = parseTcp({});
  EXPECT_EQ(p.flags, 0u);
  expectNone(p);
}

TEST(ToaParseTcp, ShortBufferIsRejected) {
  auto p = parseTcp({}, -1, 19);
  EXPECT_EQ(p.flags, unsigned{TOA_BAD_HDR});
  expectNone(p);
}

TEST(ToaParseTcp, DataOffsetBelowFiveIsRejected) {
  auto p = parseTcp(toa4({1, 2, 3, 4}, 1), 4);
  EXPECT_EQ(p.flags, unsigned{TOA_BAD_HDR});
  expectNone(p);
}

TEST(ToaParseTcp, DataOffsetPastTheBufferIsRejected) {
  // doff says 28 bytes of header, only 24 are there.
  auto p = parseTcp({kNop, kNop, kNop, kNop}, 7);
  EXPECT_EQ(p.flags, unsigned{TOA_BAD_HDR});
  expectNone(p);
}

TEST(ToaParseTcp, OptionsPastTheDataOffsetAreNotRead) {
  // The TOA sits in the buffer but after the header the data offset ends.
  auto p = parseTcp(cat({{kNop, kNop, kNop, kNop}, toa4({1, 2, 3, 4}, 1)}), 6, 20 + 4 + 8);
  EXPECT_EQ(p.flags, 0u);
  expectNone(p);
}

TEST(ToaParseTcp, MaximumHeaderWithToaAtTheEnd) {
  Bytes opts(40 - 8, kNop);
  auto all = cat({opts, toa4({4, 3, 2, 1}, 9)});
  ASSERT_EQ(all.size(), 40u);
  auto p = parseTcp(all);
  EXPECT_EQ(p.flags, 0u);
  expectV4(p, {4, 3, 2, 1}, 9);
}

// Random option lists: the parser must stay inside the buffer (ASan) and
// only ever report a TOA that is really in the list.
TEST(ToaParse, RandomListsStayInBounds) {
  std::mt19937 rng(0x70a);
  for (int iter = 0; iter < 20000; iter++) {
    Bytes opts(rng() % 41);
    for (auto& b : opts) {
      const unsigned r = rng() % 8;
      b = r == 0   ? kToa
          : r == 1 ? kNop
          : r == 2 ? static_cast<uint8_t>(rng() % 24)
                   : static_cast<uint8_t>(rng());
    }
    auto p = parseOptions(opts);
    ASSERT_TRUE(p.toa.family == TOA_NONE || p.toa.family == TOA_IPV4 || p.toa.family == TOA_IPV6);
    if (p.toa.family == TOA_NONE) continue;
    const uint8_t len = p.toa.family == TOA_IPV4 ? TOA_OPT_LEN_V4 : TOA_OPT_LEN_V6;
    bool present = false;
    for (size_t i = 0; i + len <= opts.size() && !present; i++)
      present = opts[i] == kToa && opts[i + 1] == len &&
                std::memcmp(&opts[i + 2], p.toa.port, 2) == 0 &&
                std::memcmp(&opts[i + 4], p.toa.addr, len - 4) == 0;
    ASSERT_TRUE(present) << "iteration " << iter;
  }
}

}  // namespace
