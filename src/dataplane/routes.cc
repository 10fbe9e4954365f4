#include "dataplane/routes.h"

#include <arpa/inet.h>

#include <algorithm>

namespace anylb::dataplane {

void RouteTable::addRoute(uint32_t netRaw, uint8_t len, int neighbor) {
  const uint32_t mask = len == 0 ? 0 : htonl(~uint32_t{0} << (32 - len));
  const auto at =
      std::find_if(routes_.begin(), routes_.end(), [&](const Route4& r) { return r.len < len; });
  routes_.insert(at, Route4{netRaw & mask, mask, len, neighbor});
}

void RouteTable::addRoute6(const Addr6& net, uint8_t len, int neighbor) {
  const auto at =
      std::find_if(routes6_.begin(), routes6_.end(), [&](const Route6& r) { return r.len < len; });
  routes6_.insert(at, Route6{net, len, neighbor});
}

template <typename Hop>
int RouteTable::ecmp(uint32_t flowHash, Hop hop) const {
  int upHops[kMaxEcmp];
  int live[kMaxEcmp];
  unsigned n = 0;
  unsigned nLive = 0;
  for (size_t i = 0; i < uplinks_.size() && n < kMaxEcmp; ++i) {
    const int h = hop(uplinks_[i]);
    if (h < 0 || !up(i)) continue;
    upHops[n++] = h;
    if (neighbors_.at(static_cast<size_t>(h)).resolved.load(std::memory_order_relaxed)) {
      live[nLive++] = h;
    }
  }
  if (nLive != 0) return live[flowHash % nLive];
  return n == 0 ? -1 : upHops[flowHash % n];
}

int RouteTable::route(uint32_t dstRaw, uint32_t flowHash) const {
  for (const auto& u : uplinks_) {
    if ((dstRaw & u.maskRaw) == u.netRaw) return neighbors_.find(dstRaw);
  }
  for (const auto& r : routes_) {
    if ((dstRaw & r.maskRaw) == r.netRaw && neighborUp(r.neighbor)) return r.neighbor;
  }
  return ecmp(flowHash, [](const Uplink& u) { return u.gateway; });
}

int RouteTable::route6(const uint8_t* dst, uint32_t flowHash) const {
  for (const auto& u : uplinks_) {
    if (u.has6 && prefix6Contains(u.net6, u.len6, dst)) return neighbors_.find6(dst);
  }
  for (const auto& r : routes6_) {
    if (prefix6Contains(r.net, r.len, dst) && neighborUp(r.neighbor)) return r.neighbor;
  }
  return ecmp(flowHash, [](const Uplink& u) { return u.has6 ? u.gateway6 : -1; });
}

}  // namespace anylb::dataplane
