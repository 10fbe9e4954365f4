// The persistence templates the workers share (fullnat/persist_table.h): lookups, expiry,
// first-store-wins, collisions counted only when a live template of another client goes, and
// workers storing and reading at once (also run under ThreadSanitizer, label "concurrency").
#include "fullnat/persist_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

namespace anylb::fullnat {
namespace {

PersistKey keyOf(uint32_t client, uint16_t vport = 80, uint8_t proto = 6) {
  PersistKey k;
  k.client = session::Addr::fromV4Raw(client);
  k.vip = session::Addr::fromV4Raw(0x0A00640A);
  k.vportBe = vport;
  k.proto = proto;
  return k;
}

TEST(PersistTable, AStoredTemplateIsFoundUntilItExpiresAndAHitExtendsIt) {
  PersistTable t(1024);
  EXPECT_EQ(t.lookup(keyOf(1), 0, 100), -1);
  const auto r = t.store(keyOf(1), 7, 0, 100);
  EXPECT_EQ(r.rsId, 7);
  EXPECT_FALSE(r.collision);
  EXPECT_EQ(t.lookup(keyOf(1), 50, 150), 7);  // and now lives until 150
  EXPECT_EQ(t.lookup(keyOf(1), 120, 120), 7);
  EXPECT_EQ(t.lookup(keyOf(1), 150, 300), -1);  // expired at 150
}

TEST(PersistTable, EveryPartOfTheKeyCounts) {
  PersistTable t(1024);
  t.store(keyOf(1), 7, 0, 100);
  EXPECT_EQ(t.lookup(keyOf(2), 0, 100), -1);
  EXPECT_EQ(t.lookup(keyOf(1, 81), 0, 100), -1);
  EXPECT_EQ(t.lookup(keyOf(1, 80, 17), 0, 100), -1);
  PersistKey otherVip = keyOf(1);
  otherVip.vip.b[3] ^= 1;
  EXPECT_EQ(t.lookup(otherVip, 0, 100), -1);
}

TEST(PersistTable, TheFirstLiveTemplateOfAKeyWins) {
  // Two workers scheduled the same client's first connections at once: the later store finds
  // the earlier template and both connections follow it.
  PersistTable t(1024);
  t.store(keyOf(1), 7, 0, 100);
  const auto r = t.store(keyOf(1), 9, 10, 110);
  EXPECT_EQ(r.rsId, 7);
  EXPECT_FALSE(r.collision);
  EXPECT_EQ(t.lookup(keyOf(1), 20, 20), 7);
  // Once it has expired, a new one replaces it without a collision.
  const auto late = t.store(keyOf(1), 9, 100, 200);
  EXPECT_EQ(late.rsId, 9);
  EXPECT_FALSE(late.collision);
}

TEST(PersistTable, OnlyOverwritingALiveTemplateOfAnotherClientIsACollision) {
  PersistTable t(2);  // one bucket of two ways
  EXPECT_FALSE(t.store(keyOf(1), 1, 0, 100).collision);
  EXPECT_FALSE(t.store(keyOf(2), 2, 0, 200).collision);
  const auto r = t.store(keyOf(3), 3, 10, 300);
  EXPECT_TRUE(r.collision);
  EXPECT_EQ(r.rsId, 3);
  // The template expiring first (client 1's) was the one replaced.
  EXPECT_EQ(t.lookup(keyOf(1), 20, 20), -1);
  EXPECT_EQ(t.lookup(keyOf(2), 20, 20), 2);
  EXPECT_EQ(t.lookup(keyOf(3), 20, 20), 3);
  // After both expire, storing is free again.
  EXPECT_FALSE(t.store(keyOf(4), 4, 400, 500).collision);
  EXPECT_FALSE(t.store(keyOf(5), 5, 400, 500).collision);
}

TEST(PersistTable, ListingShowsLiveTemplatesOnly) {
  PersistTable t(64);
  t.store(keyOf(1), 1, 0, 100);
  t.store(keyOf(2), 2, 0, 300);
  std::vector<PersistTemplate> live;
  t.forEachLive(200, [&](const PersistTemplate& p) { live.push_back(p); });
  ASSERT_EQ(live.size(), 1U);
  EXPECT_EQ(live[0].rsId, 2U);
  EXPECT_EQ(live[0].key.client, keyOf(2).client);
  EXPECT_EQ(live[0].key.vportBe, 80);
  EXPECT_EQ(live[0].key.proto, 6);
  EXPECT_EQ(live[0].expiresMs, 300U);
}

TEST(PersistTable, WorkersStoringAndReadingAtOnceNeverSeeAnotherClientsRs) {
  // Each client's RS is a function of the client, so a torn read (one client's address with
  // another's RS) would show as a wrong answer. A small table keeps the workers on the same
  // slots; a listing thread reads along.
  PersistTable t(16);
  constexpr int kThreads = 3;
  constexpr uint32_t kOps = 40000;
  std::atomic<uint64_t> wrong{0};
  std::atomic<uint64_t> hits{0};
  std::atomic<bool> stop{false};
  auto rsFor = [](uint32_t client) { return client * 2654435761U >> 8; };
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      uint64_t x = 0x9E3779B97F4A7C15ULL * (w + 1);
      for (uint32_t i = 0; i < kOps; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        const uint32_t client = 1 + static_cast<uint32_t>(x % 64);
        const uint64_t now = i;
        const int64_t got = t.lookup(keyOf(client), now, now + 50);
        if (got >= 0) {
          ++hits;
          if (got != rsFor(client)) ++wrong;
          continue;
        }
        const auto r = t.store(keyOf(client), rsFor(client), now, now + 50);
        if (r.rsId >= 0 && r.rsId != rsFor(client)) ++wrong;
      }
    });
  }
  std::thread lister([&] {
    while (!stop.load()) {
      t.forEachLive(0, [&](const PersistTemplate& p) {
        uint32_t client = 0;
        std::memcpy(&client, p.key.client.b, 4);
        if (p.rsId != rsFor(client)) ++wrong;
      });
    }
  });
  for (auto& th : threads) th.join();
  stop = true;
  lister.join();
  EXPECT_EQ(wrong.load(), 0U);
  EXPECT_GT(hits.load(), 0U);
}

}  // namespace
}  // namespace anylb::fullnat
