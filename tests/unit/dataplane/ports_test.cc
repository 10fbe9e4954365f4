// Port set-up of multi-queue uplinks (issue 12, item 15): the RSS configuration, the symmetric
// key, the redirection table, and the rte_flow rules that steer replies to the worker owning
// their LIP port; then the same on a real PMD (net_null, which implements RSS and RETA but no
// rte_flow) through configurePort and installFlowRules.
#include "dataplane/ports.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rte_bus_vdev.h>
#include <rte_thash.h>

#include <array>
#include <memory>

#include "../fullnat/dpdk_env.h"
#include "fullnat/worker.h"

namespace anylb::dataplane {
namespace {

rte_eth_dev_info nicInfo(uint64_t rssOffloads, uint16_t keySize) {
  rte_eth_dev_info info{};
  info.max_rx_queues = 16;
  info.max_tx_queues = 16;
  info.flow_type_rss_offloads = rssOffloads;
  info.hash_key_size = static_cast<uint8_t>(keySize);
  return info;
}

// Toeplitz hash of an IPv4 4-tuple as a NIC computes it (host-order words, rte_softrss).
uint32_t toeplitz(const uint8_t* key, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
  uint32_t tuple[3] = {src, dst, (uint32_t{sport} << 16) | dport};
  return rte_softrss(tuple, 3, key);
}

TEST(PortsRss, SymmetricKeyHashesBothDirectionsAlike) {
  std::array<uint8_t, 52> key{};
  symmetricRssKey(key.data(), key.size());
  EXPECT_EQ(key[0], 0x6d);
  EXPECT_EQ(key[1], 0x5a);
  EXPECT_EQ(key[51], 0x5a);
  // Client -> VIP and VIP -> client, over many tuples.
  uint32_t differ = 0;
  for (uint32_t i = 0; i < 1000; ++i) {
    const uint32_t a = 0x0a0a0000 + i * 7919;
    const uint32_t b = 0x0a640000 + i * 104729;
    const auto sp = static_cast<uint16_t>(1024 + i * 31);
    const auto dp = static_cast<uint16_t>(80 + i);
    EXPECT_EQ(toeplitz(key.data(), a, b, sp, dp), toeplitz(key.data(), b, a, dp, sp)) << i;
    differ += toeplitz(key.data(), a, b, sp, dp) != toeplitz(key.data(), a, b, sp, dp + 1) ? 1 : 0;
  }
  EXPECT_GT(differ, 900U) << "the key must still hash different flows apart";
  // The check can fail: the usual (Microsoft) key is not symmetric.
  const uint8_t msKey[40] = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
                             0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
                             0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
                             0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
  EXPECT_NE(toeplitz(msKey, 0x0a0a0002, 0x0a64000a, 40000, 80),
            toeplitz(msKey, 0x0a64000a, 0x0a0a0002, 80, 40000));
}

TEST(PortsRss, MultiQueuePortGetsRssWithTheSymmetricKey) {
  uint8_t key[kMaxRssKey] = {};
  PortSetup setup;
  const auto conf = uplinkConf(nicInfo(RTE_ETH_RSS_PROTO_MASK, 52), 4, key, setup);
  EXPECT_EQ(conf.rxmode.mq_mode, RTE_ETH_MQ_RX_RSS);
  EXPECT_EQ(conf.rx_adv_conf.rss_conf.rss_hf, kRssHashTypes);
  ASSERT_EQ(conf.rx_adv_conf.rss_conf.rss_key, key);
  EXPECT_EQ(conf.rx_adv_conf.rss_conf.rss_key_len, 52);
  EXPECT_EQ(key[50], 0x6d);
  EXPECT_EQ(key[51], 0x5a);
  EXPECT_EQ(key[52], 0) << "written past the PMD's key size";
  EXPECT_EQ(setup.spread, RxSpread::kRss);
  EXPECT_EQ(setup.rssKeyLen, 52);
}

TEST(PortsRss, HashTypesLimitedToWhatThePmdOffers) {
  uint8_t key[kMaxRssKey] = {};
  PortSetup setup;
  // IPv4 only (no L4 ports): asked for exactly that, or configure fails on rss_hf.
  const auto conf =
      uplinkConf(nicInfo(RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_L2_PAYLOAD, 40), 2, key, setup);
  EXPECT_EQ(conf.rxmode.mq_mode, RTE_ETH_MQ_RX_RSS);
  EXPECT_EQ(conf.rx_adv_conf.rss_conf.rss_hf, uint64_t{RTE_ETH_RSS_IPV4});
}

TEST(PortsRss, NoRssWhereThePmdHasNoneOrOneQueue) {
  uint8_t key[kMaxRssKey] = {};
  PortSetup setup;
  auto conf = uplinkConf(nicInfo(0, 0), 2, key, setup);  // af_packet: no RSS offload
  EXPECT_EQ(conf.rxmode.mq_mode, RTE_ETH_MQ_RX_NONE);
  EXPECT_EQ(conf.rx_adv_conf.rss_conf.rss_hf, 0U);
  EXPECT_EQ(setup.spread, RxSpread::kPmd);
  EXPECT_FALSE(setup.note.empty());
  EXPECT_EQ(setup.mode(), "pmd-spread+software-redirect");

  PortSetup one;
  conf = uplinkConf(nicInfo(RTE_ETH_RSS_PROTO_MASK, 40), 1, key, one);
  EXPECT_EQ(conf.rxmode.mq_mode, RTE_ETH_MQ_RX_NONE) << "single-queue ports stay as they were";
  EXPECT_EQ(one.mode(), "single-queue");

  PortSetup noKey;  // RSS without a key size: the PMD keeps its key, none is passed
  conf = uplinkConf(nicInfo(RTE_ETH_RSS_PROTO_MASK, 0), 2, key, noKey);
  EXPECT_EQ(conf.rxmode.mq_mode, RTE_ETH_MQ_RX_RSS);
  EXPECT_EQ(conf.rx_adv_conf.rss_conf.rss_key, nullptr);
  EXPECT_EQ(noKey.rssKeyLen, 0);
}

TEST(PortsRss, RetaSpreadsOverEveryQueue) {
  const auto reta = retaSpread(512, 3);
  ASSERT_EQ(reta.size(), 512U / RTE_ETH_RETA_GROUP_SIZE);
  std::array<unsigned, 3> perQueue{};
  for (uint16_t i = 0; i < 512; ++i) {
    const auto& g = reta[i / RTE_ETH_RETA_GROUP_SIZE];
    ASSERT_TRUE((g.mask >> (i % RTE_ETH_RETA_GROUP_SIZE)) & 1U);
    ++perQueue.at(g.reta[i % RTE_ETH_RETA_GROUP_SIZE]);
  }
  EXPECT_EQ(perQueue[0], 171U);
  EXPECT_EQ(perQueue[1], 171U);
  EXPECT_EQ(perQueue[2], 170U);
}

// Does an rte_flow rule match this packet? Reads the items exactly as a PMD would: spec and
// mask in network byte order.
bool flowMatches(const FlowRule& f, uint32_t dstRaw, uint8_t proto, uint16_t dportBe) {
  const auto* ip = static_cast<const rte_flow_item_ipv4*>(f.pattern[1].spec);
  const auto* ipm = static_cast<const rte_flow_item_ipv4*>(f.pattern[1].mask);
  if (f.pattern[0].type != RTE_FLOW_ITEM_TYPE_ETH || f.pattern[1].type != RTE_FLOW_ITEM_TYPE_IPV4 ||
      f.pattern[3].type != RTE_FLOW_ITEM_TYPE_END) {
    return false;
  }
  if ((dstRaw & ipm->hdr.dst_addr) != ip->hdr.dst_addr) return false;
  if ((proto & ipm->hdr.next_proto_id) != ip->hdr.next_proto_id) return false;
  uint16_t spec = 0;
  uint16_t mask = 0;
  if (f.pattern[2].type == RTE_FLOW_ITEM_TYPE_TCP && proto == IPPROTO_TCP) {
    spec = static_cast<const rte_flow_item_tcp*>(f.pattern[2].spec)->hdr.dst_port;
    mask = static_cast<const rte_flow_item_tcp*>(f.pattern[2].mask)->hdr.dst_port;
  } else if (f.pattern[2].type == RTE_FLOW_ITEM_TYPE_UDP && proto == IPPROTO_UDP) {
    spec = static_cast<const rte_flow_item_udp*>(f.pattern[2].spec)->hdr.dst_port;
    mask = static_cast<const rte_flow_item_udp*>(f.pattern[2].mask)->hdr.dst_port;
  } else {
    return false;
  }
  return (dportBe & mask) == spec;
}

uint32_t raw(const char* a) {
  uint32_t v = 0;
  inet_pton(AF_INET, a, &v);
  return v;
}

TEST(PortsFlow, EveryReplyGoesToTheWorkerThatOwnsItsPort) {
  const std::vector<Prefix> lips = {*Prefix::parse("10.200.1.0/28"),
                                    *Prefix::parse("10.200.2.7/32")};
  for (const uint16_t workers : {2, 4, 8, 16}) {
    std::string why;
    const auto rules = replyRules(lips, workers, why);
    ASSERT_EQ(rules.size(), 2U * 2U * workers) << why;
    std::vector<std::unique_ptr<FlowRule>> flows;
    for (const auto& r : rules) {
      flows.push_back(std::make_unique<FlowRule>(r));
      const auto& f = *flows.back();
      ASSERT_EQ(f.attr.ingress, 1U);
      ASSERT_EQ(f.actions[0].type, RTE_FLOW_ACTION_TYPE_QUEUE);
      ASSERT_EQ(f.actions[1].type, RTE_FLOW_ACTION_TYPE_END);
    }
    const uint32_t step = workers <= 4 ? 1 : 13;  // every port for 2 and 4 workers
    for (const uint8_t proto : {uint8_t{IPPROTO_TCP}, uint8_t{IPPROTO_UDP}}) {
      for (const char* lip : {"10.200.1.0", "10.200.1.15", "10.200.2.7"}) {
        for (uint32_t port = 0; port < 65536; port += step) {
          const uint16_t be = htons(static_cast<uint16_t>(port));
          unsigned n = 0;
          uint32_t queue = 0;
          for (const auto& f : flows) {
            if (!flowMatches(*f, raw(lip), proto, be)) continue;
            ++n;
            queue = static_cast<const rte_flow_action_queue*>(f->actions[0].conf)->index;
          }
          ASSERT_EQ(n, 1U) << lip << " port " << port << " workers " << workers;
          ASSERT_EQ(queue, fullnat::Worker::ownerOf(be, workers))
              << lip << " port " << port << " workers " << workers;
        }
      }
    }
    // Not a LIP, or not TCP/UDP: no rule takes it (RSS and the software redirect do).
    for (const auto& r : rules) {
      const FlowRule f(r);
      EXPECT_FALSE(flowMatches(f, raw("10.200.1.16"), IPPROTO_TCP, htons(1000)));
      EXPECT_FALSE(flowMatches(f, raw("10.100.0.10"), IPPROTO_UDP, htons(1000)));
      EXPECT_FALSE(flowMatches(f, raw("10.200.2.7"), IPPROTO_ICMP, htons(1000)));
    }
  }
}

TEST(PortsFlow, NoRulesWhereAMaskCannotExpressTheSlices) {
  const std::vector<Prefix> lips = {*Prefix::parse("10.200.1.0/28")};
  for (const uint16_t workers : {3, 5, 6, 12}) {
    std::string why;
    EXPECT_TRUE(replyRules(lips, workers, why).empty()) << workers;
    EXPECT_NE(why.find("not a power of two"), std::string::npos) << why;
  }
  std::string why;
  EXPECT_TRUE(replyRules(lips, 1, why).empty());
  EXPECT_TRUE(replyRules({*Prefix::parse("2001:db8::/64")}, 2, why).empty());
  EXPECT_NE(why.find("IPv4"), std::string::npos) << why;
}

// --- on a real PMD: net_null implements RSS (rss_hf, a 128-entry RETA) but not rte_flow.

class PortsOnNullPmd : public ::testing::Test {
 protected:
  static uint16_t newPort(const char* name) {
    testing::mbufPool();  // the EAL
    EXPECT_EQ(rte_vdev_init(name, nullptr), 0) << name;
    uint16_t port = 0;
    EXPECT_EQ(rte_eth_dev_get_port_by_name(name, &port), 0);
    return port;
  }
};

TEST_F(PortsOnNullPmd, TwoQueuesGetRssAndASpreadRetaAndFlowFailureIsReported) {
  const uint16_t port = newPort("net_null_rss0");
  const std::vector<rte_mempool*> pools = {testing::mbufPool(), testing::mbufPool()};
  PortSetup setup;
  ASSERT_EQ(configurePort(port, 2, 1500, pools, true, setup), "");
  rte_eth_rss_conf rss{};
  ASSERT_EQ(rte_eth_dev_rss_hash_conf_get(port, &rss), 0);
  EXPECT_NE(rss.rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_TCP, 0U) << "RSS is not configured";
  EXPECT_NE(rss.rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_UDP, 0U);
  EXPECT_EQ(setup.spread, RxSpread::kRss);
  ASSERT_EQ(setup.retaSize, 128);
  auto reta = retaSpread(128, 1);  // all mask bits set; values overwritten by the query
  for (auto& g : reta) std::fill(std::begin(g.reta), std::end(g.reta), uint16_t{99});
  ASSERT_EQ(rte_eth_dev_rss_reta_query(port, reta.data(), 128), 0);
  for (uint16_t i = 0; i < 128; ++i) {
    EXPECT_EQ(reta[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE], i % 2) << i;
  }
  // rte_flow refused: nothing left installed, and what the PMD said comes back.
  std::string why;
  const auto rules = replyRules({*Prefix::parse("10.200.1.0/28")}, 2, why);
  std::vector<rte_flow*> flows;
  const auto err = installFlowRules(port, rules, flows);
  EXPECT_NE(err.find("rte_flow_validate"), std::string::npos) << err;
  EXPECT_TRUE(flows.empty());
  rte_eth_dev_stop(port);
  rte_eth_dev_close(port);
}

// The ring sizes asked for (dataplane.rx_descriptors / tx_descriptors) are what the queues get
// when the PMD allows them, and are reported; the rings were 512 whatever the config.
TEST_F(PortsOnNullPmd, RingSizesComeFromTheConfig) {
  const uint16_t port = newPort("net_null_rings0");
  const std::vector<rte_mempool*> pools = {testing::mbufPool()};
  PortSetup setup;
  ASSERT_EQ(configurePort(port, 1, 1500, pools, true, setup, 4096, 2048), "");
  EXPECT_EQ(setup.rxDesc, 4096);
  EXPECT_EQ(setup.txDesc, 2048);
  rte_eth_rxq_info rx{};
  rte_eth_txq_info tx{};
  if (rte_eth_rx_queue_info_get(port, 0, &rx) == 0) {
    EXPECT_EQ(rx.nb_desc, 4096);
  }
  if (rte_eth_tx_queue_info_get(port, 0, &tx) == 0) {
    EXPECT_EQ(tx.nb_desc, 2048);
  }
  rte_eth_dev_stop(port);
  rte_eth_dev_close(port);
}

TEST_F(PortsOnNullPmd, ExceptionPortAndSingleQueueStayWithoutRss) {
  const uint16_t port = newPort("net_null_norss0");
  const std::vector<rte_mempool*> pools = {testing::mbufPool(), testing::mbufPool()};
  PortSetup setup;
  ASSERT_EQ(configurePort(port, 2, 1500, pools, false, setup), "");  // a TAP exception port
  rte_eth_rss_conf rss{};
  ASSERT_EQ(rte_eth_dev_rss_hash_conf_get(port, &rss), 0);
  EXPECT_EQ(rss.rss_hf, 0U);
  EXPECT_EQ(setup.spread, RxSpread::kSingleQueue);
  rte_eth_dev_stop(port);
  rte_eth_dev_close(port);
}

}  // namespace
}  // namespace anylb::dataplane
