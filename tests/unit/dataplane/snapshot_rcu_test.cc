// Snapshot publication and reclamation (src/dataplane/snapshot_rcu.h): deterministic
// interleavings of the control thread's publish/reclaim with a worker's switch, and a stress
// test with real threads that also runs under ThreadSanitizer (label "concurrency", tree
// build-tsan) together with the counters other threads read.
#include "dataplane/snapshot_rcu.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "fullnat/worker.h"

namespace anylb::dataplane {
namespace {

constexpr uint64_t kCanary = 0x5AFE5AFE5AFE5AFEULL;

// Stands in for fullnat::Snapshot: immutable after construction, records its own lifetime.
class Registry {
 public:
  void born(const void* p) {
    const std::lock_guard<std::mutex> lock(mu_);
    live_.insert(p);
  }
  void died(const void* p) {
    const std::lock_guard<std::mutex> lock(mu_);
    live_.erase(p);
  }
  bool alive(const void* p) {
    const std::lock_guard<std::mutex> lock(mu_);
    return live_.contains(p);
  }
  size_t count() {
    const std::lock_guard<std::mutex> lock(mu_);
    return live_.size();
  }

 private:
  std::mutex mu_;
  std::set<const void*> live_;
};

struct Snap {
  Snap(uint64_t gen, Registry& reg) : generation(gen), services(64, gen), registry(reg) {
    registry.born(this);
  }
  ~Snap() {
    canary = 0;
    registry.died(this);
  }
  Snap(const Snap&) = delete;
  Snap& operator=(const Snap&) = delete;
  Snap(Snap&&) = delete;
  Snap& operator=(Snap&&) = delete;

  // What a worker does with a snapshot: read its services. Returns false if it was freed
  // (under ASan/TSan a freed one is reported before that).
  [[nodiscard]] bool read() const {
    uint64_t sum = 0;
    for (const uint64_t s : services) sum += s;
    return canary == kCanary && sum == generation * services.size();
  }

  uint64_t generation;
  std::vector<uint64_t> services;
  uint64_t canary = kCanary;
  Registry& registry;
};

using Rcu = SnapshotRcu<Snap>;

TEST(SnapshotRcu, SnapshotAWorkerSwitchesToIsNotFreedByAPublishDuringTheSwitch) {
  // The control thread runs between the worker's load of current_ and the moment its engine
  // starts using that snapshot (onSwitch is where the engine reads it): a publish and a
  // reclaim there must not free the snapshot being switched to.
  Registry reg;
  Rcu rcu(1);
  rcu.publish(std::make_shared<const Snap>(1, reg));
  rcu.refresh(0, [](const Snap*) {});
  rcu.publish(std::make_shared<const Snap>(2, reg));
  bool aliveDuringSwitch = false;
  const Snap* got = rcu.refresh(0, [&](const Snap* s) {
    rcu.publish(std::make_shared<const Snap>(3, reg));
    rcu.reclaim();
    aliveDuringSwitch = reg.alive(s);
  });
  EXPECT_TRUE(aliveDuringSwitch) << "snapshot freed while the worker switched to it";
  ASSERT_TRUE(reg.alive(got));
  EXPECT_TRUE(got->read());
  // The next switch takes the newest one; the two before it can go.
  const Snap* next = rcu.refresh(0, [](const Snap*) {});
  EXPECT_EQ(next->generation, 3U);
  rcu.reclaim();
  EXPECT_EQ(reg.count(), 1U);
}

TEST(SnapshotRcu, PreviousSnapshotStaysAliveUntilTheSwitchCompletes) {
  // The engine may still read its old snapshot while it switches (re-mapping per-service
  // state): a reclaim at that moment must keep it.
  Registry reg;
  Rcu rcu(1);
  rcu.publish(std::make_shared<const Snap>(1, reg));
  const Snap* first = rcu.refresh(0, [](const Snap*) {});
  rcu.publish(std::make_shared<const Snap>(2, reg));
  bool oldAlive = false;
  rcu.refresh(0, [&](const Snap*) {
    rcu.publish(std::make_shared<const Snap>(3, reg));
    rcu.reclaim();
    oldAlive = reg.alive(first);
  });
  EXPECT_TRUE(oldAlive);
  rcu.reclaim();
  EXPECT_FALSE(reg.alive(first)) << "freed once the worker has moved on";
}

TEST(SnapshotRcu, AStalledWorkerPinsOnlyTheSnapshotItUses) {
  Registry reg;
  Rcu rcu(2);
  rcu.publish(std::make_shared<const Snap>(1, reg));
  const Snap* pinned = rcu.refresh(0, [](const Snap*) {});
  rcu.refresh(1, [](const Snap*) {});
  for (uint64_t g = 2; g <= 10; ++g) {
    rcu.publish(std::make_shared<const Snap>(g, reg));
    rcu.refresh(1, [](const Snap*) {});  // worker 1 keeps up, worker 0 is stalled
    rcu.reclaim();
  }
  EXPECT_TRUE(reg.alive(pinned));
  EXPECT_EQ(rcu.retained(), 2U);  // what worker 0 holds, and the current one
  EXPECT_EQ(reg.count(), 2U);
  rcu.refresh(0, [](const Snap*) {});
  rcu.reclaim();
  EXPECT_EQ(reg.count(), 1U);
}

TEST(SnapshotRcu, ReclaimNeverFreesTheCurrentSnapshotWithoutReaders) {
  Registry reg;
  Rcu rcu(3);  // workers not started yet
  for (uint64_t g = 1; g <= 5; ++g) {
    rcu.publish(std::make_shared<const Snap>(g, reg));
    rcu.reclaim();
  }
  EXPECT_EQ(reg.count(), 1U);
  EXPECT_EQ(rcu.current()->generation, 5U);
}

// Workers forward (read their snapshot, count packets) while the control thread publishes
// and reclaims in a tight loop and reads the workers' counters, as statsJson does.
TEST(SnapshotRcuStress, PublishInATightLoopWhileWorkersForward) {
  constexpr size_t kWorkers = 3;
  // At least this many publishes and this long (so every worker runs during it), at most
  // kMaxTime (ThreadSanitizer is slower).
  constexpr uint64_t kPublishes = 20000;
  const auto kMinTime = std::chrono::milliseconds(500);
  const auto kMaxTime = std::chrono::seconds(4);
  Registry reg;
  Rcu rcu(kWorkers);
  rcu.publish(std::make_shared<const Snap>(1, reg));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0};
  std::vector<fullnat::WorkerCounters> counters(kWorkers);
  std::vector<std::unique_ptr<fullnat::RsStats[]>> rs;
  for (size_t w = 0; w < kWorkers; ++w) rs.push_back(std::make_unique<fullnat::RsStats[]>(4));
  std::vector<RelaxedCounter> switches(kWorkers);
  std::vector<std::thread> workers;
  for (size_t w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      uint64_t lastGen = 0;
      auto& c = counters[w];
      while (!stop.load(std::memory_order_relaxed)) {
        const Snap* s = rcu.refresh(w, [&](const Snap* next) {
          if (!next->read()) bad.fetch_add(1);
          ++switches[w];
        });
        // A burst: every packet reads the snapshot it forwards with.
        for (int pkt = 0; pkt < 8; ++pkt) {
          if (!s->read()) bad.fetch_add(1);
          ++c.rxPackets;
          ++c.forwarded;
          ++c.drops[pkt % 2];
          auto& st = rs[w][pkt % 4];
          ++st.inPackets;
          st.inBytes += 100;
          st.active = static_cast<uint32_t>(pkt);
        }
        if (s->generation < lastGen) bad.fetch_add(1);  // never back to an older snapshot
        lastGen = s->generation;
      }
    });
  }
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t published = 1;
  uint64_t lastRx = 0;
  bool rxMonotonic = true;
  for (auto elapsed = std::chrono::steady_clock::duration{};
       (published < kPublishes || elapsed < kMinTime) && elapsed < kMaxTime;
       elapsed = std::chrono::steady_clock::now() - t0) {
    rcu.publish(std::make_shared<const Snap>(++published, reg));
    rcu.reclaim();
    // On a machine with fewer cores than threads, let a worker run between publishes now and
    // then (else a worker only ever sees the last snapshot of each control time slice).
    if (published % 512 == 0) std::this_thread::yield();
    if (published % 64 == 0) {
      uint64_t rx = 0;
      uint64_t bytes = 0;
      for (size_t w = 0; w < kWorkers; ++w) {
        rx += counters[w].rxPackets;
        for (int i = 0; i < 4; ++i) bytes += rs[w][i].inBytes;
      }
      rxMonotonic = rxMonotonic && rx >= lastRx;
      lastRx = rx;
      EXPECT_EQ(bytes % 100, 0U);
    }
  }
  stop = true;
  for (auto& t : workers) t.join();
  EXPECT_EQ(bad.load(), 0U) << "a worker read a freed or foreign snapshot";
  EXPECT_TRUE(rxMonotonic);
  EXPECT_GT(published, 1000U) << "too few publishes to mean anything";
  for (size_t w = 0; w < kWorkers; ++w) {
    EXPECT_GE(switches[w], 2U) << "worker " << w << " did not switch while snapshots changed";
    EXPECT_EQ(counters[w].rxPackets, counters[w].forwarded);
    EXPECT_EQ(counters[w].drops[0] + counters[w].drops[1], counters[w].rxPackets);
  }
  // Nothing leaked: what is alive is what the workers last used plus the current one.
  rcu.reclaim();
  EXPECT_LE(rcu.retained(), kWorkers + 1);
  EXPECT_EQ(reg.count(), rcu.retained());
  uint64_t switched = 0;
  for (const auto& n : switches) switched += n;
  std::printf("publishes %llu, worker switches %llu\n", static_cast<unsigned long long>(published),
              static_cast<unsigned long long>(switched));
}

}  // namespace
}  // namespace anylb::dataplane
