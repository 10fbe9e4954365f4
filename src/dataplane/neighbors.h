// Next hops of the dataplane (the ToR gateways): their MAC addresses, learned from ARP.
//
// The set of neighbours is fixed at start (every uplink's gateway). Workers read a neighbour's
// MAC with one atomic load on the packet path and update it when they see its ARP (any worker
// may learn; last writer wins, all write the same MAC). The control thread sends the ARP
// requests and watches ages. No locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace anylb::dataplane {

struct alignas(64) Neighbor {
  uint32_t ipRaw = 0;  // network order
  uint16_t uplink = 0;
  std::atomic<uint64_t> mac{0};         // 48-bit MAC in the low bytes (memcpy order); 0 = none
  std::atomic<uint64_t> lastSeenMs{0};  // last ARP from it (dataplane clock)
  std::atomic<bool> resolved{false};
};

class NeighborTable {
 public:
  explicit NeighborTable(size_t capacity) : entries_(capacity) {}
  // Control thread, before workers start.
  int add(uint32_t ipRaw, uint16_t uplink);
  // Workers: neighbour index for an address, or -1 (linear: a handful of gateways).
  [[nodiscard]] int find(uint32_t ipRaw) const {
    for (size_t i = 0; i < size_; ++i) {
      if (entries_[i].ipRaw == ipRaw) return static_cast<int>(i);
    }
    return -1;
  }
  Neighbor& at(size_t i) { return entries_[i]; }
  [[nodiscard]] const Neighbor& at(size_t i) const { return entries_[i]; }
  [[nodiscard]] size_t size() const { return size_; }
  // Worker: record an ARP seen from ipRaw with this MAC. Returns true if it was a neighbour.
  bool learn(uint32_t ipRaw, const uint8_t* mac6, uint64_t nowMs);

 private:
  std::vector<Neighbor> entries_;
  size_t size_ = 0;
};

std::string macString(uint64_t mac);

}  // namespace anylb::dataplane
