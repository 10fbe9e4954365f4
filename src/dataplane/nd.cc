#include "dataplane/nd.h"

#include <algorithm>
#include <cstring>

namespace anylb::dataplane::nd {

namespace {

constexpr size_t kEtherLen = 14;
constexpr size_t kIp6Len = 40;
constexpr size_t kNdLen = 24;  // type, code, checksum, flags/reserved, target address
constexpr uint8_t kOptSourceLl = 1;
constexpr uint8_t kOptTargetLl = 2;
constexpr uint8_t kFlagSolicited = 0x40;  // NA flags byte: R S O

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

// One's-complement sum of 16-bit big-endian words (an odd last byte padded with zero).
uint32_t sum16(const uint8_t* p, size_t len, uint32_t acc) {
  for (size_t i = 0; i + 1 < len; i += 2) acc += be16(p + i);
  if ((len & 1U) != 0) acc += static_cast<uint32_t>(p[len - 1]) << 8;
  return acc;
}

bool isUnspecified(const Addr6& a) {
  return std::all_of(a.begin(), a.end(), [](uint8_t b) { return b == 0; });
}

}  // namespace

Addr6 solicitedNode(const Addr6& target) {
  Addr6 g{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0, 0, 0};
  std::memcpy(g.data() + 13, target.data() + 13, 3);
  return g;
}

uint16_t icmp6Checksum(const Addr6& src, const Addr6& dst, const uint8_t* icmp, size_t len) {
  uint32_t acc = sum16(src.data(), 16, 0);
  acc = sum16(dst.data(), 16, acc);
  acc += static_cast<uint32_t>(len >> 16) + static_cast<uint32_t>(len & 0xFFFFU);
  acc += kNextHeaderIcmp6;
  acc = sum16(icmp, len, acc);
  while ((acc >> 16) != 0) acc = (acc & 0xFFFFU) + (acc >> 16);
  return static_cast<uint16_t>(~acc & 0xFFFFU);
}

size_t buildSolicit(std::span<uint8_t> out, const uint8_t* mac6, const Addr6& source,
                    const Addr6& target) {
  if (out.size() < kSolicitFrameLen) return 0;
  uint8_t* f = out.data();
  std::memset(f, 0, kSolicitFrameLen);
  const Addr6 group = solicitedNode(target);
  // Ethernet: 33:33 + the low 32 bits of the group (RFC 2464 7).
  f[0] = 0x33;
  f[1] = 0x33;
  std::memcpy(f + 2, group.data() + 12, 4);
  std::memcpy(f + 6, mac6, 6);
  f[12] = kEtherIpv6 >> 8;
  f[13] = kEtherIpv6 & 0xFF;
  uint8_t* ip = f + kEtherLen;
  ip[0] = 0x60;  // version 6, traffic class 0, flow label 0
  constexpr uint16_t kPayload = kNdLen + 8;
  ip[4] = kPayload >> 8;
  ip[5] = kPayload & 0xFF;
  ip[6] = kNextHeaderIcmp6;
  ip[7] = kHopLimit;
  std::memcpy(ip + 8, source.data(), 16);
  std::memcpy(ip + 24, group.data(), 16);
  uint8_t* icmp = ip + kIp6Len;
  icmp[0] = kTypeSolicit;
  std::memcpy(icmp + 8, target.data(), 16);
  icmp[24] = kOptSourceLl;
  icmp[25] = 1;  // in units of 8 bytes
  std::memcpy(icmp + 26, mac6, 6);
  const uint16_t c = icmp6Checksum(source, group, icmp, kPayload);
  icmp[2] = static_cast<uint8_t>(c >> 8);
  icmp[3] = static_cast<uint8_t>(c & 0xFF);
  return kSolicitFrameLen;
}

NdResult parseNd(std::span<const uint8_t> frame, NdBinding& out) {
  if (frame.size() < kEtherLen + kIp6Len + 1) return NdResult::kNotNd;
  const uint8_t* f = frame.data();
  if (be16(f + 12) != kEtherIpv6) return NdResult::kNotNd;
  const uint8_t* ip = f + kEtherLen;
  if ((ip[0] >> 4) != 6 || ip[6] != kNextHeaderIcmp6) return NdResult::kNotNd;
  const uint8_t* icmp = ip + kIp6Len;
  const uint8_t type = icmp[0];
  if (type != kTypeSolicit && type != kTypeAdvert) return NdResult::kNotNd;
  // From here on it is ND: whatever fails is counted as invalid.
  const size_t payload = be16(ip + 4);
  if (frame.size() < kEtherLen + kIp6Len + payload || payload < kNdLen) return NdResult::kInvalid;
  if (ip[7] != kHopLimit || icmp[1] != 0) return NdResult::kInvalid;
  Addr6 src;
  Addr6 dst;
  Addr6 target;
  std::memcpy(src.data(), ip + 8, 16);
  std::memcpy(dst.data(), ip + 24, 16);
  std::memcpy(target.data(), icmp + 8, 16);
  if (icmp6Checksum(src, dst, icmp, payload) != 0) return NdResult::kInvalid;
  if (target[0] == 0xff) return NdResult::kInvalid;  // multicast target
  const bool dstMulticast = dst[0] == 0xff;
  if (type == kTypeAdvert && dstMulticast && (icmp[4] & kFlagSolicited) != 0) {
    return NdResult::kInvalid;
  }
  // Options: type, length in 8-byte units (0 is invalid: it would never advance).
  const uint8_t wantOpt = type == kTypeAdvert ? kOptTargetLl : kOptSourceLl;
  const uint8_t* ll = nullptr;
  for (size_t at = kNdLen; at < payload;) {
    if (payload - at < 2) return NdResult::kInvalid;
    const size_t len = size_t{icmp[at + 1]} * 8;
    if (len == 0 || len > payload - at) return NdResult::kInvalid;
    // An Ethernet link-layer address option is exactly 8 bytes (RFC 2464 6); a longer one is
    // for another link type: not ours to use.
    if (icmp[at] == wantOpt && len == 8 && ll == nullptr) ll = icmp + at + 2;
    at += len;
  }
  if (type == kTypeSolicit) {
    if (isUnspecified(src)) {
      // DAD (RFC 4861 7.1.1): to a solicited-node group and without a source LL option.
      if (!dstMulticast || ll != nullptr) return NdResult::kInvalid;
      return NdResult::kNoBinding;
    }
    if (ll == nullptr) return NdResult::kNoBinding;
    out.addr = src;
  } else {
    if (ll == nullptr) return NdResult::kNoBinding;
    out.addr = target;
  }
  std::memcpy(out.mac.data(), ll, 6);
  return NdResult::kLearn;
}

}  // namespace anylb::dataplane::nd
