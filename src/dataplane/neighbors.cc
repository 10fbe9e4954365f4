#include "dataplane/neighbors.h"

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

bool NeighborTable::learn(uint32_t ipRaw, const uint8_t* mac6, uint64_t nowMs) {
  const int i = find(ipRaw);
  if (i < 0) return false;
  uint64_t mac = 0;
  std::memcpy(&mac, mac6, 6);
  auto& n = entries_[static_cast<size_t>(i)];
  n.mac.store(mac, std::memory_order_relaxed);
  n.lastSeenMs.store(nowMs, std::memory_order_relaxed);
  n.resolved.store(true, std::memory_order_release);
  return true;
}

std::string macString(uint64_t mac) {
  uint8_t b[8];
  std::memcpy(b, &mac, 8);
  char s[18];
  std::snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return s;
}

}  // namespace anylb::dataplane
