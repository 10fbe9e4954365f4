// IPv6 Neighbor Discovery (RFC 4861) for the dataplane's next hops: building the Neighbor
// Solicitations the control thread sends for each uplink's gateway6, and validating the
// Neighbor Advertisements (and Solicitations carrying a source link-layer address) the workers
// learn the gateways' MACs from. The kernel behind the TAP answers solicitations for the node's
// own addresses; these functions only serve the dataplane's own neighbour cache.
//
// Pure functions over frame bytes (Ethernet + IPv6 + ICMPv6, addresses in network byte order):
// no DPDK, no allocation, so they are unit-tested alone and under the sanitizers. Any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace anylb::dataplane::nd {

using Addr6 = std::array<uint8_t, 16>;  // network byte order

inline constexpr uint16_t kEtherIpv6 = 0x86DD;
inline constexpr uint8_t kNextHeaderIcmp6 = 58;
inline constexpr uint8_t kTypeSolicit = 135;
inline constexpr uint8_t kTypeAdvert = 136;
inline constexpr uint8_t kHopLimit = 255;  // RFC 4861 7.1: anything else came from off-link
// Ethernet (14) + IPv6 (40) + NS (24) + source link-layer address option (8).
inline constexpr size_t kSolicitFrameLen = 86;

// ff02::1:ffXX:XXXX, the solicited-node multicast group of `target` (RFC 4291 2.7.1).
Addr6 solicitedNode(const Addr6& target);

// The ICMPv6 checksum of `icmp` (len bytes, its checksum field as it is) over the IPv6
// pseudo-header of `src`, `dst` (RFC 8200 8.1). A message whose checksum is right sums to 0.
uint16_t icmp6Checksum(const Addr6& src, const Addr6& dst, const uint8_t* icmp, size_t len);

// Writes a Neighbor Solicitation for `target` into `out`: from `mac` / `source` (the node's
// MAC and address6 on the uplink) to the solicited-node group of `target` (Ethernet
// 33:33:ff:xx:xx:xx), hop limit 255, with the source link-layer address option so that the
// gateway can answer at once. Returns kSolicitFrameLen, or 0 if `out` is too small.
size_t buildSolicit(std::span<uint8_t> out, const uint8_t* mac6, const Addr6& source,
                    const Addr6& target);

enum class NdResult : uint8_t {
  kNotNd,      // not an NS/NA (another ether type, protocol or ICMPv6 type): not for us
  kNoBinding,  // a valid NS/NA that proves no address-to-MAC binding (no link-layer option,
               // an NS from the unspecified address during DAD)
  kLearn,      // a valid NS/NA binding `addr` to `mac`
  kInvalid,    // an NS/NA that fails RFC 4861 7.1 validation: hop limit != 255, bad checksum,
               // code != 0, truncated, a zero-length or overrunning option, multicast target
};

struct NdBinding {
  Addr6 addr{};
  std::array<uint8_t, 6> mac{};
};

// Classifies an Ethernet frame and, for kLearn, fills `out`: an NA binds its target address
// to its target link-layer address option; an NS binds its source address to its source
// link-layer address option. Only a frame whose IPv6 next header is ICMPv6 is considered
// (RFC 4861 messages carry no extension headers in practice; one that does is kNotNd). The
// frame may be longer than the IPv6 payload (Ethernet padding). Bounded work: at most one pass
// over the options, each at least 8 bytes.
NdResult parseNd(std::span<const uint8_t> frame, NdBinding& out);

}  // namespace anylb::dataplane::nd
