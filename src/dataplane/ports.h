// DPDK port set-up for the dataplane: the uplink ports (RSS over the workers' queues, reply
// steering by rte_flow where the PMD takes it), their TAP exception ports, and the kernel side
// of the exception path. Called by the control thread in Dataplane::start(), before any worker
// runs; the builders below are pure so the unit tests can check what a port would be given.
#pragma once

#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_mempool.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/ip.h"

namespace anylb::dataplane {

// Hash inputs asked of a multi-queue port: addresses and L4 ports, so that the flows of one
// client spread over the workers. Limited to what the PMD reports (flow_type_rss_offloads).
inline constexpr uint64_t kRssHashTypes = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
inline constexpr uint16_t kMaxRssKey = 128;  // bytes; NICs use 40 (ixgbe, tap) or 52 (i40e, ice)

// How a port spreads new flows over its RX queues.
enum class RxSpread : uint8_t {
  kSingleQueue,  // one worker: nothing to spread
  kRss,          // RSS configured (mq_mode RSS, symmetric key, RETA over the queues)
  kPmd,          // the PMD reports no RSS offload; it spreads by its own means (af_packet's
                 // fanout hash) or not at all
};
// How a reply (RS -> LIP:LPORT) reaches the worker that owns LPORT.
enum class ReplySteering : uint8_t {
  kNone,      // one worker owns everything
  kFlow,      // rte_flow rules: LIP + destination-port mask -> the owner's queue
  kSoftware,  // the receiving worker hands the packet to the owner over a ring
};

// What set-up gave a port; reported per port (portsJson, `anylbctl status`, /metrics).
struct PortSetup {
  uint16_t queues = 1;
  RxSpread spread = RxSpread::kSingleQueue;
  uint64_t rssHf = 0;      // RTE_ETH_RSS_* asked for (kRss)
  uint16_t rssKeyLen = 0;  // bytes of the symmetric key given; 0 = the PMD's own key
  uint16_t retaSize = 0;   // RETA entries programmed; 0 = the PMD's default table
  ReplySteering steering = ReplySteering::kNone;
  std::string note;  // why RSS or rte_flow is not in use, or empty
  std::vector<rte_flow*> flows;
  uint16_t rxDesc = 0;  // ring sizes per queue, as the PMD took them
  uint16_t txDesc = 0;
  // "single-queue", "rss+flow", "rss+software-redirect", "pmd-spread+software-redirect", ...
  [[nodiscard]] std::string mode() const;
};

// Fills `len` bytes with the repeated 0x6d5a pattern. With it the Toeplitz hash of
// (src, dst, sport, dport) equals that of (dst, src, dport, sport): both directions of a flow
// hash alike (Woo and Park, "Scalable TCP Session Monitoring with Symmetric RSS").
void symmetricRssKey(uint8_t* key, size_t len);

// The rte_eth_conf of an uplink with `queues` queues. More than one queue and an RSS-capable
// PMD: mq_mode RSS over kRssHashTypes & info.flow_type_rss_offloads, with the symmetric key
// written to `keyBuf` (kMaxRssKey bytes, must outlive the configure call) when the PMD names a
// key size. Otherwise a zeroed conf (no RSS). `setup` records what was chosen.
rte_eth_conf uplinkConf(const rte_eth_dev_info& info, uint16_t queues, uint8_t* keyBuf,
                        PortSetup& setup);

// A redirection table of `retaSize` entries spread round-robin over `queues` queues, every
// entry's mask bit set (rte_eth_dev_rss_reta_update's format).
std::vector<rte_eth_rss_reta_entry64> retaSpread(uint16_t retaSize, uint16_t queues);

// One reply-steering rule: IPv4 to a LIP prefix, TCP or UDP, destination port & portMask ==
// portSpec -> RX queue `queue`. Addresses and ports in network byte order.
struct ReplyRule {
  uint32_t lipNetRaw = 0;
  uint32_t lipMaskRaw = 0;
  uint8_t proto = 0;  // IPPROTO_TCP or IPPROTO_UDP
  uint16_t portSpecBe = 0;
  uint16_t portMaskBe = 0;
  uint16_t queue = 0;
};

// The rules that send every reply to the queue of the worker that owns its LIP port
// (fullnat::Worker::ownerOf: LPORT mod workers), one per IPv4 LIP prefix, protocol and worker.
// A port mask expresses `mod workers` only for a power of two: for other worker counts (and for
// one worker, or no IPv4 LIP) it returns no rules and says why in `why`.
std::vector<ReplyRule> replyRules(const std::vector<Prefix>& lips, uint16_t workers,
                                  std::string& why);

// A rule in rte_flow's terms: ingress, ETH / IPV4 / TCP|UDP / END -> QUEUE / END. The items
// point into the object itself: it is neither copied nor moved.
struct FlowRule {
  explicit FlowRule(const ReplyRule& r);
  FlowRule(const FlowRule&) = delete;
  FlowRule& operator=(const FlowRule&) = delete;

  rte_flow_attr attr{};
  rte_flow_item_ipv4 ipSpec{};
  rte_flow_item_ipv4 ipMask{};
  rte_flow_item_tcp tcpSpec{};
  rte_flow_item_tcp tcpMask{};
  rte_flow_item_udp udpSpec{};
  rte_flow_item_udp udpMask{};
  rte_flow_action_queue queue{};
  rte_flow_item pattern[4]{};
  rte_flow_action actions[2]{};
};

// Validates and creates `rules` on a started port, appending the flows to `flows`. On the
// first failure, destroys what it created and returns what the PMD said; empty on success.
std::string installFlowRules(uint16_t port, const std::vector<ReplyRule>& rules,
                             std::vector<rte_flow*>& flows);

// Configures `port` with `queues` RX/TX queue pairs (queue q belongs to worker q, its RX
// mbufs come from pools[q]), sets the MTU (best effort) and starts it in promiscuous mode.
// `rss`: spread RX over the queues (uplinks); the TAP exception ports take the kernel's packets
// on any queue and are configured without. `rxDesc`/`txDesc`: ring sizes per queue, fitted
// to the device's limits. Returns an empty string on success, else what failed.
std::string configurePort(uint16_t port, uint16_t queues, uint16_t mtu,
                          const std::vector<rte_mempool*>& pools, bool rss, PortSetup& setup,
                          uint16_t rxDesc = 1024, uint16_t txDesc = 1024);

}  // namespace anylb::dataplane
