// Port set-up: uplink ports (RSS, reply steering by rte_flow), their TAP exception ports, the
// kernel side of the exception path, and the port listing (control thread).
#include "dataplane/ports.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <rte_bus_vdev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_flow.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "common/process.h"
#include "dataplane/dataplane.h"

namespace anylb::dataplane {

namespace {
constexpr uint16_t kTapDesc = 512;  // exception TAP rings: control traffic only
constexpr unsigned kRedirectRing = 4096;

// "net_af_packet0,iface=n1t1,qpairs=1" -> "n1t1" (empty if none).
std::string devArg(const std::string& device, const std::string& key) {
  const auto at = device.find(key + "=");
  if (at == std::string::npos) return {};
  const auto start = at + key.size() + 1;
  return device.substr(start, device.find(',', start) - start);
}

std::string portName(const config::Port& p) {
  return p.isVdev() ? p.device.substr(0, p.device.find(',')) : p.device;
}

bool run(const std::vector<std::string>& argv) {
  const auto r = runCommand(argv);
  if (!r.ok()) spdlog::warn("command failed: {}: {}", joinArgs(argv), r.output);
  return r.ok();
}
}  // namespace

std::string PortSetup::mode() const {
  if (queues <= 1) return "single-queue";
  std::string m = spread == RxSpread::kRss ? "rss" : "pmd-spread";
  return m + (steering == ReplySteering::kFlow ? "+flow" : "+software-redirect");
}

void symmetricRssKey(uint8_t* key, size_t len) {
  for (size_t i = 0; i < len; ++i) key[i] = (i % 2 == 0) ? 0x6d : 0x5a;
}

rte_eth_conf uplinkConf(const rte_eth_dev_info& info, uint16_t queues, uint8_t* keyBuf,
                        PortSetup& setup) {
  rte_eth_conf conf{};
  setup.queues = queues;
  setup.spread = RxSpread::kSingleQueue;
  setup.rssHf = 0;
  setup.rssKeyLen = 0;
  if (queues <= 1) return conf;
  const uint64_t hf = kRssHashTypes & info.flow_type_rss_offloads;
  if (hf == 0) {
    setup.spread = RxSpread::kPmd;
    setup.note = "the PMD reports no RSS hash offload (flow_type_rss_offloads has no IP/TCP/UDP)";
    return conf;
  }
  setup.spread = RxSpread::kRss;
  setup.rssHf = hf;
  conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
  conf.rx_adv_conf.rss_conf.rss_hf = hf;
  // A PMD that names no key size (or one beyond any NIC's) keeps its own key: asymmetric, but
  // replies are steered by LIP port anyway.
  if (info.hash_key_size != 0 && info.hash_key_size <= kMaxRssKey) {
    symmetricRssKey(keyBuf, info.hash_key_size);
    conf.rx_adv_conf.rss_conf.rss_key = keyBuf;
    conf.rx_adv_conf.rss_conf.rss_key_len = info.hash_key_size;
    setup.rssKeyLen = info.hash_key_size;
  }
  return conf;
}

std::vector<rte_eth_rss_reta_entry64> retaSpread(uint16_t retaSize, uint16_t queues) {
  std::vector<rte_eth_rss_reta_entry64> reta((retaSize + RTE_ETH_RETA_GROUP_SIZE - 1) /
                                             RTE_ETH_RETA_GROUP_SIZE);
  for (uint16_t i = 0; i < retaSize; ++i) {
    auto& group = reta[i / RTE_ETH_RETA_GROUP_SIZE];
    const unsigned slot = i % RTE_ETH_RETA_GROUP_SIZE;
    group.mask |= uint64_t{1} << slot;
    group.reta[slot] = static_cast<uint16_t>(i % queues);
  }
  return reta;
}

std::vector<ReplyRule> replyRules(const std::vector<Prefix>& lips, uint16_t workers,
                                  std::string& why) {
  std::vector<ReplyRule> rules;
  if (workers <= 1) {
    why = "one worker: nothing to steer";
    return rules;
  }
  if ((workers & (workers - 1)) != 0) {
    // LPORT mod 3 (5, 6, ...) is no mask; a rule per port value (65536 per LIP) is too many.
    why = fmt::format("{} workers is not a power of two: no port mask expresses LPORT mod {}",
                      workers, workers);
    return rules;
  }
  for (const auto& p : lips) {
    if (!p.addr.isV4()) continue;  // IPv4 only, like the rest of the packet path today
    const uint32_t mask = p.len == 0 ? 0 : htonl(~uint32_t{0} << (32 - p.len));
    for (const uint8_t proto : {uint8_t{IPPROTO_TCP}, uint8_t{IPPROTO_UDP}}) {
      for (uint16_t w = 0; w < workers; ++w) {
        rules.push_back(ReplyRule{rawOf(p.network()), mask, proto, htons(w),
                                  htons(static_cast<uint16_t>(workers - 1)), w});
      }
    }
  }
  if (rules.empty()) why = "no IPv4 local address prefix";
  return rules;
}

FlowRule::FlowRule(const ReplyRule& r) {
  attr.ingress = 1;
  ipSpec.hdr.dst_addr = r.lipNetRaw;
  ipMask.hdr.dst_addr = r.lipMaskRaw;
  ipSpec.hdr.next_proto_id = r.proto;
  ipMask.hdr.next_proto_id = 0xff;
  pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH;  // any Ethernet header
  pattern[1].type = RTE_FLOW_ITEM_TYPE_IPV4;
  pattern[1].spec = &ipSpec;
  pattern[1].mask = &ipMask;
  if (r.proto == IPPROTO_TCP) {
    tcpSpec.hdr.dst_port = r.portSpecBe;
    tcpMask.hdr.dst_port = r.portMaskBe;
    pattern[2].type = RTE_FLOW_ITEM_TYPE_TCP;
    pattern[2].spec = &tcpSpec;
    pattern[2].mask = &tcpMask;
  } else {
    udpSpec.hdr.dst_port = r.portSpecBe;
    udpMask.hdr.dst_port = r.portMaskBe;
    pattern[2].type = RTE_FLOW_ITEM_TYPE_UDP;
    pattern[2].spec = &udpSpec;
    pattern[2].mask = &udpMask;
  }
  pattern[3].type = RTE_FLOW_ITEM_TYPE_END;
  queue.index = r.queue;
  actions[0].type = RTE_FLOW_ACTION_TYPE_QUEUE;
  actions[0].conf = &queue;
  actions[1].type = RTE_FLOW_ACTION_TYPE_END;
}

std::string installFlowRules(uint16_t port, const std::vector<ReplyRule>& rules,
                             std::vector<rte_flow*>& flows) {
  const size_t first = flows.size();
  auto undo = [&] {
    for (size_t i = first; i < flows.size(); ++i) {
      rte_flow_error e{};
      rte_flow_destroy(port, flows[i], &e);
    }
    flows.resize(first);
  };
  for (const auto& r : rules) {
    const FlowRule f(r);
    rte_flow_error err{};
    int rc = rte_flow_validate(port, &f.attr, f.pattern, f.actions, &err);
    rte_flow* flow = nullptr;
    if (rc == 0) flow = rte_flow_create(port, &f.attr, f.pattern, f.actions, &err);
    if (flow == nullptr) {
      undo();
      return fmt::format("rte_flow_{}: {} ({})", rc == 0 ? "create" : "validate",
                         err.message != nullptr ? err.message : "no message",
                         rte_strerror(rc != 0 ? -rc : rte_errno));
    }
    flows.push_back(flow);
  }
  return {};
}

std::string configurePort(uint16_t port, uint16_t queues, uint16_t mtu,
                          const std::vector<rte_mempool*>& pools, bool rss, PortSetup& setup,
                          uint16_t rxDesc, uint16_t txDesc) {
  rte_eth_dev_info info{};
  if (rte_eth_dev_info_get(port, &info) != 0) return "cannot read device info";
  if (info.max_rx_queues < queues || info.max_tx_queues < queues) {
    return fmt::format(
        "has {} RX / {} TX queues, {} workers need {} (for net_af_packet set "
        "qpairs={}, for net_af_xdp queue_count={} and as many interface queues)",
        info.max_rx_queues, info.max_tx_queues, queues, queues, queues, queues);
  }
  uint8_t key[kMaxRssKey];
  rte_eth_conf conf{};
  setup.queues = queues;
  if (rss) conf = uplinkConf(info, queues, key, setup);
  if (int rc = rte_eth_dev_configure(port, queues, queues, &conf); rc != 0) {
    return fmt::format("configure: {}", rte_strerror(-rc));
  }
  rte_eth_dev_set_mtu(port, mtu);  // best effort: af_packet follows the interface's MTU
  // Within the device's limits (and its alignment): what was asked may be rounded.
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxDesc, &txDesc); rc != 0) {
    return fmt::format("ring sizes: {}", rte_strerror(-rc));
  }
  setup.rxDesc = rxDesc;
  setup.txDesc = txDesc;
  for (uint16_t q = 0; q < queues; ++q) {
    const int socket = rte_eth_dev_socket_id(port);
    if (int rc = rte_eth_rx_queue_setup(port, q, rxDesc, socket, nullptr, pools[q]); rc != 0) {
      return fmt::format("RX queue {}: {}", q, rte_strerror(-rc));
    }
    if (int rc = rte_eth_tx_queue_setup(port, q, txDesc, socket, nullptr); rc != 0) {
      return fmt::format("TX queue {}: {}", q, rte_strerror(-rc));
    }
  }
  if (int rc = rte_eth_dev_start(port); rc != 0) return fmt::format("start: {}", rte_strerror(-rc));
  rte_eth_promiscuous_enable(port);
  if (setup.spread == RxSpread::kRss && info.reta_size != 0) {
    // Most PMDs already spread their default RETA over the configured queues; say so exactly.
    auto reta = retaSpread(info.reta_size, queues);
    if (int rc = rte_eth_dev_rss_reta_update(port, reta.data(), info.reta_size); rc == 0) {
      setup.retaSize = info.reta_size;
    } else {
      setup.note =
          fmt::format("RETA update: {} (the PMD's default table stays)", rte_strerror(-rc));
    }
  }
  return {};
}

std::string Dataplane::initPorts() {
  for (uint16_t w = 0; w < workers_; ++w) {
    const auto name = fmt::format("anylb_w{}", w);
    // At least what fills this worker's queue on every port (RX ring, TX ring until sent, the
    // exception TAP's 512 + 512) with a burst's room to spare: a smaller pool starves RX.
    const auto& d = cfg_.dataplane;
    const auto rings = static_cast<unsigned>(
        d.ports.size() * (d.rxDescriptors + d.txDescriptors + 2 * kTapDesc) + 1024);
    const unsigned n = std::max({d.mbufsPerPort, rings, 4096U});
    rte_mempool* mp =
        rte_pktmbuf_pool_create(name.c_str(), n, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (mp == nullptr) {
      return fmt::format("no memory for {} mbufs of worker {} ({}); raise the EAL -m", n, w,
                         rte_strerror(rte_errno));
    }
    pools_.push_back(mp);
    const auto cmdName = fmt::format("anylb_cmd{}", w);
    rte_ring* cmd =
        rte_ring_create(cmdName.c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (cmd == nullptr) return fmt::format("command ring: {}", rte_strerror(rte_errno));
    commands_.push_back(cmd);
    const auto ringName = fmt::format("anylb_redir{}", w);
    rte_ring* r = rte_ring_create(ringName.c_str(), kRedirectRing, SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (r == nullptr) return fmt::format("redirect ring: {}", rte_strerror(rte_errno));
    redirect_.push_back(r);
  }
  controlPool_ =
      rte_pktmbuf_pool_create("anylb_ctl", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  controlTx_ = rte_ring_create("anylb_ctltx", 256, SOCKET_ID_ANY, RING_F_SC_DEQ | RING_F_SP_ENQ);
  if (controlPool_ == nullptr || controlTx_ == nullptr) return "no memory for the control path";

  for (size_t i = 0; i < cfg_.uplinks.size(); ++i) {
    const auto& u = cfg_.uplinks[i];
    const config::Port* port = nullptr;
    for (const auto& p : cfg_.dataplane.ports) {
      if (p.name == u.port) port = &p;
    }
    // validate() guarantees the port exists; a clear error rather than a crash if not.
    if (port == nullptr) return fmt::format("uplink {}: no [[dataplane.port]] {}", u.name, u.port);
    auto rt = std::make_unique<UplinkRt>();
    rt->name = u.name;
    rt->addrRaw = rawOf(u.address.addr);
    RouteTable::Uplink route;
    route.netRaw = rawOf(u.address.network());
    route.maskRaw = u.address.len == 0 ? 0 : htonl(~uint32_t{0} << (32 - u.address.len));
    route.linkUp = &rt->linkUp;
    const auto pname = portName(*port);
    if (rte_eth_dev_get_port_by_name(pname.c_str(), &rt->port) != 0) {
      return fmt::format("uplink {}: port {} ({}) not found; is the device present?", u.name,
                         port->name, port->device);
    }
    if (auto err = configurePort(rt->port, workers_, port->mtu, pools_, true, rt->setup,
                                 static_cast<uint16_t>(cfg_.dataplane.rxDescriptors),
                                 static_cast<uint16_t>(cfg_.dataplane.txDescriptors));
        !err.empty()) {
      return fmt::format("uplink {}: port {} {}", u.name, port->name, err);
    }
    rte_ether_addr mac{};
    rte_eth_macaddr_get(rt->port, &mac);
    std::memcpy(&rt->mac, mac.addr_bytes, 6);
    rt->gateway = neighbors_.add(rawOf(u.gateway), static_cast<uint16_t>(i));
    if (u.address6 && u.gateway6) {
      rt->has6 = true;
      std::memcpy(rt->addr6.data(), u.address6->addr.bytes.data(), 16);
      route.has6 = true;
      std::memcpy(route.net6.data(), u.address6->network().bytes.data(), 16);
      route.len6 = u.address6->len;
      Addr6 gw{};
      std::memcpy(gw.data(), u.gateway6->bytes.data(), 16);
      rt->gateway6 = neighbors_.add6(gw, static_cast<uint16_t>(i));
      // validate() bounds the next hops (config::kMaxNextHops) by the same count.
      if (rt->gateway6 < 0) return fmt::format("uplink {}: too many next hops", u.name);
    }
    route.gateway = rt->gateway;
    route.gateway6 = rt->gateway6;
    routes_.addUplink(route);
    rt->portName = port->name;
    initReplySteering(*rt);
    // The kernel must not also take the packets of an af_packet interface it still owns (it
    // holds the node address on the TAP, and Linux accepts local addresses on any interface).
    // Undone in stop().
    rt->iface = devArg(port->device, "iface");
    if (!rt->iface.empty()) {
      const auto key = fmt::format("net.ipv4.conf.{}.rp_filter", rt->iface);
      auto prev = runCommand({"sysctl", "-n", key});
      rt->savedRpFilter = prev.ok() ? prev.output.substr(0, prev.output.find('\n')) : "0";
      run({"ip", "link", "set", "dev", rt->iface, "arp", "off"});
      run({"sysctl", "-qw", key + "=1"});
      // The same for IPv6: with it on, the kernel answers Neighbor Solicitations on the
      // interface itself (its link-local address, the same MAC as the TAP's). An interface
      // without IPv6 has no such key: nothing to do or restore. Undone in stop().
      const auto key6 = fmt::format("net.ipv6.conf.{}.disable_ipv6", rt->iface);
      if (auto prev6 = runCommand({"sysctl", "-n", key6}); prev6.ok()) {
        rt->savedDisableIpv6 = prev6.output.substr(0, prev6.output.find('\n'));
        run({"sysctl", "-qw", key6 + "=1"});
      }
    }
    if (auto err = initTap(*rt, i); !err.empty()) return err;
    uplinks_.push_back(std::move(rt));
  }
  // Static routes: their next hops become neighbours on the uplink that reaches them.
  for (const auto& r : cfg_.dataplane.routes) {
    if (!r.via.isV4()) {
      // IPv6: the next hop is on an uplink's address6 prefix (validate() checked that).
      for (size_t i = 0; i < cfg_.uplinks.size(); ++i) {
        const auto& a6 = cfg_.uplinks[i].address6;
        if (!a6 || !a6->contains(r.via)) continue;
        Addr6 via{};
        std::memcpy(via.data(), r.via.bytes.data(), 16);
        const int nh = neighbors_.add6(via, static_cast<uint16_t>(i));
        if (nh < 0) return "too many static route next hops";
        Addr6 net{};
        std::memcpy(net.data(), r.prefix.network().bytes.data(), 16);
        routes_.addRoute6(net, r.prefix.len, nh);
        break;
      }
      continue;
    }
    for (size_t i = 0; i < cfg_.uplinks.size(); ++i) {
      if (!cfg_.uplinks[i].address.contains(r.via)) continue;
      const int nh = neighbors_.add(rawOf(r.via), static_cast<uint16_t>(i));
      if (nh < 0) return "too many static route next hops";
      routes_.addRoute(rawOf(r.prefix.network()), r.prefix.len, nh);
      break;
    }
  }
  return {};
}

std::string Dataplane::initTap(UplinkRt& u, size_t index) {
  const auto name = fmt::format("net_tap_anylb{}", index);
  const auto args = fmt::format("iface={},mac={}", u.name, macString(u.mac));
  if (rte_vdev_init(name.c_str(), args.c_str()) != 0) {
    return fmt::format("uplink {}: cannot create the exception TAP ({} {})", u.name, name, args);
  }
  if (rte_eth_dev_get_port_by_name(name.c_str(), &u.tap) != 0) return "TAP port not found";
  PortSetup tapSetup;
  if (auto err = configurePort(u.tap, workers_, 1500, pools_, false, tapSetup, kTapDesc, kTapDesc);
      !err.empty()) {
    return fmt::format("uplink {}: TAP {}", u.name, err);
  }
  return {};
}

void Dataplane::initReplySteering(UplinkRt& u) {
  auto& setup = u.setup;
  if (setup.queues <= 1) return;
  // The software redirect always stays behind the rules: a reply that lands on another queue
  // (a LIP prefix added by a reload, ICMP errors, a rule the NIC dropped) is still handed over.
  setup.steering = ReplySteering::kSoftware;
  std::string why;
  const auto rules = replyRules(cfg_.localAddresses, setup.queues, why);
  if (rules.empty()) {
    setup.note = why;
  } else if (auto err = installFlowRules(u.port, rules, setup.flows); !err.empty()) {
    setup.note = err;
  } else {
    setup.steering = ReplySteering::kFlow;
  }
  spdlog::info("uplink {}: port {} {}, {} queues of {} RX / {} TX descriptors{}{}", u.name,
               u.portName, setup.mode(), setup.queues, setup.rxDesc, setup.txDesc,
               setup.note.empty() ? "" : ": ", setup.note);
}

nlohmann::json Dataplane::portsJson() const {
  auto out = nlohmann::json::array();
  for (const auto& up : uplinks_) {
    const auto& u = *up;
    const auto& st = u.setup;
    rte_eth_stats s{};
    rte_eth_stats_get(u.port, &s);
    auto rxQueues = nlohmann::json::array();
    for (uint16_t q = 0; q < std::min<uint16_t>(st.queues, RTE_ETHDEV_QUEUE_STAT_CNTRS); ++q) {
      rxQueues.push_back(s.q_ipackets[q]);
    }
    auto hash = nlohmann::json::array();
    if ((st.rssHf & RTE_ETH_RSS_IP) != 0) hash.push_back("ip");
    if ((st.rssHf & RTE_ETH_RSS_TCP) != 0) hash.push_back("tcp");
    if ((st.rssHf & RTE_ETH_RSS_UDP) != 0) hash.push_back("udp");
    out.push_back(
        {{"name", u.portName},
         {"uplink", u.name},
         {"link_up", u.linkUp.load(std::memory_order_relaxed)},
         {"mode", st.mode()},
         {"queues", st.queues},
         {"rx_descriptors", st.rxDesc},
         {"tx_descriptors", st.txDesc},
         {"rss", {{"hash", hash}, {"key_bytes", st.rssKeyLen}, {"reta_size", st.retaSize}}},
         {"flow_rules", st.flows.size()},
         {"note", st.note},
         {"rx", s.ipackets},
         {"tx", s.opackets},
         {"tx_dropped", s.oerrors},  // the name the status table always read
         {"imissed", s.imissed},
         {"ierrors", s.ierrors},
         {"rx_nombuf", s.rx_nombuf},
         {"oerrors", s.oerrors},
         {"rx_queues", rxQueues}});
  }
  return out;
}

void Dataplane::configureKernelSide() {
  // Each uplink's node address (and address6) lives on its TAP. Replies sourced from it (BGP,
  // ping, probes) leave through that TAP by a policy rule, without touching the main routing
  // table.
  for (size_t i = 0; i < uplinks_.size(); ++i) {
    const auto& u = cfg_.uplinks[i];
    const auto table = std::to_string(100 + i);
    run({"ip", "link", "set", "dev", u.name, "up"});
    run({"ip", "addr", "replace", u.address.str(), "dev", u.name});
    run({"ip", "route", "replace", "default", "via", u.gateway.str(), "dev", u.name, "table",
         table});
    // Idempotent across restarts: remove a rule a previous run left (absent is fine).
    runCommand({"ip", "rule", "del", "from", u.address.addr.str(), "table", table});
    run({"ip", "rule", "add", "from", u.address.addr.str(), "table", table, "priority",
         std::to_string(1000 + i)});
    if (!u.address6 || !u.gateway6) continue;
    // Dual stack: the same for address6 (nodad: the address is the node's by configuration,
    // and a tentative address would refuse the first seconds of BGP, probes and pings), in
    // the IPv6 table and rule of the same numbers. The TAP may have been created with IPv6
    // disabled (a namespace whose default disables it).
    run({"sysctl", "-qw", fmt::format("net.ipv6.conf.{}.disable_ipv6=0", u.name)});
    run({"sysctl", "-qw", fmt::format("net.ipv6.conf.{}.accept_ra=0", u.name)});
    run({"ip", "-6", "addr", "replace", u.address6->str(), "dev", u.name, "nodad"});
    run({"ip", "-6", "route", "replace", "default", "via", u.gateway6->str(), "dev", u.name,
         "table", table});
    runCommand({"ip", "-6", "rule", "del", "from", u.address6->addr.str(), "table", table});
    run({"ip", "-6", "rule", "add", "from", u.address6->addr.str(), "table", table, "priority",
         std::to_string(1000 + i)});
  }
}

}  // namespace anylb::dataplane
