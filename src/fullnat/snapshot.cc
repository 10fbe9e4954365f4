#include "fullnat/snapshot.h"

#include <netinet/in.h>
#include <rte_byteorder.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace anylb::fullnat {

Addr toAddr(const IpAddr& a) {
  Addr out{};
  std::memcpy(out.b, a.bytes.data(), a.isV4() ? 4 : 16);
  return out;
}

uint32_t RsRegistry::idFor(const config::Service& svc, const config::RealServer& rs) {
  const auto key =
      std::make_tuple(svc.vip, svc.port, static_cast<int>(svc.protocol), rs.address, rs.port);
  auto [it, inserted] = ids_.emplace(key, next_);
  if (inserted) ++next_;
  return it->second;
}

uint32_t Snapshot::serviceHash(uint8_t proto, const Addr& vip, uint16_t portBe) {
  uint64_t w[2];
  std::memcpy(w, vip.b, 16);
  uint32_t h = crc64(w[0], proto);
  h = crc64(w[1], h);
  return crc32(portBe, h);
}

std::shared_ptr<const Snapshot> Snapshot::build(const config::Config& cfg, uint64_t generation,
                                                uint32_t workers, RsRegistry& registry,
                                                const std::map<uint32_t, uint32_t>& weights,
                                                const std::vector<bool>& sorryActive) {
  auto s = std::make_shared<Snapshot>();
  s->generation_ = generation;
  s->workers_ = workers;
  s->stripTs_ = cfg.dataplane.stripClientTimestamps;
  s->synProxy_ = cfg.dataplane.synProxy;
  const auto& t = cfg.dataplane.timeouts;
  auto ms = [](uint32_t sec) { return sec * 1000U; };
  using session::TcpState;
  s->timeouts_.ms[static_cast<unsigned>(TcpState::kNone)] = ms(t.udp);
  s->timeouts_.ms[static_cast<unsigned>(TcpState::kSynRecv)] = ms(t.tcpSynRecv);
  s->timeouts_.ms[static_cast<unsigned>(TcpState::kEstablished)] = ms(t.tcpEstablished);
  s->timeouts_.ms[static_cast<unsigned>(TcpState::kFinWait)] = ms(t.tcpFinWait);
  s->timeouts_.ms[static_cast<unsigned>(TcpState::kCloseWait)] = ms(t.tcpCloseWait);
  s->timeouts_.ms[static_cast<unsigned>(TcpState::kLastAck)] = ms(t.tcpLastAck);
  s->timeouts_.ms[static_cast<unsigned>(TcpState::kTimeWait)] = ms(t.tcpTimeWait);
  s->timeouts_.ms[static_cast<unsigned>(TcpState::kClose)] = ms(t.tcpClose);
  s->timeouts_.udpMs = ms(t.udp);

  s->localPortMin_ = cfg.localPortMin;
  s->localPortMax_ = cfg.localPortMax;
  for (const auto& p : cfg.localAddresses) {
    if (p.addr.isV4()) {
      const uint32_t mask = p.len == 0 ? 0 : rte_cpu_to_be_32(~uint32_t{0} << (32 - p.len));
      s->lipNets4_.emplace_back(toAddr(p.network()).v4Raw(), mask);
    }
    if (!p.addr.isV4()) s->lipNets6_.push_back(net6(toAddr(p.network()), p.len));
    auto& list = p.addr.isV4() ? s->lips4_ : s->lips6_;
    const uint64_t n = std::min(p.size(), config::kMaxLipsPerPrefix);
    for (uint64_t i = 0; i < n; ++i) list.push_back(toAddr(p.at(i)));
  }
  // Session sync: replies to a peer's LIP reach this node when the peer is gone (the backup
  // routes); they are the reply direction of the peer's sessions held here. Never allocated
  // from: they stay out of lips4_/lips6_.
  if (cfg.sync.enabled) {
    for (const auto& peer : cfg.sync.peers) {
      for (const auto& p : peer.lipPrefixes) {
        if (p.addr.isV4()) {
          const uint32_t mask = p.len == 0 ? 0 : rte_cpu_to_be_32(~uint32_t{0} << (32 - p.len));
          s->lipNets4_.emplace_back(toAddr(p.network()).v4Raw(), mask);
        } else {
          s->lipNets6_.push_back(net6(toAddr(p.network()), p.len));
        }
      }
    }
  }
  for (const auto& u : cfg.uplinks) {
    s->nodeAddrs_.push_back(toAddr(u.address.addr));
    if (u.address6) {
      s->nodeAddrs_.push_back(toAddr(u.address6->addr));
      s->nodeNets6_.push_back(net6(toAddr(u.address6->addr), 128));
    }
    // Real servers are reached through the uplinks: the smallest uplink MTU bounds every
    // packet sent toward them (one value, not per route: conservative and cheap).
    for (const auto& port : cfg.dataplane.ports) {
      if (port.name == u.port) s->rsPathMtu_ = std::min(s->rsPathMtu_, port.mtu);
    }
  }

  for (const auto& svc : cfg.services) {
    ServiceFwd f;
    f.name = svc.name;
    f.proto = svc.protocol == config::Protocol::kTcp ? IPPROTO_TCP : IPPROTO_UDP;
    f.family = svc.vip.isV4() ? 4 : 6;
    f.vip = toAddr(svc.vip);
    f.vipIp = svc.vip;
    f.port = svc.port;
    f.portBe = rte_cpu_to_be_16(svc.port);
    f.clientAddress = svc.clientAddress;
    f.synProxy = svc.synProxy;
    f.persistenceMs = svc.persistence * 1000U;
    f.persistenceBits = static_cast<uint8_t>(
        svc.persistencePrefix >= 0 ? svc.persistencePrefix : (svc.vip.isV4() ? 32 : 128));
    f.scheduler = svc.scheduler;
    f.hashPort = svc.hashPort;
    std::vector<SchedTarget> targets;
    for (const auto& rs : svc.realServers) {
      RsFwd r;
      r.addr = toAddr(rs.address);
      r.ip = rs.address;
      r.portBe = rte_cpu_to_be_16(rs.port);
      r.rsId = registry.idFor(svc, rs);
      auto w = weights.find(r.rsId);
      r.weight = w != weights.end() ? w->second : rs.weight;
      r.upperThreshold = rs.upperThreshold;
      r.lowerThreshold = rs.lowerThreshold;
      f.hasThresholds |= rs.upperThreshold != 0;
      // Identity: address and port, so every node builds the same Maglev table.
      uint64_t ident = 0;
      for (auto b : rs.address.bytes) ident = ident * 131 + b;
      ident = ident * 65599 + rs.port;
      targets.push_back(SchedTarget{r.weight, ident});
      f.rs.push_back(r);
    }
    if (svc.sorryServer) {
      // The registry's key is (service, address, port) like a real server's: the validator
      // refuses a sorry server that is also one of the service's real servers.
      config::RealServer sorry;
      sorry.address = svc.sorryServer->addr;
      sorry.port = svc.sorryServer->port;
      f.hasSorry = true;
      f.sorry.addr = toAddr(sorry.address);
      f.sorry.ip = sorry.address;
      f.sorry.portBe = rte_cpu_to_be_16(sorry.port);
      f.sorry.rsId = registry.idFor(svc, sorry);
      f.sorry.weight = 1;
      const size_t i = s->services_.size();
      f.sorryActive = i < sorryActive.size() && sorryActive[i];
    }
    f.plan = SchedulerPlan::build(svc.scheduler, targets, svc.maglevTableSize, svc.hashFallback);
    s->vips_.push_back(f.vip);
    s->services_.push_back(std::move(f));
  }

  const size_t slots = std::bit_ceil(std::max<size_t>(8, s->services_.size() * 4));
  s->serviceIndex_.assign(slots, -1);
  for (size_t i = 0; i < s->services_.size(); ++i) {
    const auto& f = s->services_[i];
    size_t b = serviceHash(f.proto, f.vip, f.portBe) & (slots - 1);
    while (s->serviceIndex_[b] != -1) b = (b + 1) & (slots - 1);
    s->serviceIndex_[b] = static_cast<int32_t>(i);
  }

  s->service4_.assign(slots * 2, Service4{});
  for (size_t i = 0; i < s->services_.size(); ++i) {
    const auto& f = s->services_[i];
    if (f.family != 4) continue;
    const uint64_t key = service4Key(f.proto, f.vip.v4Raw(), f.portBe);
    size_t b = crc64(key, 0) & (s->service4_.size() - 1);
    while (s->service4_[b].index >= 0) b = (b + 1) & (s->service4_.size() - 1);
    s->service4_[b] = Service4{key, static_cast<int32_t>(i)};
  }

  s->rsIdLimit_ = registry.size();
  s->rsById_.assign(s->rsIdLimit_, RsRef{});
  for (size_t i = 0; i < s->services_.size(); ++i) {
    for (size_t j = 0; j < s->services_[i].rs.size(); ++j) {
      s->rsById_[s->services_[i].rs[j].rsId] =
          RsRef{static_cast<int32_t>(i), static_cast<int32_t>(j)};
    }
  }
  return s;
}

int32_t Snapshot::findService(uint8_t proto, const Addr& vip, uint16_t portBe) const {
  const size_t mask = serviceIndex_.size() - 1;
  size_t b = serviceHash(proto, vip, portBe) & mask;
  for (size_t probes = 0; probes <= mask; ++probes) {
    const int32_t i = serviceIndex_[b];
    if (i < 0) return -1;
    const auto& f = services_[static_cast<size_t>(i)];
    if (f.proto == proto && f.portBe == portBe && f.vip == vip) return i;
    b = (b + 1) & mask;
  }
  return -1;
}

bool Snapshot::isVip(const Addr& a) const {
  return std::find(vips_.begin(), vips_.end(), a) != vips_.end();
}

Snapshot::Net6 Snapshot::net6(const Addr& a, unsigned len) {
  uint8_t mask[16] = {};
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned bits = len > i * 8 ? len - i * 8 : 0;
    mask[i] = bits >= 8 ? 0xFF : static_cast<uint8_t>(0xFF00U >> bits);
  }
  Net6 n{};
  std::memcpy(n.mask, mask, 16);
  std::memcpy(n.net, a.b, 16);
  n.net[0] &= n.mask[0];
  n.net[1] &= n.mask[1];
  return n;
}

bool Snapshot::isNodeAddress(const Addr& a) const {
  return std::find(nodeAddrs_.begin(), nodeAddrs_.end(), a) != nodeAddrs_.end();
}

}  // namespace anylb::fullnat
