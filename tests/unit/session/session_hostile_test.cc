// The session table against time and against attackers: the clock run across the wrap of its
// low 32 bits (49.7 days of uptime), and keys chosen to collide under an unkeyed hash.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <map>
#include <vector>

#include "common/crc.h"
#include "session/session_table.h"
#include "session_test_util.h"

namespace anylb::session {
namespace {

using testing::add;
using testing::v4;

// Sessions created every second from just before the low 32 bits of the clock wrap until well
// after: each must expire within one wheel tick of its deadline, none early, and the table
// must empty. Before the 64-bit clock, expiry stopped at the wrap and the table filled.
TEST(SessionTableClock, ExpiryKeepsWorkingAcrossTheWrapOf32BitMilliseconds) {
  constexpr uint64_t kStart = (uint64_t{1} << 32) - 20'000;  // 20 s before the wrap
  constexpr uint64_t kTimeout = 7'000;
  SessionTable t(4096);
  t.advance(kStart);
  std::map<uint16_t, uint64_t> due;  // lport -> deadline
  uint16_t next = 1024;
  uint32_t expired = 0;
  std::string late;
  unsigned step = 0;
  for (uint64_t now = kStart; now < kStart + 600'000; now += 250, ++step) {
    t.expire(now, 1000, [&](const Session& s) {
      const uint64_t d = due.at(s.lport);
      if (now < d)
        late = "expired early: deadline " + std::to_string(d) + " now " + std::to_string(now);
      if (now > d + 2 * (1U << SessionTable::kTickShift)) {
        late = "expired late: deadline " + std::to_string(d) + " now " + std::to_string(now);
      }
      due.erase(s.lport);
      ++expired;
    });
    ASSERT_EQ(late, "");
    if (now < kStart + 300'000 && step % 4 == 0) {
      ASSERT_NE(add(t, 0x0B000001, next, next, now + kTimeout), SessionTable::kInvalid);
      due[next++] = now + kTimeout;
    }
  }
  EXPECT_EQ(expired, 300U);
  EXPECT_EQ(t.size(), 0U);
  EXPECT_EQ(t.checkInvariants(), "");
}

// touch() to an earlier deadline across the wrap re-files the session (the RST case).
TEST(SessionTableClock, EarlierDeadlineAcrossTheWrapIsHonoured) {
  constexpr uint64_t kStart = (uint64_t{1} << 32) - 3'000;
  SessionTable t(16);
  t.advance(kStart);
  const uint32_t a = add(t, 1, 1, 2000, kStart + 900'000);
  t.touch(a, kStart + 10'000);  // deadline after the wrap, earlier than the filed one
  uint32_t n = 0;
  for (uint64_t now = kStart; now < kStart + 20'000; now += 100) {
    n += t.expire(now, 10, [](const Session&) {});
  }
  EXPECT_EQ(n, 1U);
  EXPECT_EQ(t.checkInvariants(), "");
}

// A jump of the clock by days (a stalled process, a test) catches up: every session due is
// expired within a few calls, and the wheel carries on.
TEST(SessionTableClock, AJumpOfDaysExpiresEverythingDue) {
  SessionTable t(256);
  t.advance(5'000);
  for (uint16_t i = 0; i < 100; ++i) add(t, 7, i, static_cast<uint16_t>(2000 + i), 5'000 + 60'000);
  const uint64_t later = 5'000 + 3ULL * 86'400'000;
  uint32_t n = 0;
  for (int call = 0; call < 3; ++call) n += t.expire(later, 1000, [](const Session&) {});
  EXPECT_EQ(n, 100U);
  EXPECT_EQ(t.size(), 0U);
  ASSERT_NE(add(t, 8, 1, 3000, later + 2'000), SessionTable::kInvalid);
  uint32_t m = 0;
  for (uint64_t now = later; now < later + 5'000 && m == 0; now += 100) {
    // Catching up may take a call per wheel turn; bounded here by the loop.
    for (int call = 0; call < 2000 && m == 0; ++call) m += t.expire(now, 10, [](const Session&) {});
  }
  EXPECT_EQ(m, 1U);
}

// The index hash of round 1: CRC32-C with a fixed seed (affine over GF(2)).
uint32_t unkeyedHash4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto) {
  const uint64_t tail = uint64_t{sport} | (uint64_t{dport} << 16) | (uint64_t{proto} << 32);
  return crc64(tail, crc64(uint64_t{src} | uint64_t{dst} << 32, 0x9E3779B9));
}

// Solves for `count` (client address, client port) pairs whose unkeyed hash has the same low
// `bits`: the attack on an affine hash. Gaussian elimination over the 48 input bits.
std::vector<std::pair<uint32_t, uint16_t>> collidingClients(unsigned bits, unsigned count) {
  const uint32_t vip = v4(0x0A64000A).v4Raw();
  const uint16_t vport = 80;
  const uint32_t mask = (1U << bits) - 1;
  auto f = [&](uint64_t x) {  // x: src in bits 0-31, sport in 32-47; linear part of the hash
    const auto src = static_cast<uint32_t>(x);
    const auto sport = static_cast<uint16_t>(x >> 32);
    return (unkeyedHash4(src, vip, sport, vport, 6) ^ unkeyedHash4(0, vip, 0, vport, 6)) & mask;
  };
  // Rows: (image, input) for each unit vector; eliminate to find combinations with image 0.
  std::vector<std::pair<uint32_t, uint64_t>> rows;
  for (unsigned i = 0; i < 48; ++i) rows.emplace_back(f(uint64_t{1} << i), uint64_t{1} << i);
  std::vector<uint64_t> kernel;
  for (unsigned bit = 0; bit < bits; ++bit) {
    auto pivot = rows.end();
    for (auto it = rows.begin(); it != rows.end(); ++it) {
      if ((it->first >> bit) & 1U) {
        pivot = it;
        break;
      }
    }
    if (pivot == rows.end()) continue;
    const auto p = *pivot;
    rows.erase(pivot);
    for (auto& r : rows) {
      if ((r.first >> bit) & 1U) {
        r.first ^= p.first;
        r.second ^= p.second;
      }
    }
  }
  for (const auto& r : rows) {
    if (r.first == 0) kernel.push_back(r.second);
  }
  std::vector<std::pair<uint32_t, uint16_t>> out;
  for (uint32_t c = 1; out.size() < count && c < (1U << kernel.size()); ++c) {
    uint64_t x = 0;
    for (size_t k = 0; k < kernel.size(); ++k) {
      if ((c >> k) & 1U) x ^= kernel[k];
    }
    out.emplace_back(static_cast<uint32_t>(x), static_cast<uint16_t>(x >> 32));
  }
  return out;
}

// Largest number of inbound keys of `clients` sharing one home bucket of `t`.
unsigned worstBucket(const SessionTable& t, const std::vector<std::pair<uint32_t, uint16_t>>& cl) {
  std::map<uint32_t, unsigned> perBucket;
  unsigned worst = 0;
  for (const auto& [src, sport] : cl) {
    const FlowKey k{Addr::fromV4Raw(src), v4(0x0A64000A), sport, 80, 6};
    worst = std::max(worst, ++perBucket[t.home(t.hash(k))]);
  }
  return worst;
}

TEST(SessionTableHash, KeysCollidingUnderTheUnkeyedHashSpreadOverTheKeyedIndex) {
  const auto clients = collidingClients(20, 2048);
  ASSERT_EQ(clients.size(), 2048U);
  // The attack works on the unkeyed hash: every key in one bucket of any table up to 2^20.
  const uint32_t vip = v4(0x0A64000A).v4Raw();
  const uint32_t first = unkeyedHash4(clients[0].first, vip, clients[0].second, 80, 6) & 0xFFFFF;
  for (const auto& [src, sport] : clients) {
    ASSERT_EQ(unkeyedHash4(src, vip, sport, 80, 6) & 0xFFFFF, first);
  }
  // The table's own index: a random key per table, so the set spreads like random keys
  // (2048 keys over 2048 buckets: the fullest bucket holds about 6; 16 is far out of reach).
  for (int trial = 0; trial < 4; ++trial) {
    const SessionTable t(4096);
    ASSERT_LE(t.bucketCount(), 1U << 20);
    EXPECT_LE(worstBucket(t, clients), 16U) << "trial " << trial;
  }
  // And the sessions themselves stay reachable with short probes.
  SessionTable t(4096);
  for (size_t i = 0; i < clients.size(); ++i) {
    ASSERT_NE(add(t, clients[i].first, clients[i].second, static_cast<uint16_t>(1024 + i), 60'000,
                  /*raw=*/true),
              SessionTable::kInvalid);
  }
  EXPECT_EQ(t.checkInvariants(), "");
}

TEST(SessionTableHash, TwoTablesUseDifferentSecrets) {
  const SessionTable a(64);
  const SessionTable b(64);
  const FlowKey k{v4(0xC0000207), v4(0x0A64000A), 40000, 80, 6};
  // Equal by chance with probability 2^-32 per key: try a few keys.
  bool differ = false;
  for (uint16_t p = 1; p < 5; ++p) {
    FlowKey kk = k;
    kk.sport = p;
    differ = differ || a.hash(kk) != b.hash(kk);
  }
  EXPECT_TRUE(differ);
}

}  // namespace
}  // namespace anylb::session
