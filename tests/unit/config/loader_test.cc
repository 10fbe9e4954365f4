#include <gtest/gtest.h>

#include "config/loader.h"
#include "config_test_util.h"

namespace anylb::config {
namespace {

TEST(ConfigExamples, EveryCheckedInConfigValidates) {
  for (const char* path :
       {"config/anylb.example.toml", "config/lab/node1.toml", "config/lab/node2.toml",
        "config/lab/node3.toml", "tests/fuzz/corpus/config/sync.toml"}) {
    auto r = loadConfigFile(path);
    for (const auto& e : r.errors) ADD_FAILURE() << e.str();
    EXPECT_TRUE(r.config) << path;
  }
}

TEST(ConfigLoader, ReadsTheExampleFaithfully) {
  auto r = loadConfigFile("config/anylb.example.toml");
  ASSERT_TRUE(r.config);
  const auto& c = *r.config;
  EXPECT_EQ(c.node.name, "lb-r12-01");
  EXPECT_EQ(c.dataplane.workers, 4U);
  EXPECT_EQ(c.dataplane.workerLcores, (std::vector<uint32_t>{2, 3, 4, 5}));
  ASSERT_EQ(c.dataplane.ports.size(), 2U);
  EXPECT_FALSE(c.dataplane.ports[0].isVdev());
  EXPECT_EQ(c.dataplane.ports[1].mtu, 1500);
  ASSERT_EQ(c.uplinks.size(), 2U);
  EXPECT_EQ(c.uplinks[1].address.str(), "10.12.2.2/31");
  EXPECT_EQ(c.uplinks[1].peerAs, 65013U);
  EXPECT_EQ(c.bgp.communities, (std::vector<std::string>{"65100:80"}));
  ASSERT_EQ(c.services.size(), 2U);
  const auto& www = c.services[0];
  EXPECT_EQ(www.scheduler, Scheduler::kWlc);
  EXPECT_EQ(www.check.kind, CheckKind::kHttp);
  EXPECT_EQ(www.check.httpPath, "/healthz");
  ASSERT_EQ(www.check.expectStatus.size(), 2U);
  EXPECT_EQ(www.check.expectStatus[1].lo, 300);
  EXPECT_EQ(www.check.expectStatus[1].hi, 399);
  EXPECT_EQ(www.realServers[2].weight, 50U);
  // Each RS carries the service's effective check.
  EXPECT_EQ(www.realServers[2].check.httpHost, "www.example.com");
  const auto& dns = c.services[1];
  EXPECT_EQ(dns.protocol, Protocol::kUdp);
  EXPECT_EQ(dns.scheduler, Scheduler::kMh);
  EXPECT_EQ(dns.realServers[0].weight, 1U);  // default
  EXPECT_EQ(dns.check.port, 53);
  EXPECT_EQ(c.control.metricsListen.str(), "127.0.0.1:9469");
}

TEST(ConfigLoader, DefaultsApplyToTheMinimalConfig) {
  auto r = loadConfigString(testing::minimal(), "t.toml");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  const auto& c = *r.config;
  EXPECT_EQ(c.dataplane.sessionCapacity, 1U << 20);
  EXPECT_EQ(c.dataplane.timeouts.tcpEstablished, 900U);
  EXPECT_TRUE(c.dataplane.stripClientTimestamps);
  EXPECT_EQ(c.uplinks[0].holdTime, 9U);
  EXPECT_EQ(c.services[0].scheduler, Scheduler::kWrr);
  EXPECT_EQ(c.services[0].clientAddress, ClientAddress::kToa);
  EXPECT_EQ(c.services[0].synProxy, SynProxyMode::kOff);
  EXPECT_EQ(c.dataplane.synProxy.wscale, 7U);
  EXPECT_EQ(c.services[0].check.kind, CheckKind::kTcp);
  EXPECT_EQ(c.logging.level, "info");
  EXPECT_EQ(c.localPortMin, 1024U);
  EXPECT_EQ(c.localPortMax, 65535U);
}

// The local-port pool behind anylb_worker_local_port_fill_ratio: addresses, not prefixes (it
// used to count a /28 as one LIP, which overstated the fill 16 times), times the worker's share
// of port_min..port_max.
TEST(ConfigLoader, LocalPortsPerWorkerCountsAddressesAndThePortRange) {
  auto r = loadConfigString(
      testing::replaced("prefixes = [\"10.200.0.0/28\"]\n",
                        "prefixes = [\"10.200.0.0/28\", \"10.201.0.1/32\"]\nport_min = 2000\n"
                        "port_max = 2999\n",
                        testing::replaced("workers = 1\n", "workers = 2\n")),
      "t.toml");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  EXPECT_EQ(r.config->localPortMin, 2000U);
  EXPECT_EQ(r.config->localPortMax, 2999U);
  EXPECT_EQ(localPortsPerWorker(*r.config), 17U * 500U);
}

TEST(ConfigLoader, DualStackUplinkHasItsIpv6AddressAndGateway) {
  auto r = loadConfigString(
      testing::replaced("gateway = \"10.1.0.1\"",
                        "gateway = \"10.1.0.1\"\naddress6 = \"fd00:1::2/64\"\ngateway6 = "
                        "\"fd00:1::1\""),
      "t.toml");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  const auto& u = r.config->uplinks[0];
  ASSERT_TRUE(u.address6 && u.gateway6);
  EXPECT_EQ(u.address6->str(), "fd00:1::2/64");
  EXPECT_EQ(u.gateway6->str(), "fd00:1::1");
  EXPECT_FALSE(loadConfigString(testing::minimal(), "t.toml").config->uplinks[0].address6);
  EXPECT_FALSE(u.peerAddress6);
}

// An IPv6 BGP session per uplink carries the IPv6 VIPs and LIP prefixes.
TEST(ConfigLoader, Ipv6SessionCarriesIpv6VipsAndLips) {
  auto text = testing::replaced("gateway = \"10.1.0.1\"",
                                "gateway = \"10.1.0.1\"\naddress6 = \"fd00:1::2/64\"\ngateway6 = "
                                "\"fd00:1::1\"\npeer_address6 = \"fd00:1::1\"");
  text = testing::replaced(R"(["10.200.0.0/28"])", R"(["10.200.0.0/28", "fd00:200::/120"])", text);
  text +=
      "\n[[service]]\nvip = \"fd00:100::10\"\nport = 80\n\n[[service.real_server]]\n"
      "address = \"fd00:20::11\"\nport = 80\n";
  auto r = loadConfigString(text, "t.toml");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  ASSERT_TRUE(r.config->uplinks[0].peerAddress6);
  EXPECT_EQ(r.config->uplinks[0].peerAddress6->str(), "fd00:1::1");
}

TEST(ConfigLoader, RealServerCheckOverridesMergeOverTheService) {
  auto text = testing::replaced("weight = 1\n",
                                "weight = 1\n[service.real_server.health_check]\nport = 8080\n");
  text += "[service.health_check]\ntype = \"http\"\ninterval = 5\ntimeout = 2\n";
  auto r = loadConfigString(text, "t.toml");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  const auto& rs = r.config->services[0].realServers[0];
  EXPECT_EQ(rs.check.port, 8080);
  // The service block is read first, so its values reach the RS even though the RS table
  // comes earlier in the file.
  EXPECT_EQ(rs.check.kind, CheckKind::kHttp);
  EXPECT_DOUBLE_EQ(rs.check.interval.count(), 5.0);
}

TEST(ConfigLoader, ReadsStaticRoutes) {
  auto r = loadConfigString(testing::minimal() +
                                "[[dataplane.route]]\nprefix = \"192.0.2.0/24\"\n"
                                "via = \"10.1.0.1\"\n",
                            "t.toml");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  ASSERT_EQ(r.config->dataplane.routes.size(), 1U);
  EXPECT_EQ(r.config->dataplane.routes[0].prefix.str(), "192.0.2.0/24");
  EXPECT_EQ(r.config->dataplane.routes[0].via.str(), "10.1.0.1");
}

TEST(ConfigLoader, ReadsIpv6StaticRoutes) {
  // An IPv6 route's next hop is on an uplink's address6 prefix.
  std::string text = testing::minimal();
  const std::string gw = "gateway = \"10.1.0.1\"";
  text.replace(text.find(gw), gw.size(),
               gw + "\naddress6 = \"fd00:1::2/64\"\ngateway6 = \"fd00:1::1\"");
  auto r = loadConfigString(text +
                                "[[dataplane.route]]\nprefix = \"2001:db8::/32\"\n"
                                "via = \"fd00:1::9\"\n",
                            "t.toml");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  ASSERT_EQ(r.config->dataplane.routes.size(), 1U);
  EXPECT_EQ(r.config->dataplane.routes[0].prefix.str(), "2001:db8::/32");
  EXPECT_EQ(r.config->dataplane.routes[0].via.str(), "fd00:1::9");
}

TEST(ConfigLoader, MissingFileIsOneClearError) {
  auto r = loadConfigFile("/nonexistent/anylb.toml");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].str(), "/nonexistent/anylb.toml: cannot open file");
}

TEST(ConfigLoader, SummaryCountsWhatWasLoaded) {
  auto r = loadConfigString(testing::minimal(), "t.toml");
  ASSERT_TRUE(r.config);
  EXPECT_EQ(summary(*r.config),
            "t.toml: node t, 1 worker(s), 1 uplink(s), 1 LIP prefix(es), 1 service(s), 1 real "
            "server(s)");
}

// client_address replaces the round-1 boolean `toa`; old files keep their meaning.
TEST(ConfigLoader, ClientAddressAndTheOlderToaSwitch) {
  auto with = [](const std::string& keys) {
    // Keys go into the first [[service]] table, before its real servers.
    return loadConfigString(testing::replaced("[[service]]\n", "[[service]]\n" + keys), "t.toml");
  };
  auto r = with("toa = false\n");
  ASSERT_TRUE(r.config) << r.errors[0].str();
  EXPECT_EQ(r.config->services[0].clientAddress, ClientAddress::kNone);
  r = with("client_address = \"proxy_protocol_v2\"\nsyn_proxy = \"auto\"\n");
  ASSERT_TRUE(r.config) << r.errors[0].str();
  EXPECT_EQ(r.config->services[0].clientAddress, ClientAddress::kProxyProtocolV2);
  EXPECT_EQ(r.config->services[0].synProxy, SynProxyMode::kAuto);
  r = with("toa = true\nclient_address = \"proxy_protocol_v2\"\n");
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.errors[0].str().find("contradicts toa = true"), std::string::npos)
      << r.errors[0].str();
  r = with("client_address = \"ppv2\"\n");
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.errors[0].str().find("client_address"), std::string::npos) << r.errors[0].str();
  r = with("syn_proxy = true\n");
  ASSERT_FALSE(r.config);
}

TEST(ConfigLoader, SynProxyAndProxyProtocolNeedTcp) {
  auto r =
      loadConfigString(testing::replaced("[[service]]\n",
                                         "[[service]]\nprotocol = \"udp\"\nsyn_proxy = \"on\"\n"
                                         "client_address = \"proxy_protocol_v2\"\n"),
                       "t.toml");
  ASSERT_FALSE(r.config);
  std::string all;
  for (const auto& e : r.errors) all += e.str() + "\n";
  EXPECT_NE(all.find("a SYN proxy needs a TCP service"), std::string::npos) << all;
  EXPECT_NE(all.find("proxy_protocol_v2 is for TCP services"), std::string::npos) << all;
}

TEST(ConfigLoader, SynProxyTableIsReadAndBounded) {
  const std::string table =
      "[dataplane.syn_proxy]\nauto_syn_recv = 100\nauto_syn_rate = 200\n"
      "auto_hold_seconds = 3\nrs_timeout_ms = 1500\nwscale = 9\n";
  auto r = loadConfigString(testing::minimal() + table, "t.toml");
  ASSERT_TRUE(r.config) << r.errors[0].str();
  const auto& sp = r.config->dataplane.synProxy;
  EXPECT_EQ(sp.autoSynRecv, 100U);
  EXPECT_EQ(sp.autoSynRate, 200U);
  EXPECT_EQ(sp.autoHoldSeconds, 3U);
  EXPECT_EQ(sp.rsTimeoutMs, 1500U);
  EXPECT_EQ(sp.wscale, 9U);
  r = loadConfigString(testing::minimal() + "[dataplane.syn_proxy]\nwscale = 15\nbogus = 1\n",
                       "t.toml");
  ASSERT_FALSE(r.config);
  std::string all;
  for (const auto& e : r.errors) all += e.str() + "\n";
  EXPECT_NE(all.find("dataplane.syn_proxy.wscale"), std::string::npos) << all;
  EXPECT_NE(all.find("dataplane.syn_proxy.bogus"), std::string::npos) << all;
}

}  // namespace
}  // namespace anylb::config
