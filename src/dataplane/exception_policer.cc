#include "dataplane/exception_policer.h"

#include <algorithm>
#include <cstring>

namespace anylb::dataplane {

namespace {

constexpr size_t kEtherLen = 14;
constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherArp = 0x0806;
constexpr uint16_t kEtherIpv6 = 0x86DD;
constexpr uint8_t kProtoIcmp6 = 58;
constexpr size_t kIp6Len = 40;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint16_t kBgpPort = 179;
constexpr uint16_t kBfdSingleHopPort = 3784;  // RFC 5881
constexpr uint16_t kBfdMultiHopPort = 4784;   // RFC 5883
constexpr uint8_t kBfdSingleHopTtl = 255;     // RFC 5881 5: GTSM, drop anything else

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

}  // namespace

const char* toString(ExceptionClass c) {
  switch (c) {
    case ExceptionClass::kPeerControl:
      return "peer_control";
    case ExceptionClass::kRealServer:
      return "real_server";
    case ExceptionClass::kArpIcmp:
      return "arp_icmp";
    case ExceptionClass::kOther:
    case ExceptionClass::kCount:
      break;
  }
  return "other";
}

TokenBucket::TokenBucket(uint32_t packetsPerSecond, uint32_t burst, uint64_t nowMs)
    : tokens_(uint64_t{burst} * kScale),
      capacity_(uint64_t{burst} * kScale),
      lastMs_(nowMs),
      rate_(packetsPerSecond) {}

bool TokenBucket::take(uint64_t nowMs) {
  if (nowMs > lastMs_) {
    const uint64_t elapsed = nowMs - lastMs_;
    // `rate_` scaled units per ms. Past the time that fills an empty bucket the product is not
    // needed (and could overflow after a long idle spell or a clock jump).
    if (rate_ == 0) {
      // no refill
    } else if (elapsed > capacity_ / rate_) {
      tokens_ = capacity_;
    } else {
      tokens_ = std::min(capacity_, tokens_ + rate_ * elapsed);
    }
    lastMs_ = nowMs;
  } else if (nowMs < lastMs_) {
    lastMs_ = nowMs;  // the clock went back: refill from here, keep what is in the bucket
  }
  if (tokens_ < kScale) return false;
  tokens_ -= kScale;
  return true;
}

ExceptionPolicer::ExceptionPolicer(const ExceptionPolicerConfig& cfg, uint64_t nowMs)
    : enabled_(cfg.enabled),
      peers_(cfg.peers),
      peerCount_(std::min(cfg.peerCount, ExceptionPolicerConfig::kMaxPeers)),
      realServers_(cfg.realServersRaw),
      realServerCount_(std::min(cfg.realServerCount, ExceptionPolicerConfig::kMaxRealServers)),
      realServer_(cfg.realServer.packetsPerSecond, cfg.realServer.burst, nowMs),
      arpIcmp_(cfg.arpIcmp.packetsPerSecond, cfg.arpIcmp.burst, nowMs),
      other_(cfg.other.packetsPerSecond, cfg.other.burst, nowMs) {
  // IPv6 peers share the kMaxPeers buckets after the IPv4 ones.
  peer6Count_ = std::min(cfg.peer6Count, ExceptionPolicerConfig::kMaxPeers - peerCount_);
  std::copy_n(cfg.peers6.begin(), peer6Count_, peers6_.begin());
  for (size_t i = 0; i < peerCount_ + peer6Count_; ++i) {
    peerBuckets_[i] = TokenBucket(cfg.peer.packetsPerSecond, cfg.peer.burst, nowMs);
  }
  // Sorted for a binary search per packet (12 steps at 4096 servers, no allocation).
  std::sort(realServers_.begin(), realServers_.begin() + static_cast<ptrdiff_t>(realServerCount_));
  realServer6Count_ = std::min(cfg.realServer6Count, ExceptionPolicerConfig::kMaxRealServers);
  std::copy_n(cfg.realServers6.begin(), realServer6Count_, realServers6_.begin());
  std::sort(realServers6_.begin(),
            realServers6_.begin() + static_cast<ptrdiff_t>(realServer6Count_));
}

ExceptionClass ExceptionPolicer::classify6(std::span<const uint8_t> frame, size_t& peer) const {
  if (frame.size() < kEtherLen + kIp6Len) return ExceptionClass::kOther;
  const uint8_t* ip = frame.data() + kEtherLen;
  const uint8_t next = ip[6];
  if (next == kProtoIcmp6) return ExceptionClass::kArpIcmp;
  ExceptionPolicerConfig::Addr6 src;
  std::memcpy(src.data(), ip + 8, 16);
  const auto* rsEnd = realServers6_.begin() + static_cast<ptrdiff_t>(realServer6Count_);
  const bool fromRealServer = std::binary_search(realServers6_.begin(), rsEnd, src);
  if ((next != kProtoTcp && next != kProtoUdp) || frame.size() < kEtherLen + kIp6Len + 4) {
    return fromRealServer ? ExceptionClass::kRealServer : ExceptionClass::kOther;
  }
  const uint8_t* l4 = ip + kIp6Len;
  const uint16_t sport = be16(l4);
  const uint16_t dport = be16(l4 + 2);
  bool control = false;
  if (next == kProtoTcp) {
    control = sport == kBgpPort || dport == kBgpPort;
  } else {
    // Single-hop BFD over IPv6: hop limit 255 (RFC 5881 5), as TTL 255 for IPv4.
    control =
        (dport == kBfdSingleHopPort && ip[7] == kBfdSingleHopTtl) || dport == kBfdMultiHopPort;
  }
  for (size_t i = 0; control && i < peer6Count_; ++i) {
    if (std::memcmp(peers6_[i].peer.data(), ip + 8, 16) == 0 &&
        std::memcmp(peers6_[i].local.data(), ip + 24, 16) == 0) {
      peer = peerCount_ + i;
      return ExceptionClass::kPeerControl;
    }
  }
  return fromRealServer ? ExceptionClass::kRealServer : ExceptionClass::kOther;
}

ExceptionClass ExceptionPolicer::classify(std::span<const uint8_t> frame, size_t& peer) const {
  if (frame.size() < kEtherLen) return ExceptionClass::kOther;
  const uint8_t* d = frame.data();
  const uint16_t etherType = be16(d + 12);
  if (etherType == kEtherArp) return ExceptionClass::kArpIcmp;
  if (etherType == kEtherIpv6) return classify6(frame, peer);
  if (etherType != kEtherIpv4 || frame.size() < kEtherLen + 20) return ExceptionClass::kOther;
  const uint8_t* ip = d + kEtherLen;
  const size_t ihl = (ip[0] & 0x0FU) * 4U;
  const uint8_t proto = ip[9];
  if (proto == kProtoIcmp) return ExceptionClass::kArpIcmp;
  uint32_t src = 0;
  uint32_t dst = 0;
  std::memcpy(&src, ip + 12, 4);
  std::memcpy(&dst, ip + 16, 4);
  const auto* rsEnd = realServers_.begin() + static_cast<ptrdiff_t>(realServerCount_);
  const bool fromRealServer = std::binary_search(realServers_.begin(), rsEnd, src);
  if ((proto != kProtoTcp && proto != kProtoUdp) || frame.size() < kEtherLen + ihl + 4) {
    return fromRealServer ? ExceptionClass::kRealServer : ExceptionClass::kOther;
  }
  const uint8_t* l4 = ip + ihl;
  const uint16_t sport = be16(l4);
  const uint16_t dport = be16(l4 + 2);
  bool control = false;
  if (proto == kProtoTcp) {
    control = sport == kBgpPort || dport == kBgpPort;
  } else {
    control =
        (dport == kBfdSingleHopPort && ip[8] == kBfdSingleHopTtl) || dport == kBfdMultiHopPort;
  }
  for (size_t i = 0; i < peerCount_; ++i) {
    const bool sync = proto == kProtoUdp && peers_[i].syncPort != 0 && dport == peers_[i].syncPort;
    if ((control || sync) && peers_[i].peerRaw == src && peers_[i].localRaw == dst) {
      peer = i;
      return ExceptionClass::kPeerControl;
    }
  }
  return fromRealServer ? ExceptionClass::kRealServer : ExceptionClass::kOther;
}

ExceptionPolicer::Decision ExceptionPolicer::admit(std::span<const uint8_t> frame, uint64_t nowMs) {
  size_t peer = 0;
  const ExceptionClass cls = classify(frame, peer);
  if (!enabled_) return {cls, true};
  switch (cls) {
    case ExceptionClass::kPeerControl:
      return {cls, peerBuckets_[peer].take(nowMs)};
    case ExceptionClass::kRealServer:
      return {cls, realServer_.take(nowMs)};
    case ExceptionClass::kArpIcmp:
      return {cls, arpIcmp_.take(nowMs)};
    case ExceptionClass::kOther:
    case ExceptionClass::kCount:
      break;
  }
  return {ExceptionClass::kOther, other_.take(nowMs)};
}

}  // namespace anylb::dataplane
