#include "dataplane/neighbors.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace anylb::dataplane {

int NeighborTable::add(uint32_t ipRaw, uint16_t uplink) {
  if (const int i = find(ipRaw); i >= 0) return i;
  if (size_ == entries_.size()) return -1;
  entries_[size_].ipRaw = ipRaw;
  entries_[size_].uplink = uplink;
  return static_cast<int>(size_++);
}

int NeighborTable::add6(const std::array<uint8_t, 16>& ip6, uint16_t uplink) {
  if (const int i = find6(ip6.data()); i >= 0) return i;
  if (size_ == entries_.size()) return -1;
  entries_[size_].ip6 = ip6;
  entries_[size_].v6 = true;
  entries_[size_].uplink = uplink;
  return static_cast<int>(size_++);
}

void NeighborTable::store(Neighbor& n, const uint8_t* mac6, uint64_t nowMs) {
  uint64_t mac = 0;
  std::memcpy(&mac, mac6, 6);
  n.mac.store(mac, std::memory_order_relaxed);
  n.lastSeenMs.store(nowMs, std::memory_order_relaxed);
  n.resolved.store(true, std::memory_order_release);
}

bool NeighborTable::learn(uint32_t ipRaw, const uint8_t* mac6, uint64_t nowMs) {
  const int i = find(ipRaw);
  if (i < 0) return false;
  store(entries_[static_cast<size_t>(i)], mac6, nowMs);
  return true;
}

bool NeighborTable::learn6(const uint8_t* ip6, const uint8_t* mac6, uint64_t nowMs) {
  const int i = find6(ip6);
  if (i < 0) return false;
  store(entries_[static_cast<size_t>(i)], mac6, nowMs);
  return true;
}

std::string NeighborTable::addressString(size_t i) const {
  const auto& n = entries_[i];
  char s[INET6_ADDRSTRLEN] = {};
  if (n.v6) {
    inet_ntop(AF_INET6, n.ip6.data(), s, sizeof(s));
  } else {
    inet_ntop(AF_INET, &n.ipRaw, s, sizeof(s));
  }
  return s;
}

std::string macString(uint64_t mac) {
  uint8_t b[8];
  std::memcpy(b, &mac, 8);
  char s[18];
  std::snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return s;
}

}  // namespace anylb::dataplane
