// BFD: the packet codec, the session state machine in simulated time (two sessions wired to
// each other), and two agents talking over loopback.
#include "bgp/bfd.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

namespace anylb::bgp {
namespace {

// The status as the compact text the daemon logs.
std::string text(const nlohmann::json& j) {
  return j.dump();
}

TEST(BfdPacket, RoundTrips) {
  BfdPacket p;
  p.diag = 3;
  p.state = BfdState::kUp;
  p.poll = true;
  p.detectMult = 5;
  p.myDiscr = 0x11223344;
  p.yourDiscr = 0x55667788;
  p.desiredMinTxUs = 100000;
  p.requiredMinRxUs = 200000;
  std::array<uint8_t, BfdPacket::kSize> buf{};
  p.encode(buf.data());
  EXPECT_EQ(buf[0], 0x23);  // version 1, diag 3
  EXPECT_EQ(buf[1], 0xE0);  // Up, Poll
  EXPECT_EQ(buf[3], 24);
  BfdPacket q;
  ASSERT_EQ(BfdPacket::decode(buf, q), "");
  EXPECT_EQ(q.diag, 3);
  EXPECT_EQ(q.state, BfdState::kUp);
  EXPECT_TRUE(q.poll);
  EXPECT_FALSE(q.final);
  EXPECT_EQ(q.detectMult, 5);
  EXPECT_EQ(q.myDiscr, 0x11223344U);
  EXPECT_EQ(q.yourDiscr, 0x55667788U);
  EXPECT_EQ(q.desiredMinTxUs, 100000U);
  EXPECT_EQ(q.requiredMinRxUs, 200000U);
}

TEST(BfdPacket, RejectsWhatRfc5880SaysToDiscard) {
  BfdPacket good;
  good.myDiscr = 1;
  std::array<uint8_t, BfdPacket::kSize> base{};
  good.encode(base.data());
  struct Case {
    const char* name;
    void (*mutate)(std::array<uint8_t, BfdPacket::kSize>&);
    size_t size;
  };
  const Case cases[] = {
      {"short", [](auto&) {}, 23},
      {"version 0", [](auto& b) { b[0] &= 0x1F; }, 24},
      {"length too big", [](auto& b) { b[3] = 40; }, 24},
      {"length too small", [](auto& b) { b[3] = 20; }, 24},
      {"auth", [](auto& b) { b[1] |= 0x04; }, 24},
      {"multipoint", [](auto& b) { b[1] |= 0x01; }, 24},
      {"multiplier 0", [](auto& b) { b[2] = 0; }, 24},
      {"my discr 0", [](auto& b) { b[4] = b[5] = b[6] = b[7] = 0; }, 24},
      {"up without your discr", [](auto& b) { b[1] = 0xC0; }, 24},
      {"poll and final", [](auto& b) { b[1] |= 0x30; }, 24},
  };
  for (const auto& c : cases) {
    auto b = base;
    c.mutate(b);
    BfdPacket out;
    EXPECT_NE(BfdPacket::decode(std::span<const uint8_t>(b.data(), c.size), out), "") << c.name;
  }
  BfdPacket out;
  EXPECT_EQ(BfdPacket::decode(base, out), "");
}

// Two sessions and a wire between them, in simulated time (1 ms steps).
struct Pair {
  BfdSession a{0xA, 100000, 3};
  BfdSession b{0xB, 100000, 3};
  uint64_t now = 1;
  bool linkUp = true;
  bool aSilent = false;  // a frozen: sends nothing

  void deliver(BfdSession& from, BfdSession& to, bool final) {
    const auto p = from.nextPacket(now, final);
    BfdPacket wire;
    std::array<uint8_t, BfdPacket::kSize> buf{};
    p.encode(buf.data());
    ASSERT_EQ(BfdPacket::decode(buf, wire), "");
    if (to.receive(wire, now)) deliver(to, from, true);
  }
  void step() {
    now += 1000;
    a.poll(now);
    b.poll(now);
    if (!aSilent && a.txDue(now)) {
      if (linkUp) deliver(a, b, false);
      a.scheduleTx(now, 0.5);
    }
    if (b.txDue(now)) {
      if (linkUp && !aSilent) deliver(b, a, false);
      b.scheduleTx(now, 0.5);
    }
  }
  void run(uint64_t ms) {
    for (uint64_t i = 0; i < ms; ++i) step();
  }
};

TEST(BfdSession, ComesUpThenSpeedsUpWithAPollSequence) {
  Pair p;
  p.run(3000);
  EXPECT_EQ(p.a.state(), BfdState::kUp);
  EXPECT_EQ(p.b.state(), BfdState::kUp);
  EXPECT_FALSE(p.a.pollPending());  // the peer answered with Final
  EXPECT_EQ(p.a.txIntervalUs(), 100000U);
  EXPECT_EQ(p.a.detectTimeUs(), 300000U);
}

TEST(BfdSession, SendsSlowlyUntilUp) {
  BfdSession s(1, 100000, 3);
  EXPECT_EQ(s.txIntervalUs(), 1000000U);  // RFC 5880 6.8.3
  auto pkt = s.nextPacket(0);
  EXPECT_EQ(pkt.state, BfdState::kDown);
  EXPECT_EQ(pkt.yourDiscr, 0U);
  EXPECT_EQ(pkt.requiredMinRxUs, 100000U);
}

TEST(BfdSession, DetectsASilentPeerWithinTheDetectionTime) {
  Pair p;
  p.run(3000);
  ASSERT_EQ(p.b.state(), BfdState::kUp);
  p.aSilent = true;
  const uint64_t t0 = p.now;
  while (p.b.state() == BfdState::kUp && p.now - t0 < 2'000'000) p.step();
  EXPECT_EQ(p.b.state(), BfdState::kDown);
  EXPECT_EQ(p.b.diag(), 1);  // control detection time expired
  // 3 x 100 ms after the last packet b heard, which came at most one interval (87.5 ms with
  // this jitter) before a fell silent.
  EXPECT_GE(p.now - t0, 300000U - 87500U);
  EXPECT_LE(p.now - t0, 302000U);
  p.aSilent = false;
  p.run(4000);  // a noticed too (b said Down), then both come back
  EXPECT_EQ(p.a.state(), BfdState::kUp);
  EXPECT_EQ(p.b.state(), BfdState::kUp);
}

TEST(BfdSession, FollowsTheNeighborDownAndAdminDown) {
  Pair p;
  p.run(3000);
  BfdPacket admin = p.b.nextPacket(p.now);
  admin.state = BfdState::kAdminDown;
  p.a.receive(admin, p.now);
  EXPECT_EQ(p.a.state(), BfdState::kDown);
  EXPECT_EQ(p.a.diag(), 3);
}

TEST(BfdSession, IgnoresPacketsForAnotherDiscriminator) {
  Pair p;
  p.run(3000);
  BfdPacket other = p.b.nextPacket(p.now);
  other.yourDiscr = 0xDEAD;
  other.state = BfdState::kDown;
  EXPECT_FALSE(p.a.receive(other, p.now));
  EXPECT_EQ(p.a.state(), BfdState::kUp);
}

TEST(BfdSession, APeerThatSpeedsUpGetsPacketsAtTheNewRateAtOnce) {
  // The peer says Init while asking for 1 s, then Up with Poll asking for 100 ms: the packet
  // after our answer must not wait for the 1 s schedule (the peer would time out at 300 ms).
  BfdSession s(0xA, 100000, 3);
  uint64_t now = 1'000'000;
  s.scheduleTx(now, 1.0);
  BfdPacket init;
  init.state = BfdState::kInit;
  init.myDiscr = 0xB;
  init.yourDiscr = 0xA;
  init.desiredMinTxUs = 1'000'000;
  init.requiredMinRxUs = 1'000'000;
  s.receive(init, now);
  ASSERT_EQ(s.state(), BfdState::kUp);
  ASSERT_TRUE(s.txDue(now));  // Up: announce it (with Poll) at once
  s.scheduleTx(now, 1.0);     // next one scheduled with the peer's 1 s RequiredMinRx
  BfdPacket up = init;
  up.state = BfdState::kUp;
  up.poll = true;
  up.desiredMinTxUs = 100000;
  up.requiredMinRxUs = 100000;
  now += 1000;
  EXPECT_TRUE(s.receive(up, now));  // answer the Poll with Final
  EXPECT_TRUE(s.txDue(now - 1000 + 75000));
}

TEST(BfdSession, JitterKeepsTheIntervalWithin75To100Percent) {
  BfdSession s(1, 100000, 3);
  s.scheduleTx(0, 0.0);
  EXPECT_FALSE(s.txDue(749999));
  EXPECT_TRUE(s.txDue(750000));
  s.scheduleTx(0, 1.0);
  EXPECT_FALSE(s.txDue(999999));
  EXPECT_TRUE(s.txDue(1000000));
}

// An uplink name is the operator's string: the status must stay valid JSON whatever it holds,
// and give the name back unchanged.
TEST(BfdAgent, StatusCarriesAnyUplinkNameAsValidJson) {
  const std::string name = "u\"0\\x\n\x01";
  BfdAgent agent({BfdPeerConfig{name, *IpAddr::parse("127.0.0.1"), *IpAddr::parse("127.0.0.2")}},
                 300, 3);
  const auto status = nlohmann::json::parse(text(agent.statusJson()), nullptr, false);
  ASSERT_FALSE(status.is_discarded()) << text(agent.statusJson());
  ASSERT_TRUE(status.is_array());
  ASSERT_EQ(status.size(), 1U);
  EXPECT_EQ(status[0].value("uplink", ""), name);
  EXPECT_EQ(status[0].value("peer", ""), "127.0.0.2");
  EXPECT_EQ(status[0].value("state", ""), "down");
}

// Two agents on loopback addresses of their own (so parallel test runs do not share ports).
TEST(BfdAgent, TwoAgentsComeUpOnlyWhenEnabledAndSeeAdminDown) {
  const unsigned salt = static_cast<unsigned>(getpid()) % 200;
  const auto a = *IpAddr::parse("127.77." + std::to_string(salt) + ".1");
  const auto b = *IpAddr::parse("127.77." + std::to_string(salt) + ".2");
  BfdAgent left({BfdPeerConfig{"tor1", a, b}}, 20, 3);
  auto right = std::make_unique<BfdAgent>(std::vector<BfdPeerConfig>{{"node", b, a}}, 20, 3);
  left.start();
  right->start();
  // Disabled (no BGP session yet): silent, never up.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(left.up()[0]);
  EXPECT_NE(text(left.statusJson()).find(R"("enabled":false)"), std::string::npos);
  left.setEnabled(0, true);
  right->setEnabled(0, true);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!(left.up()[0] && right->up()[0]) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(left.up()[0]) << text(left.statusJson());
  ASSERT_TRUE(right->up()[0]) << text(right->statusJson());
  EXPECT_NE(text(left.statusJson()).find(R"("state":"up")"), std::string::npos);
  // Disabled while up: AdminDown, which the other side takes as "neighbor signaled down".
  right->setEnabled(0, false);
  auto t0 = std::chrono::steady_clock::now();
  while (left.up()[0] && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_FALSE(left.up()[0]) << text(left.statusJson());
  right->setEnabled(0, true);
  t0 = std::chrono::steady_clock::now();
  while (!(left.up()[0] && right->up()[0]) &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(left.up()[0]) << text(left.statusJson());
  right.reset();  // stops with AdminDown
  t0 = std::chrono::steady_clock::now();
  while (left.up()[0] && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_FALSE(left.up()[0]) << text(left.statusJson());
  EXPECT_NE(text(left.statusJson()).find("neighbor signaled session down"), std::string::npos)
      << text(left.statusJson());
}

// ---- IPv6 (RFC 5881 over IPv6) and hostile packets at the socket, both families ------------

// Waits up to `limit` for `cond`.
template <typename F>
bool waitFor(F cond, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Two UDP ports of this test process on one loopback address (::1 is the only IPv6 one).
uint16_t testPort(int n) {
  return static_cast<uint16_t>(20000 + (static_cast<unsigned>(getpid()) % 5000) * 4 + n);
}

TEST(BfdAgent, TwoAgentsComeUpOverIpv6) {
  const auto lo = *IpAddr::parse("::1");
  const uint16_t pa = testPort(0);
  const uint16_t pb = testPort(1);
  BfdAgent left({BfdPeerConfig{"tor1/v6", lo, lo, pa, pb}}, 20, 3);
  auto right = std::make_unique<BfdAgent>(
      std::vector<BfdPeerConfig>{BfdPeerConfig{"node/v6", lo, lo, pb, pa}}, 20, 3);
  left.start();
  right->start();
  left.setEnabled(0, true);
  right->setEnabled(0, true);
  ASSERT_TRUE(waitFor([&] { return left.up()[0] && right->up()[0]; }, std::chrono::seconds(10)))
      << text(left.statusJson()) << text(right->statusJson());
  const auto st = nlohmann::json::parse(text(left.statusJson()));
  EXPECT_EQ(st[0]["peer"], "::1");
  EXPECT_EQ(st[0]["bad"], 0) << st;  // hop limit 255 both ways
  right.reset();                     // AdminDown over IPv6
  EXPECT_TRUE(waitFor([&] { return !left.up()[0]; }, std::chrono::seconds(2)))
      << text(left.statusJson());
}

// What an attacker on the link can send at an agent's port, through a plain UDP socket: a wrong
// TTL / hop limit (not from the directly connected ToR, RFC 5881 5), a spoofed "your
// discriminator", a truncated packet. Each is dropped and counted under its reason, and the
// session stays Down; then one good packet moves it to Init (so the checks, not a deaf socket,
// dropped the others).
class BfdHostile : public ::testing::TestWithParam<const char*> {};

TEST_P(BfdHostile, DropsWrongHopLimitSpoofedDiscriminatorAndTruncated) {
  const auto lo = *IpAddr::parse(GetParam());
  const bool v6 = !lo.isV4();
  const uint16_t agentPort = testPort(2);
  const uint16_t peerPort = testPort(3);
  BfdAgent agent({BfdPeerConfig{"u0", lo, lo, agentPort, peerPort}}, 50, 3);
  agent.start();
  agent.setEnabled(0, true);
  // The attacker's socket (on the peer's address: only the hop limit / content gives it away).
  const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_storage to{};
  socklen_t toLen = 0;
  if (v6) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&to);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(agentPort);
    sa->sin6_addr = in6addr_loopback;
    toLen = sizeof(*sa);
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&to);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(agentPort);
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    toLen = sizeof(*sa);
  }
  auto hops = [&](int h) {
    if (v6) {
      ASSERT_EQ(setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &h, sizeof(h)), 0);
    } else {
      ASSERT_EQ(setsockopt(fd, IPPROTO_IP, IP_TTL, &h, sizeof(h)), 0);
    }
  };
  auto send = [&](const uint8_t* b, size_t n) {
    ASSERT_EQ(sendto(fd, b, n, 0, reinterpret_cast<const sockaddr*>(&to), toLen),
              static_cast<ssize_t>(n));
  };
  auto status = [&] { return nlohmann::json::parse(text(agent.statusJson()))[0]; };
  auto badIs = [&](int n) {
    return waitFor([&] { return status()["bad"] == n; }, std::chrono::seconds(2));
  };
  BfdPacket hello;  // a Down peer introducing itself
  hello.state = BfdState::kDown;
  hello.myDiscr = 7;
  hello.desiredMinTxUs = 50000;
  hello.requiredMinRxUs = 50000;
  uint8_t good[BfdPacket::kSize];
  hello.encode(good);

  // The agent's thread opens its sockets: it has sent once they are.
  ASSERT_TRUE(waitFor([&] { return status()["tx"] > 0; }, std::chrono::seconds(2))) << status();
  hops(254);  // one router away
  send(good, sizeof(good));
  ASSERT_TRUE(badIs(1)) << status();
  EXPECT_EQ(status()["last_bad"],
            std::string(v6 ? "hop limit" : "TTL") + " 254 (RFC 5881 wants 255)");

  hops(255);
  BfdPacket spoofed = hello;
  spoofed.state = BfdState::kUp;
  spoofed.yourDiscr = 0x12345678;  // a guess at ours
  uint8_t buf[BfdPacket::kSize];
  spoofed.encode(buf);
  send(buf, sizeof(buf));
  ASSERT_TRUE(badIs(2)) << status();
  EXPECT_EQ(status()["last_bad"], "your discriminator does not match");

  send(good, 10);  // truncated
  ASSERT_TRUE(badIs(3)) << status();
  EXPECT_EQ(status()["last_bad"], "short packet (10 bytes)");
  EXPECT_EQ(status()["rx"], 0);
  EXPECT_EQ(status()["state"], "down");

  send(good, sizeof(good));
  EXPECT_TRUE(waitFor([&] { return status()["state"] == "init"; }, std::chrono::seconds(2)))
      << status();
  EXPECT_EQ(status()["rx"], 1);
  EXPECT_EQ(status()["bad"], 3);
  close(fd);
}

INSTANTIATE_TEST_SUITE_P(Family, BfdHostile, ::testing::Values("127.0.0.1", "::1"),
                         [](const auto& info) {
                           return std::string(info.index == 0 ? "v4" : "v6");
                         });

}  // namespace
}  // namespace anylb::bgp
