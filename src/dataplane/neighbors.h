// Next hops of the dataplane (the ToR gateways): their MAC addresses, learned from ARP (IPv4)
// and Neighbor Discovery (IPv6). One table for both families: an entry is either an IPv4
// neighbour (ipRaw) or an IPv6 one (ip6), and the index is what routes and pending queues use.
//
// The set of neighbours is fixed at start (every uplink's gateway and gateway6, the static
// routes' next hops). Workers read a neighbour's MAC with one atomic load on the packet path
// and update it when they see its ARP or NA/NS (any worker may learn; last writer wins, all
// write the same MAC). The control thread sends the ARP requests and Neighbor Solicitations
// and watches ages. No locks.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace anylb::dataplane {

struct alignas(64) Neighbor {
  uint32_t ipRaw = 0;             // network order (IPv4 entries)
  std::array<uint8_t, 16> ip6{};  // network order (IPv6 entries)
  bool v6 = false;
  uint16_t uplink = 0;
  std::atomic<uint64_t> mac{0};         // 48-bit MAC in the low bytes (memcpy order); 0 = none
  std::atomic<uint64_t> lastSeenMs{0};  // last ARP / NA from it (dataplane clock)
  std::atomic<bool> resolved{false};
};

class NeighborTable {
 public:
  explicit NeighborTable(size_t capacity) : entries_(capacity) {}
  // Control thread, before workers start.
  // Both return the neighbour's index (the existing one for an address added twice), or -1
  // when the table is full.
  int add(uint32_t ipRaw, uint16_t uplink);
  int add6(const std::array<uint8_t, 16>& ip6, uint16_t uplink);
  // Workers: neighbour index for an address, or -1 (linear: a handful of gateways).
  [[nodiscard]] int find(uint32_t ipRaw) const {
    for (size_t i = 0; i < size_; ++i) {
      if (!entries_[i].v6 && entries_[i].ipRaw == ipRaw) return static_cast<int>(i);
    }
    return -1;
  }
  // ip6: 16 bytes, network order.
  [[nodiscard]] int find6(const uint8_t* ip6) const {
    for (size_t i = 0; i < size_; ++i) {
      if (entries_[i].v6 && std::memcmp(entries_[i].ip6.data(), ip6, 16) == 0) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }
  Neighbor& at(size_t i) { return entries_[i]; }
  [[nodiscard]] const Neighbor& at(size_t i) const { return entries_[i]; }
  [[nodiscard]] size_t size() const { return size_; }
  // Worker: record an ARP seen from ipRaw with this MAC. Returns true if it was a neighbour.
  bool learn(uint32_t ipRaw, const uint8_t* mac6, uint64_t nowMs);
  // Worker: the same for a Neighbor Advertisement (or Solicitation) binding ip6 to mac6.
  bool learn6(const uint8_t* ip6, const uint8_t* mac6, uint64_t nowMs);
  // The neighbour's address as text ("10.1.1.1", "fd00:1:1::1").
  [[nodiscard]] std::string addressString(size_t i) const;

 private:
  void store(Neighbor& n, const uint8_t* mac6, uint64_t nowMs);

  std::vector<Neighbor> entries_;
  size_t size_ = 0;
};

std::string macString(uint64_t mac);

// Is the IPv6 address `a` (16 bytes, network order) inside net/len? Host bits of `net` are
// ignored. The packet path's IPv6 prefix match (connected prefixes, static routes).
inline bool prefix6Contains(const std::array<uint8_t, 16>& net, uint8_t len, const uint8_t* a) {
  const unsigned full = len / 8U;
  if (std::memcmp(net.data(), a, full) != 0) return false;
  const unsigned rest = len % 8U;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xFFU << (8U - rest));
  return ((net[full] ^ a[full]) & mask) == 0;
}

}  // namespace anylb::dataplane
