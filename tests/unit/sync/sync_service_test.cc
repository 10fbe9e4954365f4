// The sync service over real UDP sockets on loopback (127.0.0.1, 127.0.0.2, ...: addresses of
// this host only), with plain rings in place of the dataplane's workers: live events reach the
// peer, a starting node gets the peer's sessions before it is ready, and forged, replayed,
// foreign or unknown datagrams are counted and never installed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <thread>

#include "sync/service.h"

namespace anylb::sync {
namespace {

using namespace std::chrono_literals;

// One worker's rings; startBulk() replays `table` with the destination, then the end marker,
// as Worker::bulkStep does.
class FakeWorkers : public Workers {
 public:
  [[nodiscard]] uint16_t count() const override { return 1; }
  [[nodiscard]] EventRing* out(uint16_t) const override { return &out_; }
  [[nodiscard]] EventRing* in(uint16_t) const override { return &in_; }
  [[nodiscard]] uint16_t ownerOf(uint16_t) const override { return 0; }
  bool startBulk(uint16_t dest) override {
    ++bulks;
    for (Event ev : table) {
      ev.dest = dest;
      EXPECT_TRUE(out_.push(ev));
    }
    Event end;
    end.kind = EventKind::kBulkEnd;
    end.dest = dest;
    EXPECT_TRUE(out_.push(end));
    return true;
  }
  std::vector<Event> table;
  std::atomic<int> bulks{0};
  mutable EventRing out_{4096};
  mutable EventRing in_{4096};
};

Key testKey(uint8_t fill = 7) {
  Key k;
  k.bytes.fill(fill);
  return k;
}

// The UDP port every service of this test process uses: one the kernel hands out as free
// (bound on 127.0.0.1 and every other address, then released). It used to be 20000 + pid % 20000:
// two test processes 20000 PIDs apart (pid_max is 32768 here, and make test spawns thousands of
// processes a minute) then shared a port, and with the same key and node ids each heard the
// other's sessions.
uint16_t testPort() {
  static const uint16_t port = [] {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    socklen_t len = sizeof(sa);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      std::perror("testPort");
      std::abort();
    }
    ::close(fd);
    return ntohs(sa.sin_port);
  }();
  return port;
}

Event session(uint16_t cport) {
  Event ev;
  std::memset(&ev.s, 0, sizeof(ev.s));
  ev.s.cip = session::Addr::fromV4Raw(inet_addr("192.0.2.7"));
  ev.s.vip = session::Addr::fromV4Raw(inet_addr("10.100.0.10"));
  ev.s.rip = session::Addr::fromV4Raw(inet_addr("10.20.0.11"));
  ev.s.lip = session::Addr::fromV4Raw(inet_addr("10.200.1.1"));
  ev.s.cport = htons(cport);
  ev.s.vport = htons(80);
  ev.s.rport = htons(80);
  ev.s.lport = htons(static_cast<uint16_t>(cport - 30000));
  ev.s.proto = IPPROTO_TCP;
  ev.s.family = 4;
  ev.s.state = session::TcpState::kEstablished;
  ev.expiresInMs = 900000;
  return ev;
}

ServiceOptions options(uint16_t id, const char* bind, uint16_t peerId, const char* peer) {
  ServiceOptions o;
  o.nodeId = id;
  o.bind = *IpAddr::parse(bind);
  o.port = testPort();
  o.key = testKey();
  o.bulkTimeoutMs = 1500;
  config::SyncPeer p;
  p.nodeId = peerId;
  p.address = *IpAddr::parse(peer);
  o.peers.push_back(p);
  return o;
}

template <typename Pred>
bool waitFor(Pred pred, std::chrono::milliseconds limit = 3000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

size_t drain(EventRing& r, std::vector<Event>* out = nullptr) {
  Event ev;
  size_t n = 0;
  while (r.pop(ev)) {
    if (out != nullptr) out->push_back(ev);
    ++n;
  }
  return n;
}

// A datagram from `src` (an address of this host) to `dst`:port.
void sendRaw(const char* src, const char* dst, std::span<const uint8_t> d) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = inet_addr(src);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  sockaddr_in da{};
  da.sin_family = AF_INET;
  da.sin_port = htons(testPort());
  da.sin_addr.s_addr = inet_addr(dst);
  ASSERT_EQ(::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&da), sizeof(da)),
            static_cast<ssize_t>(d.size()));
  ::close(fd);
}

TEST(SyncService, AStartingNodeHoldsThePeersSessionsBeforeItIsReady) {
  FakeWorkers wa;
  FakeWorkers wb;
  for (uint16_t p = 40000; p < 40100; ++p) wb.table.push_back(session(p));
  Service b(options(2, "127.0.0.2", 1, "127.0.0.1"), wb);
  b.start();
  Service a(options(1, "127.0.0.1", 2, "127.0.0.2"), wa);
  a.start();
  ASSERT_TRUE(waitFor([&] { return a.ready(); }));
  std::vector<Event> got;
  drain(wa.in_, &got);
  ASSERT_EQ(got.size(), 100U);
  EXPECT_EQ(got[0].s.lip, wb.table[0].s.lip);
  EXPECT_EQ(got[0].s.lport, wb.table[0].s.lport);
  EXPECT_EQ(got[99].s.cport, wb.table[99].s.cport);
  EXPECT_EQ(a.peers()[0].bulk, "done");
  EXPECT_EQ(a.peers()[0].bulkRecords, 100U);
  // B's own bulk request to A (A's table is empty) completes too.
  ASSERT_TRUE(waitFor([&] { return b.ready(); }));
  EXPECT_EQ(wb.bulks, 1);
  EXPECT_EQ(wa.bulks, 1);

  // Live: a session created on A reaches B's worker within a loop or so.
  drain(wb.in_);
  ASSERT_TRUE(wa.out_.push(session(41000)));
  ASSERT_TRUE(waitFor([&] { return wb.in_.size() == 1; }));
  Event ev;
  ASSERT_TRUE(wb.in_.pop(ev));
  EXPECT_EQ(ev.s.cport, htons(41000));
  EXPECT_EQ(ev.kind, EventKind::kUpsert);
  EXPECT_EQ(ev.expiresInMs, 900000U);
}

// A restarts (kill -9 and start): its new incarnation asks again and gets B's sessions of now,
// not B's answer to the old incarnation (lab_continuity_restart_sync lost 24 downloads to that:
// "bulk sync from peer 2 complete: 0 sessions", B's answer from before it had any).
TEST(SyncService, ARestartedNodeGetsThePeersSessionsOfNow) {
  FakeWorkers wa;
  FakeWorkers wb;
  Service b(options(2, "127.0.0.2", 1, "127.0.0.1"), wb);
  b.start();
  {
    Service a(options(1, "127.0.0.1", 2, "127.0.0.2"), wa);
    a.start();
    ASSERT_TRUE(waitFor([&] { return a.ready() && b.ready(); }));
    EXPECT_EQ(a.peers()[0].bulkRecords, 0U);
  }
  b.stop();
  for (uint16_t p = 43000; p < 43100; ++p) wb.table.push_back(session(p));
  b.start();
  drain(wa.in_);
  Service a2(options(1, "127.0.0.1", 2, "127.0.0.2"), wa);
  a2.start();
  ASSERT_TRUE(waitFor([&] { return a2.ready(); }));
  EXPECT_EQ(a2.peers()[0].bulkRecords, 100U);
  EXPECT_EQ(drain(wa.in_), 100U);
}

// A reload: a new peer is asked for its sessions and heard from; a removed one is not heard any
// more (its datagrams count as unknown_source) and gets nothing.
TEST(SyncService, AReloadAddsAndRemovesPeers) {
  FakeWorkers wa;
  FakeWorkers wc;
  for (uint16_t p = 44000; p < 44010; ++p) wc.table.push_back(session(p));
  auto o = options(1, "127.0.0.1", 2, "127.0.0.2");
  o.bulkTimeoutMs = 200;
  Service a(o, wa);
  a.start();
  ASSERT_TRUE(waitFor([&] { return a.ready(); }));
  Service c(options(3, "127.0.0.3", 1, "127.0.0.1"), wc);
  c.start();
  config::SyncPeer pc;
  pc.nodeId = 3;
  pc.address = *IpAddr::parse("127.0.0.3");
  a.setPeers({pc});  // peer 2 removed, peer 3 added
  ASSERT_TRUE(waitFor([&] { return wa.in_.size() == 10; })) << wa.in_.size();
  ASSERT_EQ(a.peers().size(), 1U);
  EXPECT_EQ(a.peers()[0].nodeId, 3);
  EXPECT_EQ(a.peers()[0].bulk, "done");
  // The removed peer's datagrams, even validly tagged, are no longer heard. (Counted from
  // here: node 3's first datagrams may have reached A before the reload made it a peer.)
  const auto unknownBefore = a.statusJson()["rx"]["dropped"]["unknown_source"].get<uint64_t>();
  Builder b(MsgType::kSessions);
  Header h;
  h.nodeId = 2;
  h.epoch = 9;
  h.seq = 1;
  const auto d = b.seal(testKey(), h);
  sendRaw("127.0.0.2", "127.0.0.1", std::vector<uint8_t>(d.begin(), d.end()));
  ASSERT_TRUE(waitFor([&] {
    return a.statusJson()["rx"]["dropped"]["unknown_source"].get<uint64_t>() == unknownBefore + 1;
  }));
}

// replicas = 1 over two live peers: each session goes to exactly one of them, always the same
// one for the same flow, and both peers get a share (rendezvous hashing, not "the first peer").
TEST(SyncService, WithOneReplicaEachFlowHasExactlyOneStableHolder) {
  FakeWorkers wa;
  FakeWorkers wb;
  FakeWorkers wc;
  auto oa = options(1, "127.0.0.1", 2, "127.0.0.2");
  config::SyncPeer pc;
  pc.nodeId = 3;
  pc.address = *IpAddr::parse("127.0.0.3");
  oa.peers.push_back(pc);
  oa.replicas = 1;
  auto ob = options(2, "127.0.0.2", 1, "127.0.0.1");
  auto oc = options(3, "127.0.0.3", 1, "127.0.0.1");
  Service b(ob, wb);
  Service c(oc, wc);
  b.start();
  c.start();
  Service a(oa, wa);
  a.start();
  // Both peers live (heard from) before A routes: holders are chosen among live peers.
  ASSERT_TRUE(waitFor([&] {
    const auto ps = a.peers();
    return a.ready() && ps.size() == 2 && ps[0].live && ps[1].live;
  }));
  drain(wb.in_);
  drain(wc.in_);
  std::set<uint16_t> firstB;
  for (int round = 0; round < 2; ++round) {
    for (uint16_t p = 45000; p < 45200; ++p) ASSERT_TRUE(wa.out_.push(session(p)));
    ASSERT_TRUE(waitFor([&] { return wb.in_.size() + wc.in_.size() == 200; }))
        << wb.in_.size() << " + " << wc.in_.size();
    std::vector<Event> atB;
    std::vector<Event> atC;
    drain(wb.in_, &atB);
    drain(wc.in_, &atC);
    std::set<uint16_t> b2;
    for (const auto& ev : atB) b2.insert(ev.s.cport);
    for (const auto& ev : atC) EXPECT_EQ(b2.count(ev.s.cport), 0U) << "held twice";
    EXPECT_GT(atB.size(), 50U);
    EXPECT_GT(atC.size(), 50U);
    if (round == 0) {
      firstB = b2;
    } else {
      EXPECT_EQ(b2, firstB) << "the holder of a flow changed between two sends";
    }
  }
}

TEST(SyncService, APeerThatNeverAnswersDelaysReadinessOnlyByTheTimeout) {
  FakeWorkers wa;
  auto o = options(1, "127.0.0.1", 9, "127.0.0.9");
  o.bulkTimeoutMs = 300;
  Service a(o, wa);
  const auto t0 = std::chrono::steady_clock::now();
  a.start();
  EXPECT_FALSE(a.ready());
  ASSERT_TRUE(waitFor([&] { return a.ready(); }));
  // The service's clock counts whole milliseconds: up to 1 ms of truncation.
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 299ms);
  EXPECT_EQ(a.peers()[0].bulk, "timed_out");
}

TEST(SyncService, ForgedReplayedForeignAndUnknownDatagramsInstallNothing) {
  FakeWorkers wa;
  auto o = options(1, "127.0.0.1", 2, "127.0.0.2");
  o.bulkTimeoutMs = 200;
  Service a(o, wa);
  a.start();
  ASSERT_TRUE(waitFor([&] { return a.ready(); }));
  drain(wa.in_);
  auto datagram = [&](uint16_t node, uint64_t seq, const Key& key) {
    Builder b(MsgType::kSessions);
    SessionRecord r;
    const Event ev = session(42000);
    r.proto = ev.s.proto;
    r.family = 4;
    r.state = static_cast<uint8_t>(ev.s.state);
    r.cip = ev.s.cip;
    r.vip = ev.s.vip;
    r.rip = ev.s.rip;
    r.lip = ev.s.lip;
    r.cport = ev.s.cport;
    r.vport = ev.s.vport;
    r.rport = ev.s.rport;
    r.lport = ev.s.lport;
    r.expiresInMs = 1000;
    EXPECT_TRUE(b.add(r));
    Header h;
    h.nodeId = node;
    h.epoch = 5;
    h.seq = seq;
    auto sealed = b.seal(key, h);
    return std::vector<uint8_t>(sealed.begin(), sealed.end());
  };
  auto dropped = [&](const char* why) {
    return a.statusJson()["rx"]["dropped"][why].get<uint64_t>();
  };
  // Another fleet's key.
  sendRaw("127.0.0.2", "127.0.0.1", datagram(2, 1, testKey(8)));
  ASSERT_TRUE(waitFor([&] { return dropped("bad_tag") == 1; }));
  // The right key, but not the node id of that address.
  sendRaw("127.0.0.2", "127.0.0.1", datagram(3, 1, testKey()));
  ASSERT_TRUE(waitFor([&] { return dropped("wrong_node") == 1; }));
  // From an address that is no peer.
  sendRaw("127.0.0.3", "127.0.0.1", datagram(2, 1, testKey()));
  ASSERT_TRUE(waitFor([&] { return dropped("unknown_source") == 1; }));
  // Garbage.
  const std::vector<uint8_t> junk(100, 0xAB);
  sendRaw("127.0.0.2", "127.0.0.1", junk);
  ASSERT_TRUE(waitFor([&] { return dropped("bad_tag") + dropped("malformed") == 2; }));
  EXPECT_EQ(wa.in_.size(), 0U);
  // A valid one is installed once; the same datagram again is a replay.
  const auto good = datagram(2, 1, testKey());
  sendRaw("127.0.0.2", "127.0.0.1", good);
  ASSERT_TRUE(waitFor([&] { return wa.in_.size() == 1; }));
  sendRaw("127.0.0.2", "127.0.0.1", good);
  ASSERT_TRUE(waitFor([&] { return dropped("replayed") == 1; }));
  EXPECT_EQ(wa.in_.size(), 1U);
}

}  // namespace
}  // namespace anylb::sync
