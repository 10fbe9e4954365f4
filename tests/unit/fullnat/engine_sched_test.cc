// Scheduling at the engine (issue 17): persistence templates with a netmask and shared by the
// workers, collisions counted; upper/lower thresholds per RS with refusals counted under
// rs_overloaded; what sh, mh and dh hash.
#include <gtest/gtest.h>

#include <set>

#include "engine_fixture.h"

namespace anylb::testing {
namespace {

using fullnat::DropReason;
using fullnat::Verdict;

constexpr uint16_t kPersistPort = 81;  // service 2: rr over .31 and .32, persistence 300 s

class Sched : public EngineTest {
 protected:
  fullnat::PacketVerdict synOn(fullnat::Worker& w, uint16_t cport, uint16_t vport,
                               const char* client, uint64_t nowMs = 1000) {
    auto syn = fromClient(kSyn, kMss, {}, cport, vport);
    syn.src = client;
    rte_mbuf* m = toMbuf(frame(syn));
    fullnat::PacketVerdict v;
    w.processBurst(&m, 1, nowMs, &v);
    rte_pktmbuf_free(m);
    return v;
  }
  // The last byte of the RS address the session of (client, cport) -> VIP:vport went to on `w`,
  // or 0 if there is none.
  static uint8_t rsOf(const fullnat::Worker& w, const char* client, uint16_t cport,
                      uint16_t vport) {
    session::FlowKey k{};
    k.src = fullnat::toAddr(*IpAddr::parse(client));
    k.dst = fullnat::toAddr(*IpAddr::parse(kVip));
    k.sport = htons(cport);
    k.dport = htons(vport);
    k.proto = 6;
    const auto& t = w.sessions();
    const uint32_t idx = t.find(t.hash(k), session::Dir::kIn, k);
    return idx == session::SessionTable::kInvalid ? 0 : t.at(idx).rip.b[3];
  }
  uint8_t connect(uint16_t cport, uint16_t vport, const char* client, uint64_t nowMs = 1000) {
    const auto v = synOn(*worker_, cport, vport, client, nowMs);
    EXPECT_EQ(v.verdict, Verdict::kForward) << fullnat::dropReasonName(v.reason);
    return rsOf(*worker_, client, cport, vport);
  }
  uint64_t drops(DropReason r) const { return worker_->counters().drops[static_cast<unsigned>(r)]; }
};

// --- persistence --------------------------------------------------------------------------

TEST_F(Sched, PersistenceNetmaskGroupsAPrefixOnOneRs) {
  cfg_.services[2].persistencePrefix = 24;
  makeWorker(1024, 0, 1);
  const uint8_t first = connect(40001, kPersistPort, "192.0.2.7");
  // rr would alternate; the /24 shares the first client's template.
  for (const char* c : {"192.0.2.8", "192.0.2.200", "192.0.2.7"}) {
    EXPECT_EQ(connect(40002, kPersistPort, c), first) << c;
  }
  EXPECT_NE(connect(40003, kPersistPort, "192.0.3.7"), first);  // another /24: rr moves on
  // The listing shows the masked address, port 0 (ipvsadm -L -c's template row).
  std::vector<fullnat::PersistTemplate> live;
  worker_->persistTable().forEachLive(1000, [&](const auto& t) { live.push_back(t); });
  ASSERT_EQ(live.size(), 2U);
  std::set<std::string> clients;
  for (const auto& t : live)
    clients.insert(std::to_string(t.key.client.b[2]) + "." + std::to_string(t.key.client.b[3]));
  EXPECT_EQ(clients, (std::set<std::string>{"2.0", "3.0"}));
}

TEST_F(Sched, PersistenceWholeAddressByDefault) {
  const uint8_t a = connect(40001, kPersistPort, "192.0.2.7");
  const uint8_t b = connect(40001, kPersistPort, "192.0.2.8");
  EXPECT_NE(a, b);
}

TEST_F(Sched, TemplatesPersistAcrossWorkers) {
  // Two workers of one node share the node's table (the dataplane gives each the same one).
  auto table = std::make_shared<fullnat::PersistTable>(1024);
  fullnat::EngineOptions opts;
  opts.persistTable = table;
  makeWorker(1024, 0, 2, opts);
  fullnat::Worker other(1, 2, 1024, opts);
  other.setSnapshot(fullnat::Snapshot::build(cfg_, ++generation_, 2, registry_));
  // Worker 1's rr has moved on to the second RS for somebody else ...
  ASSERT_EQ(synOn(other, 41000, kPersistPort, "198.51.100.9").verdict, Verdict::kForward);
  // ... the client's first connection lands on worker 0 (rr: the first RS) ...
  const uint8_t first = connect(40001, kPersistPort, kClient);
  ASSERT_EQ(first, 31);
  // ... and its next one, hashed by RSS to worker 1, must follow the template, not worker 1's rr.
  ASSERT_EQ(synOn(other, 40002, kPersistPort, kClient).verdict, Verdict::kForward);
  EXPECT_EQ(rsOf(other, kClient, 40002, kPersistPort), first);
}

TEST_F(Sched, OverwritingALiveTemplateOfAnotherClientIsCounted) {
  // A table of one bucket (two ways): the third client overwrites a live template.
  fullnat::EngineOptions opts;
  opts.persistTable = std::make_shared<fullnat::PersistTable>(2);
  makeWorker(1024, 0, 1, opts);
  connect(40001, kPersistPort, "192.0.2.1");
  connect(40001, kPersistPort, "192.0.2.2");
  EXPECT_EQ(worker_->counters().persistCollisions.load(), 0U);
  connect(40001, kPersistPort, "192.0.2.1");  // a hit: no collision
  EXPECT_EQ(worker_->counters().persistCollisions.load(), 0U);
  connect(40001, kPersistPort, "192.0.2.3");
  EXPECT_EQ(worker_->counters().persistCollisions.load(), 1U);
  // Expired templates are free slots, not collisions.
  const uint64_t later = 1000 + 301 * 1000;
  connect(40002, kPersistPort, "192.0.2.4", later);
  connect(40002, kPersistPort, "192.0.2.5", later);
  EXPECT_EQ(worker_->counters().persistCollisions.load(), 1U);
}

// --- thresholds ---------------------------------------------------------------------------

TEST_F(Sched, AnRsAtItsUpperThresholdIsSkippedUntilBelowItsLower) {
  cfg_.services[2].persistence = 0;
  cfg_.services[2].realServers[0].upperThreshold = 2;  // .31
  makeWorker(1024, 0, 1);
  std::string seq;
  for (uint16_t p = 0; p < 6; ++p) seq += std::to_string(connect(40001 + p, kPersistPort, kClient));
  // rr: .31 .32 .31 (now at 2: overloaded) .32 .32 .32
  EXPECT_EQ(seq, "313231323232");
  // Both at their limit: refused, counted once under rs_overloaded and never as no_real_server.
  cfg_.services[2].realServers[1].upperThreshold = 4;
  worker_->setSnapshot(fullnat::Snapshot::build(cfg_, ++generation_, 1, registry_));
  const auto v = synOn(*worker_, 40100, kPersistPort, kClient);
  EXPECT_EQ(v.verdict, Verdict::kDrop);
  EXPECT_EQ(v.reason, DropReason::kRsOverloaded);
  EXPECT_EQ(drops(DropReason::kRsOverloaded), 1U);
  EXPECT_EQ(drops(DropReason::kNoRealServer), 0U);
  // rsIds in config order: .31 = 2, .32 = 3; the control plane's "overloaded" reads these.
  EXPECT_EQ(worker_->rsStats()[2].overloaded.load(), 1U);
  EXPECT_EQ(worker_->rsStats()[3].overloaded.load(), 1U);
}

TEST_F(Sched, LowerThresholdAndItsThreeQuartersDefault) {
  // Sessions 10 s apart, so that expiring the oldest (the timer wheel has 1 s ticks) leaves the
  // others; `gone(i)` is a time when the i-th is expired and the next is not.
  const uint64_t synRecvMs = cfg_.dataplane.timeouts.tcpSynRecv * 1000ULL;
  auto born = [](uint16_t i) { return 1000 + i * 10000ULL; };
  auto gone = [&](uint16_t i) { return born(i) + synRecvMs + 3000; };
  auto expireUpTo = [&](uint16_t i) {
    worker_->expire(gone(i), 1000);
    return gone(i) + 1;
  };
  cfg_.services[0].realServers[0].upperThreshold = 3;
  cfg_.services[0].realServers[0].lowerThreshold = 2;
  makeWorker(1024, 0, 1);
  for (uint16_t i = 0; i < 3; ++i) connect(40001 + i, 80, kClient, born(i));  // 3: at the limit
  EXPECT_EQ(synOn(*worker_, 40010, 80, kClient, born(2) + 1).reason, DropReason::kRsOverloaded);
  // 2 left, not below the lower threshold of 2: still refused.
  EXPECT_EQ(synOn(*worker_, 40011, 80, kClient, expireUpTo(0)).reason, DropReason::kRsOverloaded);
  // 1 < 2: open again.
  EXPECT_EQ(synOn(*worker_, 40012, 80, kClient, expireUpTo(1)).verdict, Verdict::kForward);

  // Without a lower threshold: cleared below 3/4 of the upper one (4: at most 2 sessions).
  cfg_.services[0].realServers[0].upperThreshold = 4;
  cfg_.services[0].realServers[0].lowerThreshold = 0;
  makeWorker(1024, 0, 1);
  for (uint16_t i = 0; i < 4; ++i) connect(40001 + i, 80, kClient, born(i));
  EXPECT_EQ(synOn(*worker_, 40010, 80, kClient, born(3) + 1).reason, DropReason::kRsOverloaded);
  // 3 left: 3 * 4 = 12 is not below 4 * 3.
  EXPECT_EQ(synOn(*worker_, 40011, 80, kClient, expireUpTo(0)).reason, DropReason::kRsOverloaded);
  // 2 left: 8 < 12.
  EXPECT_EQ(synOn(*worker_, 40012, 80, kClient, expireUpTo(1)).verdict, Verdict::kForward);
}

TEST_F(Sched, EachWorkerEnforcesItsShareOfTheThreshold) {
  cfg_.services[0].realServers[0].upperThreshold = 3;  // two workers: ceil(3 / 2) = 2 each
  makeWorker(1024, 0, 2);
  connect(40001, 80, kClient);
  connect(40002, 80, kClient);
  EXPECT_EQ(synOn(*worker_, 40003, 80, kClient).reason, DropReason::kRsOverloaded);
}

TEST_F(Sched, RaisingTheThresholdByReloadClearsTheOverload) {
  cfg_.services[0].realServers[0].upperThreshold = 1;
  makeWorker(1024, 0, 1);
  connect(40001, 80, kClient);
  EXPECT_EQ(synOn(*worker_, 40002, 80, kClient).reason, DropReason::kRsOverloaded);
  cfg_.services[0].realServers[0].upperThreshold = 0;  // ipvsadm -e ... -x 0
  worker_->setSnapshot(fullnat::Snapshot::build(cfg_, ++generation_, 1, registry_));
  EXPECT_EQ(synOn(*worker_, 40003, 80, kClient).verdict, Verdict::kForward);
}

// --- what the hash schedulers hash ----------------------------------------------------------

TEST_F(Sched, ShAndMhHashTheClientAddressAndThePortOnlyWithTheFlag) {
  for (const auto kind : {config::Scheduler::kSh, config::Scheduler::kMh}) {
    for (const bool port : {false, true}) {
      cfg_.services[2].persistence = 0;
      cfg_.services[2].scheduler = kind;
      cfg_.services[2].hashPort = port;
      makeWorker(1024, 0, 1);
      std::set<uint8_t> used;
      for (uint16_t p = 0; p < 32; ++p) used.insert(connect(40001 + p, kPersistPort, kClient));
      EXPECT_EQ(used.size(), port ? 2U : 1U) << config::toString(kind) << " port " << port;
    }
  }
}

TEST_F(Sched, DhSendsEveryClientOfTheVipToOneRs) {
  cfg_.services[2].persistence = 0;
  cfg_.services[2].scheduler = config::Scheduler::kDh;
  makeWorker(1024, 0, 1);
  std::set<uint8_t> used;
  const char* clients[] = {"192.0.2.1", "192.0.2.2", "198.51.100.3", "203.0.113.4"};
  for (uint16_t p = 0; p < 4; ++p) used.insert(connect(40001 + p, kPersistPort, clients[p]));
  EXPECT_EQ(used.size(), 1U);
}

}  // namespace
}  // namespace anylb::testing
