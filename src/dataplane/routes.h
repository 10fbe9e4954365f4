// The dataplane's routing table for both families: which neighbour (next hop) a forwarded
// packet goes to. Filled by the control thread before the workers start, then read-only;
// workers call route()/route6() per packet (no locks, no allocation; the only shared state
// read is each uplink's link flag and each neighbour's resolved flag, both atomics).
//
// Order, per family: connected (the destination is on an uplink's own prefix: it must be a
// known neighbour itself), the longest static route whose uplink is up, then the default route:
// ECMP per flow over the gateways (IPv4) or gateway6s (IPv6) of the uplinks whose link is up,
// preferring those that answer ARP / Neighbor Discovery. An uplink without address6 carries no
// IPv6. No DPDK: unit-tested alone.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "dataplane/neighbors.h"

namespace anylb::dataplane {

class RouteTable {
 public:
  using Addr6 = std::array<uint8_t, 16>;   // network byte order
  static constexpr unsigned kMaxEcmp = 8;  // uplinks considered for the default route

  struct Uplink {
    uint32_t netRaw = 0;  // connected IPv4 prefix, network order
    uint32_t maskRaw = 0;
    int gateway = -1;  // neighbour index
    bool has6 = false;
    Addr6 net6{};  // connected IPv6 prefix (address6)
    uint8_t len6 = 0;
    int gateway6 = -1;
    const std::atomic<bool>* linkUp = nullptr;  // owned by the caller, outlives the table
  };

  explicit RouteTable(const NeighborTable& neighbors) : neighbors_(neighbors) {}

  // Control thread, before the workers start. Uplinks in config order (index = uplink index,
  // as Neighbor::uplink holds it); static routes in any order (kept longest prefix first).
  void addUplink(const Uplink& u) { uplinks_.push_back(u); }
  void addRoute(uint32_t netRaw, uint8_t len, int neighbor);
  void addRoute6(const Addr6& net, uint8_t len, int neighbor);

  // Workers: the neighbour index for a destination (network order), or -1 (no route).
  [[nodiscard]] int route(uint32_t dstRaw, uint32_t flowHash) const;
  [[nodiscard]] int route6(const uint8_t* dst, uint32_t flowHash) const;

 private:
  [[nodiscard]] bool up(size_t uplink) const {
    return uplinks_[uplink].linkUp->load(std::memory_order_relaxed);
  }
  [[nodiscard]] bool neighborUp(int neighbor) const {
    return up(neighbors_.at(static_cast<size_t>(neighbor)).uplink);
  }
  // ECMP over the up uplinks' next hops `hop(u)` (skipping uplinks where it is < 0),
  // preferring resolved ones; with none resolved an up one is still chosen (packets wait for
  // resolution there).
  template <typename Hop>
  [[nodiscard]] int ecmp(uint32_t flowHash, Hop hop) const;

  struct Route4 {
    uint32_t netRaw;
    uint32_t maskRaw;
    uint8_t len;
    int neighbor;
  };
  struct Route6 {
    Addr6 net;
    uint8_t len;
    int neighbor;
  };
  const NeighborTable& neighbors_;
  std::vector<Uplink> uplinks_;
  std::vector<Route4> routes_;   // longest prefix first
  std::vector<Route6> routes6_;  // longest prefix first
};

}  // namespace anylb::dataplane
