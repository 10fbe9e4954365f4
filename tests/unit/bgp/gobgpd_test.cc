// The gRPC client and the child process against Debian's real gobgpd (scripts/deps lists it).
// gobgpd only talks to 127.0.0.x here: a peer that never answers, and our API socket.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include "bgp/controller.h"
#include "bgp/gobgp_client.h"
#include "bgp/gobgpd_process.h"

namespace anylb::bgp {
namespace {

class Gobgpd : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/anylb-gobgpd-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    proc_ = std::make_unique<GobgpdProcess>("gobgpd", dir_ + "/api.sock", dir_ + "/gobgpd.log");
    ASSERT_EQ(proc_->start(), "");
    client_ = std::make_unique<GobgpClient>(dir_ + "/api.sock");
    ASSERT_EQ(client_->startBgp({65100, *IpAddr::parse("10.255.0.1"), -1}), "");
  }
  void TearDown() override {
    client_.reset();
    proc_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<GobgpdProcess> proc_;
  std::unique_ptr<GobgpClient> client_;
};

PathSpec path(const char* prefix, std::vector<uint32_t> communities = {}) {
  return PathSpec{*Prefix::parse(prefix), *IpAddr::parse("10.1.1.2"), std::move(communities)};
}

TEST_F(Gobgpd, AnnouncesAndWithdrawsPathsWithCommunities) {
  ASSERT_EQ(client_->addPath(path("10.100.0.10/32", {(65100U << 16) | 80, kGracefulShutdown})), "");
  ASSERT_EQ(client_->addPath(path("10.200.1.0/28")), "");
  std::vector<PathSpec> paths;
  ASSERT_EQ(client_->listPaths(paths), "");
  ASSERT_EQ(paths.size(), 2U);
  std::sort(paths.begin(), paths.end(),
            [](const auto& a, const auto& b) { return a.prefix.str() < b.prefix.str(); });
  EXPECT_EQ(paths[0].prefix.str(), "10.100.0.10/32");
  EXPECT_EQ(paths[0].nextHop.str(), "10.1.1.2");
  EXPECT_EQ(paths[0].communities, (std::vector<uint32_t>{(65100U << 16) | 80, kGracefulShutdown}));
  EXPECT_EQ(communityString(paths[0].communities[1]), "65535:0");
  EXPECT_EQ(paths[1].prefix.str(), "10.200.1.0/28");

  ASSERT_EQ(client_->deletePath(path("10.100.0.10/32", {(65100U << 16) | 80, kGracefulShutdown})),
            "");
  ASSERT_EQ(client_->listPaths(paths), "");
  ASSERT_EQ(paths.size(), 1U);
  EXPECT_EQ(paths[0].prefix.str(), "10.200.1.0/28");
}

TEST_F(Gobgpd, APeerThatNeverAnswersIsNotEstablished) {
  ASSERT_EQ(
      client_->addPeer({*IpAddr::parse("127.0.0.2"), 65001, *IpAddr::parse("127.0.0.1"), 9, 3}),
      "");
  std::vector<PeerStatus> peers;
  ASSERT_EQ(client_->listPeers(peers), "");
  ASSERT_EQ(peers.size(), 1U);
  EXPECT_EQ(peers[0].address.str(), "127.0.0.2");
  EXPECT_FALSE(peers[0].established);
  EXPECT_NE(peers[0].state, "established");
  // A second AddPeer for the same address is an error, reported, not thrown.
  EXPECT_NE(
      client_->addPeer({*IpAddr::parse("127.0.0.2"), 65001, *IpAddr::parse("127.0.0.1"), 9, 3}),
      "");
}

TEST_F(Gobgpd, CallsFailWithinTheirDeadlineWhenGobgpdIsGone) {
  proc_->stop();
  GobgpClient late(dir_ + "/api.sock", std::chrono::milliseconds(300));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_NE(late.addPath(path("10.100.0.10/32")), "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_FALSE(proc_->alive());
}

// ipv6-unicast paths beside ipv4-unicast ones: listed from both RIBs, the unspecified next hop
// of their own family kept, deleted one family at a time.
TEST_F(Gobgpd, AnnouncesAndWithdrawsIpv6PathsBesideIpv4Ones) {
  const auto any6 = *IpAddr::parse("::");
  ASSERT_EQ(client_->addPath(path("10.100.0.10/32")), "");
  ASSERT_EQ(
      client_->addPath(PathSpec{
          *Prefix::parse("fd00:100::10/128"), any6, {(65100U << 16) | 80, kGracefulShutdown}}),
      "");
  ASSERT_EQ(client_->addPath(PathSpec{*Prefix::parse("fd00:200:1::/120"), any6, {}}), "");
  std::vector<PathSpec> paths;
  ASSERT_EQ(client_->listPaths(paths), "");
  ASSERT_EQ(paths.size(), 3U);
  std::sort(paths.begin(), paths.end(),
            [](const auto& a, const auto& b) { return a.prefix.str() < b.prefix.str(); });
  EXPECT_EQ(paths[0].prefix.str(), "10.100.0.10/32");
  EXPECT_EQ(paths[1].prefix.str(), "fd00:100::10/128");
  EXPECT_EQ(paths[1].nextHop.str(), "::");
  EXPECT_EQ(paths[1].communities, (std::vector<uint32_t>{(65100U << 16) | 80, kGracefulShutdown}));
  EXPECT_EQ(paths[2].prefix.str(), "fd00:200:1::/120");
  ASSERT_EQ(client_->deletePath(paths[1]), "");
  ASSERT_EQ(client_->listPaths(paths), "");
  ASSERT_EQ(paths.size(), 2U);
  for (const auto& p : paths) EXPECT_NE(p.prefix.str(), "fd00:100::10/128");
}

TEST_F(Gobgpd, AcceptsAnIpv6Peer) {
  ASSERT_EQ(client_->addPeer({*IpAddr::parse("::1"), 65001, *IpAddr::parse("::1"), 9, 3}), "");
  std::vector<PeerStatus> peers;
  ASSERT_EQ(client_->listPeers(peers), "");
  ASSERT_EQ(peers.size(), 1U);
  EXPECT_EQ(peers[0].address.str(), "::1");
}

// A backup route (issue 16): the AS_PATH carries the local AS `prepend` times (gobgpd adds
// one more on eBGP export; t33_backup_lip.sh shows what FRR receives), and ListPath reports the
// prepend back so the controller's reconcile sees the path it asked for.
TEST_F(Gobgpd, AnnouncesABackupPathWithThePrependAndReadsItBack) {
  auto backup = path("10.200.2.0/28", {(65100U << 16) | 80});
  backup.prepend = 3;
  ASSERT_EQ(client_->addPath(backup), "");
  ASSERT_EQ(client_->addPath(path("10.200.1.0/28")), "");
  PathSpec backup6{*Prefix::parse("fd00:200:2::/120"), *IpAddr::parse("::"), {}, 10};
  ASSERT_EQ(client_->addPath(backup6), "");
  std::vector<PathSpec> paths;
  ASSERT_EQ(client_->listPaths(paths), "");
  ASSERT_EQ(paths.size(), 3U);
  std::sort(paths.begin(), paths.end(),
            [](const auto& a, const auto& b) { return a.prefix.str() < b.prefix.str(); });
  EXPECT_EQ(paths[0].prefix.str(), "10.200.1.0/28");
  EXPECT_EQ(paths[0].prepend, 0);
  EXPECT_EQ(paths[1].prefix.str(), "10.200.2.0/28");
  EXPECT_EQ(paths[1].prepend, 3);
  EXPECT_EQ(paths[1].communities, (std::vector<uint32_t>{(65100U << 16) | 80}));
  EXPECT_EQ(paths[2].prefix.str(), "fd00:200:2::/120");
  EXPECT_EQ(paths[2].prepend, 10);
  // An add with another prepend replaces the path; a delete removes it.
  backup.prepend = 5;
  ASSERT_EQ(client_->addPath(backup), "");
  ASSERT_EQ(client_->listPaths(paths), "");
  ASSERT_EQ(paths.size(), 3U);
  const auto it = std::find_if(paths.begin(), paths.end(),
                               [](const auto& p) { return p.prefix.str() == "10.200.2.0/28"; });
  ASSERT_NE(it, paths.end());
  EXPECT_EQ(it->prepend, 5);
  ASSERT_EQ(client_->deletePath(backup), "");
  ASSERT_EQ(client_->deletePath(backup6), "");
  ASSERT_EQ(client_->listPaths(paths), "");
  ASSERT_EQ(paths.size(), 1U);
  EXPECT_EQ(paths[0].prefix.str(), "10.200.1.0/28");
}

// The controller against the real gobgpd: once its paths are in, reconcile after reconcile
// adds nothing (a prepend read back wrong would re-add every backup path each time).
TEST(GobgpdController, ReconcileIsQuietWithBackupPaths) {
  char tmpl[] = "/tmp/anylb-gobgpd-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  {
    GobgpdProcess proc("gobgpd", dir + "/api.sock", dir + "/gobgpd.log");
    ASSERT_EQ(proc.start(), "");
    GobgpClient client(dir + "/api.sock");
    ControllerOptions o;
    o.global = GlobalSpec{65100, *IpAddr::parse("10.255.0.1"), -1};
    o.lips = {*Prefix::parse("10.200.1.0/28"), *Prefix::parse("fd00:200:1::/120")};
    o.backupLips = {*Prefix::parse("10.200.2.0/28"), *Prefix::parse("fd00:200:2::/120")};
    o.communities = {(65100U << 16) | 42};
    o.reconcileMs = 10;
    Controller ctl(o);
    ASSERT_EQ(ctl.attach(&client, 0), "");
    uint64_t now = 0;
    ctl.tick(now, true, {});
    EXPECT_EQ(ctl.counters().pathsAdded, 4U);
    for (int i = 0; i < 10; ++i) {
      now += 20;
      ctl.tick(now, true, {});
    }
    EXPECT_GE(ctl.counters().reconciles, 10U);
    EXPECT_EQ(ctl.counters().pathsAdded, 4U);
    EXPECT_EQ(ctl.counters().pathsDeleted, 0U);
    EXPECT_EQ(ctl.counters().apiErrors, 0U);
    std::vector<PathSpec> paths;
    ASSERT_EQ(client.listPaths(paths), "");
    size_t backups = 0;
    for (const auto& p : paths) backups += p.prepend == 3 ? 1 : 0;
    EXPECT_EQ(backups, 2U);
    // The gate closed: gobgpd announces nothing any more.
    ctl.setAnnounceGate(false);
    ctl.tick(now + 20, true, {});
    ASSERT_EQ(client.listPaths(paths), "");
    EXPECT_TRUE(paths.empty());
  }
  std::filesystem::remove_all(dir);
}

TEST(GobgpdProcess, DiesWithItsParent) {
  char tmpl[] = "/tmp/anylb-gobgpd-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t parent = fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {
    // Stands in for anylbd: starts gobgpd, reports its pid, waits to be killed.
    GobgpdProcess p("gobgpd", dir + "/api.sock");
    pid_t child = p.start().empty() ? p.pid() : -1;
    (void)!write(fds[1], &child, sizeof(child));
    pause();
    _exit(0);
  }
  pid_t gobgpd = -1;
  ASSERT_EQ(read(fds[0], &gobgpd, sizeof(gobgpd)), static_cast<ssize_t>(sizeof(gobgpd)));
  ASSERT_GT(gobgpd, 0);
  EXPECT_EQ(kill(gobgpd, 0), 0);
  kill(parent, SIGKILL);  // anylbd crashes
  waitpid(parent, nullptr, 0);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    // gobgpd is reparented (to init or a subreaper) and must be dead: /proc/PID gone or zombie.
    std::FILE* f = std::fopen(("/proc/" + std::to_string(gobgpd) + "/stat").c_str(), "r");
    if (f == nullptr) {
      gone = true;
    } else {
      char state = 0;
      gone = std::fscanf(f, "%*d %*s %c", &state) == 1 && state == 'Z';
      std::fclose(f);
    }
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone) << "gobgpd " << gobgpd << " outlived its parent";
  close(fds[0]);
  close(fds[1]);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace anylb::bgp
