// Port set-up: uplink ports, their TAP exception ports and the kernel side of the exception
// path (control thread, at start). Moved out of dataplane.cc unchanged.
#include "dataplane/ports.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <rte_bus_vdev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "common/process.h"
#include "dataplane/dataplane.h"

namespace anylb::dataplane {

namespace {
constexpr uint16_t kRxDesc = 512;
constexpr uint16_t kTxDesc = 512;
constexpr unsigned kRedirectRing = 4096;

uint32_t rawOf(const IpAddr& a) {
  uint32_t v;
  std::memcpy(&v, a.bytes.data(), 4);
  return v;
}

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

std::string configurePort(uint16_t port, uint16_t queues, uint16_t mtu,
                          const std::vector<rte_mempool*>& pools) {
  rte_eth_dev_info info{};
  if (rte_eth_dev_info_get(port, &info) != 0) return "cannot read device info";
  if (info.max_rx_queues < queues || info.max_tx_queues < queues) {
    return fmt::format(
        "has {} RX / {} TX queues, {} workers need {} (for net_af_packet set "
        "qpairs={})",
        info.max_rx_queues, info.max_tx_queues, queues, queues, queues);
  }
  rte_eth_conf conf{};
  if (int rc = rte_eth_dev_configure(port, queues, queues, &conf); rc != 0) {
    return fmt::format("configure: {}", rte_strerror(-rc));
  }
  rte_eth_dev_set_mtu(port, mtu);  // best effort: af_packet follows the interface's MTU
  for (uint16_t q = 0; q < queues; ++q) {
    const int socket = rte_eth_dev_socket_id(port);
    if (int rc = rte_eth_rx_queue_setup(port, q, kRxDesc, socket, nullptr, pools[q]); rc != 0) {
      return fmt::format("RX queue {}: {}", q, rte_strerror(-rc));
    }
    if (int rc = rte_eth_tx_queue_setup(port, q, kTxDesc, socket, nullptr); rc != 0) {
      return fmt::format("TX queue {}: {}", q, rte_strerror(-rc));
    }
  }
  if (int rc = rte_eth_dev_start(port); rc != 0) return fmt::format("start: {}", rte_strerror(-rc));
  rte_eth_promiscuous_enable(port);
  return {};
}

std::string Dataplane::initPorts() {
  for (uint16_t w = 0; w < workers_; ++w) {
    const auto name = fmt::format("anylb_w{}", w);
    const unsigned n = std::max<unsigned>(cfg_.dataplane.mbufsPerPort, 4096);
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
    auto rt = std::make_unique<UplinkRt>();
    rt->name = u.name;
    rt->addrRaw = rawOf(u.address.addr);
    rt->netRaw = rawOf(u.address.network());
    rt->maskRaw = u.address.len == 0 ? 0 : htonl(~uint32_t{0} << (32 - u.address.len));
    const auto pname = portName(*port);
    if (rte_eth_dev_get_port_by_name(pname.c_str(), &rt->port) != 0) {
      return fmt::format("uplink {}: port {} ({}) not found; is the device present?", u.name,
                         port->name, port->device);
    }
    if (auto err = configurePort(rt->port, workers_, port->mtu, pools_); !err.empty()) {
      return fmt::format("uplink {}: port {} {}", u.name, port->name, err);
    }
    rte_ether_addr mac{};
    rte_eth_macaddr_get(rt->port, &mac);
    std::memcpy(&rt->mac, mac.addr_bytes, 6);
    rt->gateway = neighbors_.add(rawOf(u.gateway), static_cast<uint16_t>(i));
    rt->portName = port->name;
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
    }
    if (auto err = initTap(*rt, i); !err.empty()) return err;
    uplinks_.push_back(std::move(rt));
  }
  // Static routes: their next hops become neighbours on the uplink that reaches them.
  auto routes = cfg_.dataplane.routes;
  std::stable_sort(
      routes.begin(), routes.end(),
      [](const config::Route& a, const config::Route& b) { return a.prefix.len > b.prefix.len; });
  for (const auto& r : routes) {
    for (size_t i = 0; i < cfg_.uplinks.size(); ++i) {
      if (!cfg_.uplinks[i].address.contains(r.via)) continue;
      const int nh = neighbors_.add(rawOf(r.via), static_cast<uint16_t>(i));
      if (nh < 0) return "too many static route next hops";
      const uint32_t mask = r.prefix.len == 0 ? 0 : htonl(~uint32_t{0} << (32 - r.prefix.len));
      routes_.push_back(StaticRoute{rawOf(r.prefix.network()), mask, nh});
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
  if (auto err = configurePort(u.tap, workers_, 1500, pools_); !err.empty()) {
    return fmt::format("uplink {}: TAP {}", u.name, err);
  }
  return {};
}

void Dataplane::configureKernelSide() {
  // Each uplink's node address lives on its TAP. Replies sourced from it (BGP, ping, probes)
  // leave through that TAP by a policy rule, without touching the main routing table.
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
  }
}

}  // namespace anylb::dataplane
