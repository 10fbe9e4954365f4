// The BGP controller against a fake speaker: what is announced when, reconcile, failures.
#include "bgp/controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "bgp/agent.h"
#include "config/config.h"

namespace anylb::bgp {
namespace {

// The status as the compact text the daemon logs.
std::string text(const nlohmann::json& j) {
  return j.dump();
}

// A speaker that keeps paths by prefix the way gobgpd does (an add replaces the path of the same
// prefix), records calls, and fails the calls it is told to.
class FakeSpeaker : public BgpClient {
 public:
  std::string startBgp(const GlobalSpec& g) override {
    calls.emplace_back("StartBgp");
    global = g;
    return fail("StartBgp");
  }
  std::string addPeer(const PeerSpec& p) override {
    calls.push_back("AddPeer " + p.address.str());
    if (auto e = fail("AddPeer"); !e.empty()) return e;
    peers.push_back(PeerStatus{p.address, false, "active"});
    return {};
  }
  std::string addPath(const PathSpec& p) override {
    calls.push_back("AddPath " + p.prefix.str());
    if (auto e = fail("AddPath"); !e.empty()) return e;
    paths[p.prefix.str()] = p;
    return {};
  }
  std::string deletePath(const PathSpec& p) override {
    calls.push_back("DeletePath " + p.prefix.str());
    if (auto e = fail("DeletePath"); !e.empty()) return e;
    paths.erase(p.prefix.str());
    return {};
  }
  std::string listPaths(std::vector<PathSpec>& out) override {
    if (auto e = fail("ListPath"); !e.empty()) return e;
    out.clear();
    for (const auto& [k, v] : paths) out.push_back(v);
    return {};
  }
  std::string listPeers(std::vector<PeerStatus>& out) override {
    if (auto e = fail("ListPeer"); !e.empty()) return e;
    out = peers;
    return {};
  }

  [[nodiscard]] bool has(const std::string& prefix) const { return paths.contains(prefix); }
  [[nodiscard]] std::vector<uint32_t> communities(const std::string& prefix) const {
    return paths.at(prefix).communities;
  }
  [[nodiscard]] size_t count(const std::string& call) const {
    return static_cast<size_t>(std::count(calls.begin(), calls.end(), call));
  }

  std::map<std::string, std::string> failing;  // call -> error
  std::map<std::string, PathSpec> paths;
  std::vector<PeerStatus> peers;
  std::vector<std::string> calls;
  GlobalSpec global;

 private:
  std::string fail(const std::string& call) {
    const auto it = failing.find(call);
    return it == failing.end() ? std::string() : it->second;
  }
};

constexpr uint64_t kRise = 2000;
constexpr uint64_t kHold = 1000;
constexpr uint64_t kDrain = 5000;

ControllerOptions options() {
  ControllerOptions o;
  o.global = GlobalSpec{65100, *IpAddr::parse("10.255.0.1"), 179};
  o.peers = {PeerSpec{*IpAddr::parse("10.1.1.1"), 65001, *IpAddr::parse("10.1.1.2"), 9, 3},
             PeerSpec{*IpAddr::parse("10.2.1.1"), 65002, *IpAddr::parse("10.2.1.2"), 9, 3}};
  o.lips = {*Prefix::parse("10.200.1.5/28")};  // host bits: announced as the network
  o.vips = {*IpAddr::parse("10.100.0.10"), *IpAddr::parse("10.100.0.11")};
  o.communities = {(65100U << 16) | 42};
  o.riseMs = kRise;
  o.holdDownMs = kHold;
  o.drainMs = kDrain;
  o.reconcileMs = 5000;
  return o;
}

const std::string kLip = "10.200.1.0/28";
const std::string kVip = "10.100.0.10/32";
const std::string kVip2 = "10.100.0.11/32";

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(ctl.attach(&speaker, now), ""); }
  // Ticks every 200 ms for `ms` with the given signals.
  void run(uint64_t ms, bool alive, const std::vector<bool>& healthy) {
    for (uint64_t t = 0; t < ms; t += 200) {
      now += 200;
      ctl.tick(now, alive, healthy);
    }
  }

  FakeSpeaker speaker;
  Controller ctl{options()};
  uint64_t now = 0;
};

TEST_F(ControllerTest, ConfiguresTheSpeakerOnAttach) {
  EXPECT_EQ(speaker.calls,
            (std::vector<std::string>{"StartBgp", "AddPeer 10.1.1.1", "AddPeer 10.2.1.1"}));
  EXPECT_EQ(speaker.global.asn, 65100U);
  EXPECT_EQ(speaker.global.listenPort, 179);
}

TEST_F(ControllerTest, AnnouncesLipsAtOnceAndVipsAfterRise) {
  run(200, true, {true, false});
  EXPECT_TRUE(speaker.has(kLip));
  EXPECT_FALSE(speaker.has(kVip));
  EXPECT_EQ(speaker.communities(kLip), (std::vector<uint32_t>{(65100U << 16) | 42}));
  run(kRise, true, {true, false});
  EXPECT_TRUE(speaker.has(kVip));
  EXPECT_FALSE(speaker.has(kVip2));  // never healthy
  EXPECT_EQ(ctl.vipState(0), VipAnnounce::kAnnounced);
}

TEST_F(ControllerTest, WithdrawsAnUnhealthyVipAtOnceAndHoldsItDown) {
  run(kRise + 400, true, {true, true});
  ASSERT_TRUE(speaker.has(kVip));
  run(200, true, {false, true});
  EXPECT_FALSE(speaker.has(kVip));
  EXPECT_TRUE(speaker.has(kVip2));
  EXPECT_TRUE(speaker.has(kLip));
  // Healthy again: not before rise, and the flap doubled the hold-down.
  run(kRise - 400, true, {true, true});
  EXPECT_FALSE(speaker.has(kVip));
  run(1000, true, {true, true});
  EXPECT_TRUE(speaker.has(kVip));
}

TEST_F(ControllerTest, DeadDataplaneWithdrawsEverythingAtOnce) {
  run(kRise + 400, true, {true, true});
  ASSERT_EQ(speaker.paths.size(), 3U);
  run(200, false, {true, true});
  EXPECT_TRUE(speaker.paths.empty());
  run(200, true, {true, true});
  EXPECT_TRUE(speaker.has(kLip));
  EXPECT_FALSE(speaker.has(kVip));  // rise again
}

// The hook of quorum_up / quorum_down: one call per change of one VIP's announcement, in
// order, with the VIP it concerns, and none while nothing changes.
TEST_F(ControllerTest, ReportsEachVipAnnouncementChangeOnce) {
  std::vector<std::string> seen;
  ctl.onVipChange([&](const IpAddr& vip, VipAnnounce from, VipAnnounce to) {
    seen.push_back(vip.str() + " " + toString(from) + "->" + toString(to));
  });
  run(kRise + 400, true, {true, false});
  EXPECT_EQ(seen, std::vector<std::string>{"10.100.0.10 withdrawn->announced"});
  run(2000, true, {true, false});
  EXPECT_EQ(seen.size(), 1U);
  run(200, true, {false, false});
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[1], "10.100.0.10 announced->withdrawn");
  ctl.setDrain(true, now);
  run(kRise * 4, true, {true, true});  // drained: nothing is announced, nothing changes
  EXPECT_EQ(seen.size(), 2U);
}

TEST_F(ControllerTest, DrainAnnouncesGracefulShutdownThenWithdrawsAndUndrains) {
  run(kRise + 400, true, {true, true});
  ctl.setDrain(true, now);
  run(200, true, {true, true});
  EXPECT_EQ(speaker.communities(kVip),
            (std::vector<uint32_t>{(65100U << 16) | 42, kGracefulShutdown}));
  EXPECT_EQ(speaker.communities(kLip), (std::vector<uint32_t>{(65100U << 16) | 42}));
  EXPECT_FALSE(ctl.drainComplete());
  run(kDrain, true, {true, true});
  EXPECT_FALSE(speaker.has(kVip));
  EXPECT_FALSE(speaker.has(kVip2));
  EXPECT_TRUE(speaker.has(kLip));  // replies of existing sessions still come back
  EXPECT_TRUE(ctl.drainComplete());
  ctl.setDrain(false, now);
  EXPECT_FALSE(ctl.drainComplete());
  run(kRise + kHold, true, {true, true});
  EXPECT_TRUE(speaker.has(kVip));
  EXPECT_EQ(speaker.communities(kVip), (std::vector<uint32_t>{(65100U << 16) | 42}));
}

TEST_F(ControllerTest, DrainOfAWithdrawnVipNeverAnnouncesIt) {
  run(400, true, {false, false});
  ctl.setDrain(true, now);
  run(kRise + 400, true, {true, true});
  EXPECT_FALSE(speaker.has(kVip));
  EXPECT_TRUE(ctl.drainComplete());
}

TEST_F(ControllerTest, ReconcileRepairsWhatChangedBehindItsBack) {
  run(kRise + 400, true, {true, true});
  speaker.paths.erase(kVip);                                                         // lost
  speaker.paths["10.99.0.0/24"] = PathSpec{*Prefix::parse("10.99.0.0/24"), {}, {}};  // stray
  speaker.paths[kVip2].communities.clear();                                          // changed
  run(5000, true, {true, true});
  EXPECT_TRUE(speaker.has(kVip));
  EXPECT_FALSE(speaker.has("10.99.0.0/24"));
  EXPECT_EQ(speaker.communities(kVip2), (std::vector<uint32_t>{(65100U << 16) | 42}));
}

TEST_F(ControllerTest, ANewSpeakerGetsEverythingAgain) {
  run(kRise + 400, true, {true, true});
  ctl.attach(nullptr, now);
  run(1000, true, {true, true});  // nothing to talk to: no calls, no crash
  FakeSpeaker fresh;
  ASSERT_EQ(ctl.attach(&fresh, now), "");
  run(200, true, {true, true});
  EXPECT_TRUE(fresh.has(kLip));
  EXPECT_TRUE(fresh.has(kVip));
  EXPECT_TRUE(fresh.has(kVip2));
}

TEST_F(ControllerTest, FailedCallsAreCountedAndRetried) {
  speaker.failing["AddPath"] = "deadline exceeded";
  run(kRise + 400, true, {true, true});
  EXPECT_TRUE(speaker.paths.empty());
  const auto errors = ctl.counters().apiErrors;
  EXPECT_GT(errors, 0U);
  speaker.failing.clear();
  run(200, true, {true, true});  // retried at the next tick, not only at the next reconcile
  EXPECT_EQ(speaker.paths.size(), 3U);
  EXPECT_EQ(ctl.counters().apiErrors, errors);
}

TEST_F(ControllerTest, AttachFailsWhenTheSpeakerCannotBeConfigured) {
  FakeSpeaker broken;
  broken.failing["AddPeer"] = "invalid peer";
  Controller c{options()};
  EXPECT_EQ(c.attach(&broken, 0), "invalid peer");
  EXPECT_FALSE(c.attached());
  c.tick(200, true, {true, true});
  EXPECT_EQ(broken.count("AddPath " + kLip), 0U);
}

TEST_F(ControllerTest, WithdrawAllDeletesEveryPath) {
  run(kRise + 400, true, {true, true});
  ctl.withdrawAll();
  EXPECT_TRUE(speaker.paths.empty());
}

TEST_F(ControllerTest, StatusNamesPeersVipsAndPaths) {
  run(kRise + 400, true, {true, false});
  speaker.peers[0].established = true;
  speaker.peers[0].state = "established";
  run(1000, true, {true, false});
  const auto s = nlohmann::json::parse(text(ctl.statusJson()));
  const nlohmann::json peer = {
      {"address", "10.1.1.1"}, {"state", "established"}, {"established", true}};
  EXPECT_EQ(s["peers"][0], peer) << s;
  EXPECT_EQ(s["vips"][0]["vip"], "10.100.0.10") << s;
  EXPECT_EQ(s["vips"][0]["state"], "announced") << s;
  EXPECT_EQ(s["vips"][0]["healthy"], true) << s;
  const nlohmann::json path = {
      {"prefix", "10.100.0.10/32"}, {"communities", {"65100:42"}}, {"prepend", 0}};
  EXPECT_NE(std::find(s["announced"].begin(), s["announced"].end(), path), s["announced"].end())
      << s;
}

// A peer's state is whatever gobgpd reports: the status must stay valid JSON and carry it.
TEST_F(ControllerTest, StatusIsValidJsonWhateverTheSpeakerReports) {
  run(kRise + 400, true, {true, false});
  const std::string state = "we\"ird\\state\n";
  speaker.peers[0].state = state;
  run(1000, true, {true, false});
  const auto s = nlohmann::json::parse(text(ctl.statusJson()), nullptr, false);
  ASSERT_FALSE(s.is_discarded()) << text(ctl.statusJson());
  ASSERT_GE(s["peers"].size(), 1U) << s;
  EXPECT_EQ(s["peers"][0]["address"], "10.1.1.1");
  EXPECT_EQ(s["peers"][0]["state"], state);
  EXPECT_EQ(s["vips"][0]["vip"], "10.100.0.10");
}

// ---- backup routes for the peers' LIP prefixes, the announce gate (issue 16) ---------------

const std::string kPeerLip = "10.200.2.0/28";
const std::string kPeerLip6 = "fd00:200:2::/120";
constexpr uint32_t kCommunity = (65100U << 16) | 42;

ControllerOptions withBackups() {
  auto o = options();
  o.backupLips = {*Prefix::parse("10.200.2.0/28"), *Prefix::parse("fd00:200:2::/120")};
  return o;
}

class BackupTest : public ControllerTest {
 protected:
  void SetUp() override {
    ctl = Controller{withBackups()};
    ControllerTest::SetUp();
  }
};

TEST_F(BackupTest, AnnouncesPeersLipsWithThePrependAndTheCommunities) {
  run(200, true, {false, false});
  ASSERT_TRUE(speaker.has(kPeerLip));
  ASSERT_TRUE(speaker.has(kPeerLip6));
  EXPECT_EQ(speaker.paths.at(kPeerLip).prepend, 3);
  EXPECT_EQ(speaker.paths.at(kPeerLip6).prepend, 3);
  EXPECT_EQ(speaker.paths.at(kPeerLip6).nextHop.str(), "::");
  EXPECT_EQ(speaker.communities(kPeerLip), std::vector<uint32_t>{kCommunity});
  EXPECT_EQ(speaker.paths.at(kLip).prepend, 0);  // our own LIP: the short path
  const auto st = nlohmann::json::parse(text(ctl.statusJson()));
  EXPECT_EQ(st["backup_lips"], nlohmann::json::array({kPeerLip, kPeerLip6})) << st;
  EXPECT_EQ(st["backup_prepend"], 3) << st;
  const nlohmann::json path = {{"prefix", kPeerLip}, {"communities", {"65100:42"}}, {"prepend", 3}};
  EXPECT_NE(std::find(st["announced"].begin(), st["announced"].end(), path), st["announced"].end())
      << st;
  // Like our own LIPs: gone with the dataplane, back with it.
  run(200, false, {false, false});
  EXPECT_TRUE(speaker.paths.empty());
  run(200, true, {false, false});
  EXPECT_TRUE(speaker.has(kPeerLip));
}

// Hostile lists: a peer's prefix that is also ours (with host bits, even), and the same prefix
// twice. One path per prefix, and ours stays ours (no prepend).
TEST(BackupLips, AnOwnLipIsNeverABackupAndDuplicatesCountOnce) {
  auto o = options();
  o.backupLips = {*Prefix::parse("10.200.1.9/28"), *Prefix::parse("10.200.2.0/28"),
                  *Prefix::parse("10.200.2.3/28"), *Prefix::parse("10.200.1.0/28")};
  Controller c{o};
  FakeSpeaker sp;
  ASSERT_EQ(c.attach(&sp, 0), "");
  c.tick(200, true, {false, false});
  const auto want = c.desired();
  ASSERT_EQ(want.size(), 2U);
  EXPECT_EQ(want[0].prefix.str(), kLip);
  EXPECT_EQ(want[0].prepend, 0);
  EXPECT_EQ(want[1].prefix.str(), kPeerLip);
  EXPECT_EQ(want[1].prepend, 3);
  EXPECT_EQ(sp.count("AddPath " + kLip), 1U);
  EXPECT_EQ(sp.count("AddPath " + kPeerLip), 1U);
  EXPECT_EQ(sp.paths.at(kLip).prepend, 0);
  const auto st = c.statusJson();
  EXPECT_EQ(st["backup_lips"], nlohmann::json::array({kPeerLip})) << st;
}

// Prepend 0 is not refused: the backup then ties with the owner (ECMP at the ToRs), which is
// what the operator asked for; the config validator is where 1..10 is enforced.
TEST(BackupLips, PrependZeroIsUsedAsGiven) {
  auto o = withBackups();
  o.backupPrepend = 0;
  Controller c{o};
  FakeSpeaker sp;
  ASSERT_EQ(c.attach(&sp, 0), "");
  c.tick(200, true, {false, false});
  ASSERT_TRUE(sp.has(kPeerLip));
  EXPECT_EQ(sp.paths.at(kPeerLip).prepend, 0);
}

TEST_F(BackupTest, ReloadAddsAndWithdrawsBackupsAndChangesThePrepend) {
  run(200, true, {false, false});
  auto o = withBackups();
  o.lips.clear();  // our own LIP removed: stays announced until the restart, as before
  o.backupLips = {*Prefix::parse("10.200.3.0/28"), *Prefix::parse("fd00:200:2::/120"),
                  *Prefix::parse("10.200.1.0/28")};  // our former LIP as a backup: still ours
  o.backupPrepend = 5;
  ctl.reconfigure(o, now);
  run(200, true, {false, false});
  EXPECT_FALSE(speaker.has(kPeerLip));  // removed: withdrawn at once
  EXPECT_EQ(speaker.count("DeletePath " + kPeerLip), 1U);
  ASSERT_TRUE(speaker.has("10.200.3.0/28"));
  EXPECT_EQ(speaker.paths.at("10.200.3.0/28").prepend, 5);
  EXPECT_EQ(speaker.paths.at(kPeerLip6).prepend, 5);  // kept, re-announced with the new prepend
  ASSERT_TRUE(speaker.has(kLip));
  EXPECT_EQ(speaker.paths.at(kLip).prepend, 0);
  EXPECT_EQ(speaker.count("DeletePath " + kLip), 0U);
}

// gobgpd reports the prepend back (gobgpd_test checks the real one): reconcile leaves the
// paths alone once they are there, and puts a prepend lost behind its back right.
TEST_F(BackupTest, ReconcileIsQuietOnceThePathsAreThereAndRepairsAPrepend) {
  run(kRise + 400, true, {true, true});
  const auto added = ctl.counters().pathsAdded;
  EXPECT_EQ(added, 5U);  // LIP, two backups, two VIPs
  const auto reconciles = ctl.counters().reconciles;
  run(20000, true, {true, true});
  EXPECT_GE(ctl.counters().reconciles, reconciles + 3);
  EXPECT_EQ(ctl.counters().pathsAdded, added);
  EXPECT_EQ(ctl.counters().pathsDeleted, 0U);
  speaker.paths[kPeerLip].prepend = 0;
  run(5000, true, {true, true});
  EXPECT_EQ(speaker.paths.at(kPeerLip).prepend, 3);
  EXPECT_EQ(ctl.counters().pathsAdded, added + 1);
}

TEST_F(BackupTest, AClosedGateAnnouncesNothingAndTheVipRisesFromTheOpening) {
  ctl.setAnnounceGate(false);
  EXPECT_FALSE(ctl.announceGateOpen());
  run(kRise * 3, true, {true, true});
  EXPECT_TRUE(speaker.paths.empty());
  EXPECT_EQ(speaker.count("AddPath " + kLip), 0U);
  EXPECT_TRUE(ctl.desired().empty());
  EXPECT_EQ(ctl.vipState(0), VipAnnounce::kWithdrawn);
  auto st = ctl.statusJson();
  EXPECT_EQ(st["announce_gate"], "closed") << st;
  EXPECT_EQ(st["vips"][0]["healthy"], true) << st;  // health as it is, the gate holds it down
  ctl.setAnnounceGate(true);
  run(200, true, {true, true});
  EXPECT_TRUE(speaker.has(kLip));
  EXPECT_TRUE(speaker.has(kPeerLip));
  EXPECT_TRUE(speaker.has(kPeerLip6));
  EXPECT_FALSE(speaker.has(kVip));  // healthy for 3 x rise, but behind a closed gate
  run(kRise - 400, true, {true, true});
  EXPECT_FALSE(speaker.has(kVip));
  run(400, true, {true, true});
  EXPECT_TRUE(speaker.has(kVip));
  EXPECT_TRUE(speaker.has(kVip2));
  st = ctl.statusJson();
  EXPECT_EQ(st["announce_gate"], "open") << st;
}

TEST_F(BackupTest, ClosingTheGateWithdrawsEverythingAndReportsTheVips) {
  std::vector<std::string> seen;
  ctl.onVipChange([&](const IpAddr& vip, VipAnnounce from, VipAnnounce to) {
    seen.push_back(vip.str() + " " + toString(from) + "->" + toString(to));
  });
  run(kRise + 400, true, {true, false});
  ASSERT_EQ(speaker.paths.size(), 4U);  // LIP, two backups, one VIP
  ctl.setAnnounceGate(false);
  run(200, true, {true, false});
  EXPECT_TRUE(speaker.paths.empty());
  EXPECT_EQ(seen, (std::vector<std::string>{"10.100.0.10 withdrawn->announced",
                                            "10.100.0.10 announced->withdrawn"}));
  run(kRise * 3, true, {true, false});
  EXPECT_TRUE(speaker.paths.empty());  // and stays so, whatever the health
}

// Closing the gate twice, opening twice: no extra work, no extra log (the state is what counts).
TEST_F(BackupTest, TheGateIsIdempotent) {
  ctl.setAnnounceGate(true);
  run(200, true, {false, false});
  const auto reconciles = ctl.counters().reconciles;
  ctl.setAnnounceGate(true);
  run(200, true, {false, false});
  EXPECT_EQ(ctl.counters().reconciles, reconciles);
  ctl.setAnnounceGate(false);
  ctl.setAnnounceGate(false);
  run(200, true, {false, false});
  EXPECT_TRUE(speaker.paths.empty());
}

// ---- IPv6: the ipv6-unicast prefixes beside the IPv4 ones ------------------------------------

ControllerOptions dualStack() {
  auto o = options();
  o.peers.push_back(
      PeerSpec{*IpAddr::parse("fd00:1:1::1"), 65001, *IpAddr::parse("fd00:1:1::2"), 9, 3});
  o.lips.push_back(*Prefix::parse("fd00:200:1::7/120"));
  o.vips.push_back(*IpAddr::parse("fd00:100::10"));
  return o;
}

const std::string kLip6 = "fd00:200:1::/120";
const std::string kVip6 = "fd00:100::10/128";

class DualStackTest : public ControllerTest {
 protected:
  void SetUp() override {
    ctl = Controller{dualStack()};
    ControllerTest::SetUp();
  }
};

// gobgpd puts the session's own address (address6 on an IPv6 session) in place of an
// unspecified next hop, but only one of the path's own family: 0.0.0.0 in an ipv6-unicast path
// would be sent as an IPv4 next hop.
TEST_F(DualStackTest, AnnouncesIpv6VipsAndLipsWithAnUnspecifiedIpv6NextHop) {
  EXPECT_EQ(speaker.count("AddPeer fd00:1:1::1"), 1U);
  run(kRise + 400, true, {true, true, true});
  ASSERT_TRUE(speaker.has(kLip6));
  ASSERT_TRUE(speaker.has(kVip6));
  EXPECT_EQ(speaker.paths.at(kLip6).nextHop.str(), "::");
  EXPECT_EQ(speaker.paths.at(kVip6).nextHop.str(), "::");
  EXPECT_EQ(speaker.paths.at(kVip).nextHop.str(), "0.0.0.0");
  EXPECT_EQ(speaker.communities(kVip6), (std::vector<uint32_t>{(65100U << 16) | 42}));
}

// Health is per VIP whatever its family: an IPv6 VIP going down leaves the IPv4 ones alone.
TEST_F(DualStackTest, AnUnhealthyIpv6VipIsWithdrawnAloneAndHeldDown) {
  run(kRise + 400, true, {true, true, true});
  run(200, true, {true, true, false});
  EXPECT_FALSE(speaker.has(kVip6));
  EXPECT_TRUE(speaker.has(kVip));
  EXPECT_TRUE(speaker.has(kLip6));
  run(kRise - 400, true, {true, true, true});
  EXPECT_FALSE(speaker.has(kVip6));
  run(1000, true, {true, true, true});
  EXPECT_TRUE(speaker.has(kVip6));
}

TEST_F(DualStackTest, FamilyDrainTakesOnlyThatFamilysVipsAway) {
  run(kRise + 400, true, {true, true, true});
  ctl.setFamilyDrain(Family::kV6, true, now);
  run(200, true, {true, true, true});
  EXPECT_EQ(speaker.communities(kVip6),
            (std::vector<uint32_t>{(65100U << 16) | 42, kGracefulShutdown}));
  EXPECT_EQ(speaker.communities(kVip), (std::vector<uint32_t>{(65100U << 16) | 42}));
  EXPECT_FALSE(ctl.familyDrainComplete(Family::kV6));
  EXPECT_EQ(ctl.drainedVips(), std::vector<IpAddr>{*IpAddr::parse("fd00:100::10")});
  run(kDrain, true, {true, true, true});
  EXPECT_FALSE(speaker.has(kVip6));
  EXPECT_TRUE(speaker.has(kLip6));  // replies of existing IPv6 sessions still come back
  EXPECT_TRUE(speaker.has(kVip));
  EXPECT_TRUE(speaker.has(kVip2));
  EXPECT_TRUE(ctl.familyDrainComplete(Family::kV6));
  EXPECT_FALSE(ctl.familyDrainComplete(Family::kV4));  // not drained at all
  EXPECT_FALSE(ctl.drainComplete());
  const auto st = nlohmann::json::parse(text(ctl.statusJson()));
  EXPECT_EQ(st["draining_families"], nlohmann::json::array({"ipv6"})) << st;
  // The node's drain on top, then the family undrained: the node's drain still holds it.
  ctl.setDrain(true, now);
  ctl.setFamilyDrain(Family::kV6, false, now);
  run(kRise + kHold + kDrain, true, {true, true, true});
  EXPECT_FALSE(speaker.has(kVip6));
  EXPECT_FALSE(speaker.has(kVip));
  EXPECT_TRUE(ctl.drainComplete());
  ctl.setDrain(false, now);
  run(kRise + kHold * 2, true, {true, true, true});
  EXPECT_TRUE(speaker.has(kVip6));
  EXPECT_TRUE(speaker.has(kVip));
}

// A reload that adds an IPv6 VIP while IPv6 is drained: it starts drained.
TEST_F(DualStackTest, AVipAddedWhileItsFamilyIsDrainedStaysAway) {
  ctl.setFamilyDrain(Family::kV6, true, now);
  auto o = dualStack();
  o.vips.push_back(*IpAddr::parse("fd00:100::11"));
  ctl.reconfigure(o, now);
  run(kRise + 400, true, {true, true, true, true});
  EXPECT_FALSE(speaker.has("fd00:100::11/128"));
  EXPECT_FALSE(speaker.has(kVip6));
  EXPECT_TRUE(speaker.has(kVip));
}

TEST_F(DualStackTest, DeadDataplaneWithdrawsBothFamilies) {
  run(kRise + 400, true, {true, true, true});
  ASSERT_EQ(speaker.paths.size(), 5U);
  run(200, false, {true, true, true});
  EXPECT_TRUE(speaker.paths.empty());
}

// The config's view: an IPv6 session per uplink that has peer_address6, sourced from address6,
// and the IPv6 VIPs and LIP prefixes among the announced ones.
TEST(ControllerOptions, Ipv6SessionsVipsAndLipsComeFromTheConfig) {
  config::Config cfg;
  cfg.bgp.localAs = 65100;
  config::Uplink u;
  u.name = "u0";
  u.address = *Prefix::parse("10.1.1.2/30");
  u.peerAddress = *IpAddr::parse("10.1.1.1");
  u.peerAs = 65001;
  u.address6 = *Prefix::parse("fd00:1:1::2/64");
  u.gateway6 = *IpAddr::parse("fd00:1:1::1");
  u.peerAddress6 = *IpAddr::parse("fd00:1:1::1");
  cfg.uplinks.push_back(u);
  u.name = "u1";
  u.address = *Prefix::parse("10.2.1.2/30");
  u.peerAddress = *IpAddr::parse("10.2.1.1");
  u.address6.reset();
  u.gateway6.reset();
  u.peerAddress6.reset();  // IPv4 only
  cfg.uplinks.push_back(u);
  cfg.localAddresses = {*Prefix::parse("10.200.1.0/28"), *Prefix::parse("fd00:200:1::/120")};
  config::Service s;
  s.vip = *IpAddr::parse("10.100.0.10");
  cfg.services.push_back(s);
  s.vip = *IpAddr::parse("fd00:100::10");
  cfg.services.push_back(s);
  s.port = 443;
  cfg.services.push_back(s);  // same VIP: one prefix
  const auto o = controllerOptions(cfg);
  ASSERT_EQ(o.peers.size(), 3U);
  EXPECT_EQ(o.peers[2].address.str(), "fd00:1:1::1");
  EXPECT_EQ(o.peers[2].localAddress.str(), "fd00:1:1::2");
  EXPECT_EQ(o.peers[2].peerAs, 65001U);
  EXPECT_EQ(o.lips.size(), 2U);
  EXPECT_EQ(o.vips,
            (std::vector<IpAddr>{*IpAddr::parse("10.100.0.10"), *IpAddr::parse("fd00:100::10")}));
}

TEST(ParseCommunity, AcceptsOnlyTwoSixteenBitNumbers) {
  using config::parseCommunity;
  EXPECT_EQ(parseCommunity("65535:0"), kGracefulShutdown);
  EXPECT_EQ(parseCommunity("1:2"), (1U << 16) | 2);
  for (const char* bad :
       {"", ":", "1:", ":2", "65536:0", "1:65536", "1:2:3", "a:b", "-1:2", " 1:2"}) {
    EXPECT_FALSE(parseCommunity(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace anylb::bgp
