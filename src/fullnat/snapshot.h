// The immutable forwarding snapshot: everything a worker needs to forward, derived from one
// validated config. Built on the control thread (allocates), then only read by workers, so it
// is shared without locks; a new config produces a new snapshot (see docs/architecture.md).
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "common/crc.h"

#include "common/ip.h"
#include "config/config.h"
#include "fullnat/scheduler.h"
#include "session/session.h"

namespace anylb::fullnat {

using session::Addr;

Addr toAddr(const IpAddr& a);

struct RsFwd {
  Addr addr;
  uint16_t portBe = 0;
  uint32_t weight = 0;  // effective: configured, or 0 while quiescent / failed
  uint32_t rsId = 0;    // stable across snapshots (RsRegistry)
  IpAddr ip;            // for the control plane's listings
  // IPVS's connection thresholds for the node (sessions, active + inactive); 0 = none. Each
  // worker enforces ceil(threshold / workers) on its own sessions (Worker::schedule()).
  uint32_t upperThreshold = 0;
  uint32_t lowerThreshold = 0;  // 0: below 3/4 of upperThreshold
};

struct ServiceFwd {
  std::string name;
  uint8_t proto = 0;  // IPPROTO_TCP / IPPROTO_UDP
  uint8_t family = 4;
  Addr vip{};
  uint16_t portBe = 0;
  config::ClientAddress clientAddress = config::ClientAddress::kToa;
  config::SynProxyMode synProxy = config::SynProxyMode::kOff;
  uint32_t persistenceMs = 0;
  // Persistence templates are keyed by the client address masked to this many leading bits
  // (ipvsadm -M): 32 / 128 = the whole address.
  uint8_t persistenceBits = 32;
  config::Scheduler scheduler = config::Scheduler::kWrr;
  bool hashPort = false;       // sh-port / mh-port: the client's port is hashed too
  bool hasThresholds = false;  // some RS has an upper threshold

  std::vector<RsFwd> rs;
  // keepalived's sorry_server (never health-checked): while sorryActive, every new session
  // goes to `sorry` instead of the scheduler's choice; the node decides (daemon/node.cc, from
  // min_healthy and quorum). `sorry` has its own rsId, so its sessions and stats are counted.
  bool hasSorry = false;
  bool sorryActive = false;
  RsFwd sorry;
  SchedulerPlan plan;
  IpAddr vipIp;
  uint16_t port = 0;
};

// Gives every (service, real server) pair a small id that survives reloads, so per-RS counters
// and sessions keep referring to the same server across snapshots. Control thread only.
class RsRegistry {
 public:
  uint32_t idFor(const config::Service& svc, const config::RealServer& rs);
  [[nodiscard]] uint32_t size() const { return next_; }

 private:
  std::map<std::tuple<IpAddr, uint16_t, int, IpAddr, uint16_t>, uint32_t> ids_;
  uint32_t next_ = 0;
};

struct Timeouts {
  uint32_t ms[session::kTcpStateCount];  // per TCP state; [kNone] unused
  uint32_t udpMs;
};

class Snapshot {
 public:
  // `weights` overrides per rsId (health checks); absent ids use the configured weight.
  // `sorryActive`: per service of cfg (absent = false), the services whose new sessions go to
  // their sorry server.
  static std::shared_ptr<const Snapshot> build(const config::Config& cfg, uint64_t generation,
                                               uint32_t workers, RsRegistry& registry,
                                               const std::map<uint32_t, uint32_t>& weights = {},
                                               const std::vector<bool>& sorryActive = {});

  [[nodiscard]] uint64_t generation() const { return generation_; }
  [[nodiscard]] uint32_t workers() const { return workers_; }
  [[nodiscard]] const std::vector<ServiceFwd>& services() const { return services_; }
  [[nodiscard]] const ServiceFwd& service(uint32_t i) const { return services_[i]; }
  // Service index for (proto, VIP, port), or -1. VIP given as raw IPv4 or full address.
  [[nodiscard]] int32_t findService(uint8_t proto, const Addr& vip, uint16_t portBe) const;
  // IPv4 fast path: one CRC and one compare per probe.
  [[nodiscard]] int32_t findService4(uint8_t proto, uint32_t vipRaw, uint16_t portBe) const {
    const uint64_t key = service4Key(proto, vipRaw, portBe);
    const size_t mask = service4_.size() - 1;
    for (size_t b = crc64(key, 0) & mask;; b = (b + 1) & mask) {
      const auto& e = service4_[b];
      if (e.key == key) return e.index;
      if (e.index < 0) return -1;
    }
  }
  [[nodiscard]] bool isVip(const Addr& a) const;
  // Fast path for IPv4 (raw, network order). With session sync, the peers' LIP prefixes are
  // LIPs here too (replies to sessions held for them); lips() lists only the node's own.
  [[nodiscard]] bool isLip4(uint32_t raw) const {
    for (const auto& [net, mask] : lipNets4_) {
      if ((raw & mask) == net) return true;
    }
    return false;
  }
  [[nodiscard]] bool isNodeAddress(const Addr& a) const;
  // IPv6 fast paths (engine6.cc, per packet): 16 address bytes as two masked 64-bit words.
  [[nodiscard]] bool isLip6(const uint8_t* a16) const { return inNets6(lipNets6_, a16); }
  [[nodiscard]] bool isNodeAddress6(const uint8_t* a16) const { return inNets6(nodeNets6_, a16); }
  [[nodiscard]] const std::vector<Addr>& lips(uint8_t family) const {
    return family == 4 ? lips4_ : lips6_;
  }
  // local_addresses.port_min / port_max: the LPORTs new sessions take.
  [[nodiscard]] uint16_t localPortMin() const { return localPortMin_; }
  [[nodiscard]] uint16_t localPortMax() const { return localPortMax_; }
  [[nodiscard]] const Timeouts& timeouts() const { return timeouts_; }
  [[nodiscard]] bool stripClientTimestamps() const { return stripTs_; }
  [[nodiscard]] const config::SynProxy& synProxy() const { return synProxy_; }
  // The MTU of the path toward the real servers (bytes of IP packet): the smallest uplink MTU.
  [[nodiscard]] uint16_t rsPathMtu() const { return rsPathMtu_; }
  [[nodiscard]] uint32_t rsIdLimit() const { return rsIdLimit_; }
  // Where an rsId lives in this snapshot: service and RS index, or service = -1.
  struct RsRef {
    int32_t service = -1;
    int32_t rs = -1;
  };
  [[nodiscard]] RsRef rsRef(uint32_t rsId) const {
    return rsId < rsById_.size() ? rsById_[rsId] : RsRef{};
  }

 private:
  static uint32_t serviceHash(uint8_t proto, const Addr& vip, uint16_t portBe);
  static uint64_t service4Key(uint8_t proto, uint32_t vipRaw, uint16_t portBe) {
    return uint64_t{vipRaw} | uint64_t{portBe} << 32 | uint64_t{proto} << 48 | uint64_t{1} << 56;
  }
  struct Service4 {
    uint64_t key = 0;  // 0: empty (a real key has bit 56 set)
    int32_t index = -1;
  };
  std::vector<Service4> service4_;  // open addressing, power of two, at most half full

  uint64_t generation_ = 0;
  uint32_t workers_ = 1;
  std::vector<ServiceFwd> services_;
  std::vector<int32_t> serviceIndex_;  // open addressing, power-of-two size, -1 empty
  std::vector<Addr> vips_;
  std::vector<std::pair<uint32_t, uint32_t>> lipNets4_;  // (network, mask), raw network order
  struct Net6 {
    uint64_t net[2];  // memcpy order of the address bytes, host bits zero
    uint64_t mask[2];
  };
  static Net6 net6(const Addr& a, unsigned len);
  static bool inNets6(const std::vector<Net6>& nets, const uint8_t* a16) {
    uint64_t w[2];
    std::memcpy(w, a16, 16);
    for (const auto& n : nets) {
      if ((w[0] & n.mask[0]) == n.net[0] && (w[1] & n.mask[1]) == n.net[1]) return true;
    }
    return false;
  }
  std::vector<Net6> lipNets6_;
  std::vector<Net6> nodeNets6_;  // node addresses (/128)
  std::vector<Addr> lips4_;
  std::vector<Addr> lips6_;
  std::vector<Addr> nodeAddrs_;
  Timeouts timeouts_{};
  bool stripTs_ = true;
  config::SynProxy synProxy_;
  uint16_t rsPathMtu_ = UINT16_MAX;
  uint16_t localPortMin_ = 1024;
  uint16_t localPortMax_ = 65535;
  uint32_t rsIdLimit_ = 0;
  std::vector<RsRef> rsById_;
};

}  // namespace anylb::fullnat
