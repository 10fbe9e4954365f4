// Incremental session listings (anylbctl sessions): a listing walked in many budget-limited
// steps, as the worker loop does, gives what one whole walk gives, and a table that changes
// between steps never makes it list a session twice or crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "engine_fixture.h"
#include "session/session_table.h"

namespace anylb::testing {
namespace {

using session::Session;
using session::SessionTable;

// A TCP session of client `c` (distinct per c): CIP:cport -> VIP:80 via LIP:lport -> RS:8080.
uint32_t addSession(SessionTable& t, uint32_t c) {
  const uint32_t idx = t.allocate();
  if (idx == SessionTable::kInvalid) return idx;
  Session& s = t.at(idx);
  s = Session{};
  s.cip = session::Addr::fromV4Raw(__builtin_bswap32(0xAC100000 + (c >> 8)));
  s.cport = static_cast<uint16_t>(10000 + (c & 0xFF));
  s.vip = session::Addr::fromV4Raw(__builtin_bswap32(0x0A64000A));
  s.vport = 80;
  s.rip = session::Addr::fromV4Raw(__builtin_bswap32(0x0A140001 + (c % 4)));
  s.rport = 8080;
  s.lip = session::Addr::fromV4Raw(__builtin_bswap32(0x0AC80001));
  s.lport = static_cast<uint16_t>(1024 + c);
  s.proto = 6;
  s.family = 4;
  s.expires = 1'000'000;
  return t.insert(idx) ? idx : SessionTable::kInvalid;
}

// Who a session is, independent of its pool index (which a new session may reuse).
uint64_t identity(const Session& s) {
  return uint64_t{s.cip.v4Raw()} << 32 | uint64_t{s.cport} << 16 | s.lport;
}

std::multiset<uint64_t> wholeWalk(SessionTable& t) {
  std::multiset<uint64_t> out;
  t.forEach([&](uint32_t idx) { out.insert(identity(t.at(idx))); });
  return out;
}

std::multiset<uint64_t> steppedWalk(const SessionTable& t, uint32_t budget, unsigned* steps) {
  std::multiset<uint64_t> out;
  uint32_t cursor = 0;
  *steps = 0;
  do {
    cursor = t.forEachStep(cursor, budget, [&](uint32_t idx) { out.insert(identity(t.at(idx))); });
    ++*steps;
  } while (cursor != SessionTable::kWalkDone);
  return out;
}

TEST(SessionListing, SteppedWalkListsExactlyWhatAWholeWalkLists) {
  SessionTable t(20000);
  for (uint32_t c = 0; c < 15000; ++c) ASSERT_NE(addSession(t, c), SessionTable::kInvalid);
  const auto all = wholeWalk(t);
  ASSERT_EQ(all.size(), 15000U);
  for (const uint32_t budget : {1U, 7U, 4096U, t.bucketCount() - 1, t.bucketCount(), UINT32_MAX}) {
    unsigned steps = 0;
    EXPECT_EQ(steppedWalk(t, budget, &steps), all) << "budget " << budget;
    const uint64_t expectSteps = (uint64_t{t.bucketCount()} + budget - 1) / budget;
    EXPECT_EQ(steps, expectSteps) << "budget " << budget;
  }
}

TEST(SessionListing, EmptyTableAndFinishedCursor) {
  SessionTable t(64);
  unsigned steps = 0;
  EXPECT_TRUE(steppedWalk(t, 1, &steps).empty());
  unsigned calls = 0;
  EXPECT_EQ(t.forEachStep(SessionTable::kWalkDone, 8, [&](uint32_t) { ++calls; }),
            SessionTable::kWalkDone);
  EXPECT_EQ(calls, 0U);
}

TEST(SessionListing, ChangesBetweenStepsNeverListASessionTwice) {
  // Between every two steps, sessions are removed and new ones inserted (the table nearly
  // full, so entries overflow into later buckets). Each session that lives through the
  // whole walk is listed exactly once; every listed session was live when its step ran;
  // nothing is listed twice.
  constexpr uint32_t kCapacity = 8192;
  SessionTable t(kCapacity);
  std::mt19937 rng(7);
  std::map<uint64_t, uint32_t> live;  // identity -> pool index
  uint32_t next = 0;
  auto insert = [&] {
    const uint32_t idx = addSession(t, next++);
    if (idx != SessionTable::kInvalid) live[identity(t.at(idx))] = idx;
  };
  while (live.size() < kCapacity * 9 / 10) insert();
  std::set<uint64_t> untouched;  // live from start to end of the walk
  for (const auto& [id, idx] : live) untouched.insert(id);

  std::map<uint64_t, unsigned> listed;
  uint32_t cursor = 0;
  unsigned steps = 0;
  do {
    cursor = t.forEachStep(cursor, 3, [&](uint32_t idx) {
      const uint64_t id = identity(t.at(idx));
      EXPECT_TRUE(live.contains(id)) << "listed a session that is not live";
      ++listed[id];
    });
    ++steps;
    for (int k = 0; k < 3 && !live.empty(); ++k) {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng() % live.size()));
      t.remove(it->second);
      untouched.erase(it->first);
      live.erase(it);
    }
    for (int k = 0; k < 3; ++k) insert();
  } while (cursor != SessionTable::kWalkDone);

  ASSERT_GT(steps, 100U);
  for (const auto& [id, n] : listed) EXPECT_EQ(n, 1U) << "session listed " << n << " times";
  for (const uint64_t id : untouched)
    EXPECT_EQ(listed.count(id), 1U) << "a stable session was missed";
  EXPECT_EQ(t.size(), live.size());
}

class WorkerListing : public EngineTest {
 protected:
  // `n` TCP sessions from kClient ports 20000.. to VIP:80.
  void open(uint16_t n) {
    makeWorker(4096, 0, 1);
    for (uint16_t i = 0; i < n; ++i) {
      const auto out = run(frame(fromClient(kSyn, {}, {}, static_cast<uint16_t>(20000 + i))));
      ASSERT_EQ(out.v.verdict, fullnat::Verdict::kForward);
    }
    ASSERT_EQ(worker_->sessions().size(), n);
  }

  struct Listing {
    std::vector<fullnat::SessionInfo> sessions;
    uint64_t matched = 0;
    unsigned steps = 0;
  };
  Listing stepped(const fullnat::SessionFilter& f, size_t limit, uint32_t budget) {
    Listing l;
    uint32_t cursor = 0;
    do {
      cursor = worker_->listSessionsStep(f, limit, 1000, cursor, budget, l.sessions, l.matched);
      ++l.steps;
    } while (cursor != fullnat::Worker::kListDone);
    return l;
  }
};

std::set<uint16_t> clientPorts(const std::vector<fullnat::SessionInfo>& v) {
  std::set<uint16_t> out;
  for (const auto& s : v) out.insert(s.cport);
  return out;
}

TEST_F(WorkerListing, SteppedListingMatchesTheWholeListing) {
  open(300);
  fullnat::SessionFilter all;
  std::vector<fullnat::SessionInfo> whole;
  const uint64_t matched = worker_->listSessions(all, 1000, 1000, whole);
  EXPECT_EQ(matched, 300U);
  const auto l = stepped(all, 1000, 2);
  EXPECT_GT(l.steps, 100U);
  EXPECT_EQ(l.matched, 300U);
  ASSERT_EQ(l.sessions.size(), 300U);
  EXPECT_EQ(clientPorts(l.sessions), clientPorts(whole));
  EXPECT_EQ(l.sessions[0].vport, 80);
  EXPECT_EQ(l.sessions[0].rport, 8080);
  EXPECT_EQ(l.sessions[0].state, session::TcpState::kSynRecv);
}

TEST_F(WorkerListing, LimitCapsTheListButNotTheMatchCount) {
  open(300);
  fullnat::SessionFilter f;
  f.vport = 80;
  const auto l = stepped(f, 10, 5);
  EXPECT_EQ(l.sessions.size(), 10U);
  EXPECT_EQ(l.matched, 300U);  // the walk goes on past the limit: an exact count
  f.cport = 20007;
  const auto one = stepped(f, 10, 5);
  ASSERT_EQ(one.sessions.size(), 1U);
  EXPECT_EQ(one.sessions[0].cport, 20007);
  EXPECT_EQ(one.matched, 1U);
  f.vport = 443;  // matches nothing
  const auto none = stepped(f, 10, 5);
  EXPECT_TRUE(none.sessions.empty());
  EXPECT_EQ(none.matched, 0U);
}

}  // namespace
}  // namespace anylb::testing
