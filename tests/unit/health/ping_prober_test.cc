// PING_CHECK: echo to 127.0.0.1 through the real kernel, with both socket kinds; and, in a
// network namespace of the test's own where the kernel does not answer pings, a hostile
// responder (wrong identifier, sequence, payload, type, checksum) that must not make the RS up.
#include "health/ping_prober.h"

#include <gtest/gtest.h>

#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include "probe_outcome.h"

namespace anylb::health {
namespace {

using std::chrono::milliseconds;
using testing::expectOutcome;
using testing::kProbeMargin;
using testing::Outcome;

constexpr auto kTimeout = milliseconds(500);

Target pingTarget(const char* address = "127.0.0.1") {
  Target t;
  t.rsId = 1;
  t.service = "ping";
  t.address = *IpAddr::parse(address);
  t.check.kind = config::CheckKind::kPing;
  return t;
}

struct PingRun {
  Outcome outcome;
  PingProber::SocketKind kind = PingProber::SocketKind::kNone;
};

PingRun ping(const Target& t) {
  boost::asio::io_context io;
  PingRun run;
  const auto start = testing::Steady::now();
  PingProber prober(io);
  prober.start(t, kTimeout, [&](ProbeResult r) {
    run.outcome.result = std::move(r);
    run.outcome.took = testing::Steady::now() - start;
  });
  run.kind = prober.lastSocketKind();
  io.run_for(std::chrono::seconds(3));
  run.outcome.loopDrained = io.stopped();
  return run;
}

bool writeSysctl(const char* path, const char* value) {
  std::ofstream f(path);
  f << value;
  f.flush();
  return static_cast<bool>(f);
}

// Runs `body` on a thread in a new network namespace with lo up and the given ping settings
// (threads it starts share the namespace). False when the test may not create one.
bool inOwnNetns(bool kernelAnswers, bool allowDatagramPing, const std::function<void()>& body) {
  bool ok = false;
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) != 0) return;
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_UP;
    const bool up = fd >= 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
    if (fd >= 0) close(fd);
    if (!up) return;
    // /proc/sys/net shows the namespace of the thread that opens it.
    if (!writeSysctl("/proc/sys/net/ipv4/icmp_echo_ignore_all", kernelAnswers ? "0" : "1")) {
      return;
    }
    if (!writeSysctl("/proc/sys/net/ipv4/ping_group_range",
                     allowDatagramPing ? "0 2147483647" : "1 0")) {
      return;
    }
    ok = true;
    body();
  });
  t.join();
  return ok;
}

TEST(PingProber, LoopbackAnswersWithEitherSocketKind) {
  for (const bool datagram : {true, false}) {
    const bool ran = inOwnNetns(true, datagram, [&] {
      const PingRun r = ping(pingTarget());
      expectOutcome(r.outcome, true, "echo reply", kProbeMargin);
      EXPECT_EQ(r.kind,
                datagram ? PingProber::SocketKind::kDatagram : PingProber::SocketKind::kRaw);
    });
    if (!ran) GTEST_SKIP() << "needs CAP_SYS_ADMIN and CAP_NET_RAW for a network namespace";
  }
}

TEST(PingProber, Ipv6LoopbackAnswers) {
  const bool ran = inOwnNetns(true, false, [&] {
    expectOutcome(ping(pingTarget("::1")).outcome, true, "echo reply", kProbeMargin);
  });
  if (!ran) GTEST_SKIP() << "needs CAP_SYS_ADMIN for a network namespace";
}

TEST(PingProber, NoAnswerIsDown) {
  const bool ran = inOwnNetns(false, true, [&] {
    const PingRun r = ping(pingTarget());
    expectOutcome(r.outcome, false, "no echo reply", kTimeout + kProbeMargin);
    EXPECT_GE(r.outcome.took, kTimeout);
  });
  if (!ran) GTEST_SKIP() << "needs CAP_SYS_ADMIN for a network namespace";
}

uint16_t checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if ((n & 1U) != 0) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Answers each echo request to 127.0.0.1 with replies spoiled by `spoil` (the kernel itself
// is silenced), until stopped.
class HostileResponder {
 public:
  using Spoil = std::function<void(std::vector<uint8_t>& reply)>;
  explicit HostileResponder(std::vector<Spoil> spoils) : spoils_(std::move(spoils)) {
    fd_ = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    thread_ = std::thread([this] { serve(); });
  }
  HostileResponder(const HostileResponder&) = delete;
  HostileResponder& operator=(const HostileResponder&) = delete;
  HostileResponder(HostileResponder&&) = delete;
  HostileResponder& operator=(HostileResponder&&) = delete;
  ~HostileResponder() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  [[nodiscard]] int requests() const { return requests_; }

 private:
  void serve() {
    uint8_t buf[2048];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      const ssize_t n =
          recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 20) continue;
      const size_t ihl = (buf[0] & 0x0F) * 4U;
      if (static_cast<size_t>(n) < ihl + 8 || buf[ihl] != ICMP_ECHO) continue;
      ++requests_;
      for (const auto& spoil : spoils_) {
        std::vector<uint8_t> reply(buf + ihl, buf + n);
        reply[0] = ICMP_ECHOREPLY;
        reply[2] = reply[3] = 0;
        const uint16_t sum = checksum(reply.data(), reply.size());
        reply[2] = static_cast<uint8_t>(sum >> 8);
        reply[3] = static_cast<uint8_t>(sum);
        spoil(reply);
        sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      }
    }
  }

  std::vector<Spoil> spoils_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// Flips bits and fixes the checksum again, so only the field differs.
HostileResponder::Spoil flip(size_t at, uint8_t mask, bool fixChecksum = true) {
  return [at, mask, fixChecksum](std::vector<uint8_t>& r) {
    if (at >= r.size()) return;
    r[at] ^= mask;
    if (!fixChecksum) return;
    r[2] = r[3] = 0;
    const uint16_t sum = checksum(r.data(), r.size());
    r[2] = static_cast<uint8_t>(sum >> 8);
    r[3] = static_cast<uint8_t>(sum);
  };
}

TEST(PingProberHostile, SpoiledRepliesDoNotCountAndAGoodOneDoes) {
  const std::vector<HostileResponder::Spoil> spoiled = {
      flip(7, 0x01),                                          // another sequence number
      flip(8, 0xff),                                          // another payload
      flip(0, ICMP_ECHOREPLY ^ ICMP_DEST_UNREACH),            // another type
      flip(1, 0x01),                                          // a non-zero code
      flip(9, 0x10, false),                                   // a bad checksum
      [](std::vector<uint8_t>& r) { r.resize(10); },          // truncated
      [](std::vector<uint8_t>& r) { r.resize(1400, 0xab); },  // oversize
  };
  for (const bool datagram : {true, false}) {
    std::vector<HostileResponder::Spoil> withId = spoiled;
    if (!datagram) withId.push_back(flip(5, 0x01));  // another identifier (raw sockets see it)
    const bool ran = inOwnNetns(false, datagram, [&] {
      {
        HostileResponder hostile(withId);
        const PingRun r = ping(pingTarget());
        expectOutcome(r.outcome, false, "no echo reply", kTimeout + kProbeMargin);
        EXPECT_EQ(hostile.requests(), 1);
      }
      // The same responder, unspoiled: the hostile test above could have failed.
      auto good = withId;
      good.emplace_back([](std::vector<uint8_t>&) {});
      HostileResponder fair(good);
      expectOutcome(ping(pingTarget()).outcome, true, "echo reply", kProbeMargin);
    });
    if (!ran) GTEST_SKIP() << "needs CAP_SYS_ADMIN and CAP_NET_RAW for a network namespace";
  }
}

}  // namespace
}  // namespace anylb::health
