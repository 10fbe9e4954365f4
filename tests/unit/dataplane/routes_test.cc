// The routing table of both families: connected, static (longest first, only while their
// uplink is up), default ECMP over up uplinks preferring resolved gateways; IPv6 only over
// dual-stack uplinks, and no route at all when none is up.
#include "dataplane/routes.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <set>

namespace anylb::dataplane {
namespace {

RouteTable::Addr6 v6(const char* text) {
  RouteTable::Addr6 a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1) << text;
  return a;
}

uint32_t v4(const char* text) {
  uint32_t a = 0;
  EXPECT_EQ(inet_pton(AF_INET, text, &a), 1) << text;
  return a;
}

constexpr uint8_t kMac[6] = {2, 0, 0, 0, 0, 1};

// Two uplinks like the lab's node 1: tor1 10.1.1.2/30 + fd00:1:1::2/64, tor2 10.2.1.2/30 and,
// unless `secondDualStack` is false, fd00:2:1::2/64.
struct Fabric {
  explicit Fabric(bool secondDualStack = true) : neighbors(16), routes(neighbors) {
    gw4[0] = neighbors.add(v4("10.1.1.1"), 0);
    gw6[0] = neighbors.add6(v6("fd00:1:1::1"), 0);
    gw4[1] = neighbors.add(v4("10.2.1.1"), 1);
    if (secondDualStack) gw6[1] = neighbors.add6(v6("fd00:2:1::1"), 1);
    for (int i = 0; i < 2; ++i) {
      RouteTable::Uplink u;
      u.netRaw = v4(i == 0 ? "10.1.1.0" : "10.2.1.0");
      u.maskRaw = v4("255.255.255.252");
      u.gateway = gw4[i];
      u.has6 = i == 0 || secondDualStack;
      u.net6 = v6(i == 0 ? "fd00:1:1::" : "fd00:2:1::");
      u.len6 = 64;
      u.gateway6 = gw6[i];
      u.linkUp = &up[i];
      routes.addUplink(u);
    }
  }
  void resolve(int neighbor) {
    const auto& n = neighbors.at(static_cast<size_t>(neighbor));
    if (n.v6) {
      neighbors.learn6(n.ip6.data(), kMac, 1);
    } else {
      neighbors.learn(n.ipRaw, kMac, 1);
    }
  }
  // The next hops route6 picks for 64 flow hashes.
  std::set<int> hops6(const char* dst) const {
    std::set<int> out;
    const auto d = v6(dst);
    for (uint32_t h = 0; h < 64; ++h) out.insert(routes.route6(d.data(), h));
    return out;
  }
  std::set<int> hops4(const char* dst) const {
    std::set<int> out;
    for (uint32_t h = 0; h < 64; ++h) out.insert(routes.route(v4(dst), h));
    return out;
  }

  NeighborTable neighbors;
  RouteTable routes;
  std::atomic<bool> up[2] = {true, true};
  int gw4[2] = {-1, -1};
  int gw6[2] = {-1, -1};
};

TEST(RouteTable, DefaultIsEcmpOverUpUplinksOfTheFamily) {
  Fabric f;
  EXPECT_EQ(f.hops6("fd00:20::11"), (std::set<int>{f.gw6[0], f.gw6[1]}));
  EXPECT_EQ(f.hops4("10.20.0.11"), (std::set<int>{f.gw4[0], f.gw4[1]}));
  f.up[0] = false;
  EXPECT_EQ(f.hops6("fd00:20::11"), (std::set<int>{f.gw6[1]}));
  EXPECT_EQ(f.hops4("10.20.0.11"), (std::set<int>{f.gw4[1]}));
}

TEST(RouteTable, DefaultPrefersResolvedGateways) {
  Fabric f;
  f.resolve(f.gw6[1]);
  EXPECT_EQ(f.hops6("2001:db8::1"), (std::set<int>{f.gw6[1]}));
  // IPv4 resolution says nothing about IPv6: both gateways still unresolved, both used.
  Fabric g;
  g.resolve(g.gw4[0]);
  EXPECT_EQ(g.hops6("2001:db8::1"), (std::set<int>{g.gw6[0], g.gw6[1]}));
  EXPECT_EQ(g.hops4("192.0.2.1"), (std::set<int>{g.gw4[0]}));
}

TEST(RouteTable, NoIpv6RouteWithoutAnUpDualStackUplink) {
  // Only tor1 is dual-stack: IPv6 never goes to tor2's IPv4 gateway, and with tor1 down
  // there is no IPv6 route (the worker drops it as no_route) while IPv4 still has one.
  Fabric f(false);
  EXPECT_EQ(f.hops6("fd00:20::11"), (std::set<int>{f.gw6[0]}));
  f.up[0] = false;
  EXPECT_EQ(f.hops6("fd00:20::11"), (std::set<int>{-1}));
  EXPECT_EQ(f.hops4("10.20.0.11"), (std::set<int>{f.gw4[1]}));
  f.up[1] = false;
  EXPECT_EQ(f.hops4("10.20.0.11"), (std::set<int>{-1}));
}

TEST(RouteTable, ConnectedNeedsTheDestinationToBeANeighbour) {
  Fabric f;
  EXPECT_EQ(f.routes.route6(v6("fd00:1:1::1").data(), 0), f.gw6[0]);
  EXPECT_EQ(f.routes.route6(v6("fd00:2:1::1").data(), 0), f.gw6[1]);
  // Another host on the link is no neighbour of ours: no route (not the default).
  EXPECT_EQ(f.routes.route6(v6("fd00:1:1::9").data(), 0), -1);
  EXPECT_EQ(f.routes.route(v4("10.1.1.1"), 0), f.gw4[0]);
  EXPECT_EQ(f.routes.route(v4("10.1.1.3"), 0), -1);
}

TEST(RouteTable, StaticRoutesLongestFirstWhileTheirUplinkIsUp) {
  Fabric f;
  const int nh1 = f.neighbors.add6(v6("fd00:1:1::9"), 0);
  const int nh2 = f.neighbors.add6(v6("fd00:2:1::9"), 1);
  // Added shortest first: the table orders them.
  f.routes.addRoute6(v6("2001:db8::"), 32, nh1);
  f.routes.addRoute6(v6("2001:db8:1::"), 48, nh2);
  f.routes.addRoute6(v6("2001:db8:1:8000::"), 49, nh1);
  EXPECT_EQ(f.hops6("2001:db8:1::5"), (std::set<int>{nh2}));
  EXPECT_EQ(f.hops6("2001:db8:1:8000::5"), (std::set<int>{nh1}));
  EXPECT_EQ(f.hops6("2001:db8:2::5"), (std::set<int>{nh1}));
  // The /48's uplink goes down: the /32 (up) takes over.
  f.up[1] = false;
  EXPECT_EQ(f.hops6("2001:db8:1::5"), (std::set<int>{nh1}));
  // Both down: nothing, not even the default.
  f.up[0] = false;
  EXPECT_EQ(f.hops6("2001:db8:1::5"), (std::set<int>{-1}));
}

TEST(RouteTable, Ipv4StaticRoutesUnchanged) {
  Fabric f;
  const int nh = f.neighbors.add(v4("10.2.1.3"), 1);
  f.routes.addRoute(v4("192.0.2.0"), 24, nh);
  f.routes.addRoute(v4("192.0.2.128"), 25, f.gw4[0]);
  EXPECT_EQ(f.hops4("192.0.2.5"), (std::set<int>{nh}));
  EXPECT_EQ(f.hops4("192.0.2.200"), (std::set<int>{f.gw4[0]}));
  f.up[1] = false;
  EXPECT_EQ(f.hops4("192.0.2.5"), (std::set<int>{f.gw4[0]}));  // default over tor1
}

}  // namespace
}  // namespace anylb::dataplane
