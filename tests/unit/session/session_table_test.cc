#include "session/session_table.h"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <vector>

#include "session_test_util.h"

namespace anylb::session {
namespace {

using testing::add;
using testing::v4;

// The engine's lookup: candidate from the home bucket, then resolve.
uint32_t lookup(const SessionTable& t, const FlowKey& k, Dir dir) {
  const uint32_t h = t.hash(k);
  return t.resolve(t.candidate(h, dir), h, dir, k);
}

TEST(SessionTable, Hash4MatchesTheGenericHashForIpv4) {
  const SessionTable t(8);
  const FlowKey k{v4(0xC0000207), v4(0x0A64000A), 40000, 80, 6};
  EXPECT_EQ(t.hash(k), t.hash4(k.src.v4Raw(), k.dst.v4Raw(), k.sport, k.dport, k.proto));
}

// Overflow from a home bucket, and (lastBucket) from the last bucket round to the first.
void overflowHomeBucket(bool lastBucket) {
  SessionTable t(64);
  // Pick clients whose inbound keys share one home bucket, more than its 7 slots hold.
  std::vector<std::pair<uint32_t, uint32_t>> same;  // (client, session index)
  uint32_t home = lastBucket ? t.bucketCount() - 1 : UINT32_MAX;
  for (uint32_t c = 1; same.size() < 10 && c < 1'000'000; ++c) {
    const FlowKey k{v4(c), v4(0x0A64000A), 1234, 80, 6};
    const uint32_t b = t.home(t.hash(k));
    if (home == UINT32_MAX) home = b;
    if (b != home) continue;
    const uint32_t idx = add(t, c, 1234, static_cast<uint16_t>(2000 + same.size()));
    ASSERT_NE(idx, SessionTable::kInvalid);
    same.emplace_back(c, idx);
  }
  ASSERT_EQ(same.size(), 10U);
  for (const auto& [c, idx] : same) {
    const FlowKey k{v4(c), v4(0x0A64000A), 1234, 80, 6};
    EXPECT_EQ(lookup(t, k, Dir::kIn), idx) << c;
    EXPECT_EQ(t.find(t.hash(k), Dir::kIn, k), idx);
  }
  // Removing the entries in the home bucket keeps the overflowed ones reachable, and once all
  // are gone the overflow counts are back to zero (a miss stops at the home bucket).
  for (size_t i = 0; i < 5; ++i) t.remove(same[i].second);
  for (size_t i = 5; i < same.size(); ++i) {
    const FlowKey k{v4(same[i].first), v4(0x0A64000A), 1234, 80, 6};
    EXPECT_EQ(lookup(t, k, Dir::kIn), same[i].second);
  }
  for (size_t i = 5; i < same.size(); ++i) t.remove(same[i].second);
  const FlowKey gone{v4(same[0].first), v4(0x0A64000A), 1234, 80, 6};
  EXPECT_EQ(t.candidate(t.hash(gone), Dir::kIn), SessionTable::kInvalid);
  EXPECT_EQ(t.size(), 0U);
  EXPECT_EQ(t.checkInvariants(), "");
}

TEST(SessionTable, EntriesThatOverflowTheirHomeBucketAreStillFound) {
  overflowHomeBucket(false);
}

TEST(SessionTable, OverflowFromTheLastBucketWrapsToTheFirst) {
  overflowHomeBucket(true);
}

// The index holds two entries per session at <= 60% slot load and no more: a bucket count
// rounded up to a power of two nearly doubled it at some capacities (10 M sessions: 512 MiB
// of index instead of 290 MiB). 600,000 sessions need 285,715 buckets; rounding made 524,288.
TEST(SessionTable, IndexIsSizedToTheCapacityNotToAPowerOfTwo) {
  const SessionTable t(600'000);
  EXPECT_EQ(t.bucketCount(), 285'715U);
  EXPECT_LE(t.bytesPerSession(), 128U + 4U + 31U);
  // Every home bucket is used: the multiply-shift reaches the last one.
  EXPECT_EQ(t.home(UINT32_MAX), t.bucketCount() - 1);
  EXPECT_EQ(t.home(0), 0U);
}

// The pool is faulted in when the table is built, not by the packet that takes its first
// session of a page: a first touch in the packet loop zeroed a 2 MiB huge page there (9% of a
// worker's time while a memif benchmark opened connections, docs/performance.md).
TEST(SessionTable, ThePoolIsResidentFromTheStart) {
  const SessionTable t(100'000);
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  auto* base = const_cast<Session*>(&t.at(0));
  const size_t bytes = t.capacity() * sizeof(Session);
  std::vector<unsigned char> resident((bytes + page - 1) / page);
  ASSERT_EQ(mincore(base, bytes, resident.data()), 0);
  size_t missing = 0;
  for (const unsigned char r : resident) missing += (r & 1U) == 0 ? 1 : 0;
  EXPECT_EQ(missing, 0U) << "of " << resident.size() << " pages";
}

TEST(SessionTable, DuplicateKeysAreRefusedAndFullPoolsRefuseMore) {
  SessionTable t(4);
  EXPECT_NE(add(t, 1, 1000, 2000), SessionTable::kInvalid);
  EXPECT_EQ(add(t, 1, 1000, 2001), SessionTable::kInvalid);  // same inbound key
  EXPECT_EQ(add(t, 2, 1000, 2000), SessionTable::kInvalid);  // same outbound key
  EXPECT_EQ(t.size(), 1U);
  EXPECT_NE(add(t, 3, 1000, 2003), SessionTable::kInvalid);
  EXPECT_NE(add(t, 4, 1000, 2004), SessionTable::kInvalid);
  EXPECT_NE(add(t, 5, 1000, 2005), SessionTable::kInvalid);
  EXPECT_EQ(t.allocate(), SessionTable::kInvalid);
}

TEST(SessionTable, ExpiryHonoursTouchInBothDirections) {
  SessionTable t(16);
  const uint32_t a = add(t, 1, 1000, 2000, 30'000);
  const uint32_t b = add(t, 2, 1000, 2001, 30'000);
  t.touch(a, 900'000);  // later: stays filed at 30 s, re-filed when that slot comes due
  t.touch(b, 5'000);    // earlier: re-filed now
  std::vector<uint32_t> expired;
  auto collect = [&](const Session& s) { expired.push_back(s.lport); };
  EXPECT_EQ(t.expire(8'000, 100, collect), 1U);
  EXPECT_EQ(expired, std::vector<uint32_t>{2001});
  EXPECT_EQ(t.expire(100'000, 100, collect), 0U);
  EXPECT_EQ(t.expire(902'000, 100, collect), 1U);
  EXPECT_EQ(t.size(), 0U);
}

TEST(SessionTable, ExpiryBudgetResumesWhereItStopped) {
  SessionTable t(256);
  for (uint16_t i = 0; i < 200; ++i) add(t, 100 + i, 1000, static_cast<uint16_t>(3000 + i), 1'000);
  auto none = [](const Session&) {};
  EXPECT_EQ(t.expire(10'000, 64, none), 64U);
  EXPECT_EQ(t.expire(10'000, 64, none), 64U);
  EXPECT_EQ(t.expire(10'000, 1000, none), 72U);
  EXPECT_EQ(t.size(), 0U);
}

}  // namespace
}  // namespace anylb::session
