// IPv6 on the packet path: validation and classification of an IPv6 frame (pass 1), and
// ICMPv6 errors quoting a session. The translation itself (inbound()/outbound() in engine.cc)
// is shared with IPv4: addresses are 16 bytes in the session either way, and the family only
// changes how the L3 header is rewritten (engine_internal.h rewriteL3) and checksummed.
//
// IPv6 differs from IPv4 here in four ways:
//  - no header checksum; the L4 pseudo-header has 128-bit addresses and a 32-bit length;
//  - extension headers: a chain walked up to kMaxExtHeaders. Destination options and routing
//    headers with no segments left are skipped (RFC 8200 4.4: a node that is not the
//    destination of the next segment ignores them); hop-by-hop options (which every router
//    would have to process), routing type 0 (RFC 5095) or a routing header with segments left
//    are dropped under their own reasons; fragments are dropped as IPv4 fragments are;
//  - Neighbor Discovery, link-local and link-scope multicast traffic belong to the node's
//    kernel (the exception path), whatever else they look like;
//  - UDP without a checksum is invalid (RFC 8200 8.1) and dropped.
//
// NAT64 (an IPv6 VIP served by IPv4 real servers) swaps the IP header for one of the other
// family on the way through, by RFC 7915's rules for the fields TCP and UDP traffic has
// (sections 4.1 and 5.1): traffic class <-> type of service, hop limit <-> TTL (one less),
// payload length <-> total length, next header <-> protocol; toward IPv4 the identification is
// 0 with DF set (the IPv6 side does its own path-MTU discovery), extension headers are dropped,
// IPv4 options are not carried to IPv6; the flow label is 0. The L4 checksum is updated for the
// pseudo-header's addresses only: its length and protocol terms are the same in both families.
#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <cstring>

#include "common/checksum.h"
#include "fullnat/engine_internal.h"
#include "fullnat/worker.h"
#include "toa/tcp_options.h"

namespace anylb::fullnat {

using session::Dir;
using session::SessionTable;

namespace {

constexpr uint8_t kNextHopByHop = 0;
constexpr uint8_t kNextRouting = 43;
constexpr uint8_t kNextFragment = 44;
constexpr uint8_t kNextDestOpts = 60;
constexpr unsigned kMaxExtHeaders = 8;

constexpr uint8_t kIcmp6DestUnreachable = 1;
constexpr uint8_t kIcmp6PacketTooBig = 2;
constexpr uint8_t kIcmp6TimeExceeded = 3;
constexpr uint8_t kIcmp6FirstNd = 133;  // router solicitation .. redirect (RFC 4861)
constexpr uint8_t kIcmp6LastNd = 137;
constexpr uint32_t kIpv6MinMtu = 1280;

// For the node's kernel whatever the engine knows: link-local unicast fe80::/10 and
// link-local-scope multicast ff02::/16 (ND, MLD, all-nodes).
inline bool linkScoped(const uint8_t* a) {
  return (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) || (a[0] == 0xFF && (a[1] & 0x0F) == 0x02);
}

// Sources a router does not forward from: unspecified ::, loopback ::1, multicast ff00::/8,
// link-local fe80::/10 (never beyond its link), IPv4-mapped ::ffff:0:0/96 (RFC 4291 2.5.5.2:
// not on the wire).
inline bool martianSource6(const uint8_t* a) {
  if (a[0] == 0xFF || (a[0] == 0xFE && (a[1] & 0xC0) == 0x80)) return true;
  static constexpr uint8_t kZero[10] = {};
  if (std::memcmp(a, kZero, 10) != 0) return false;
  if (a[10] == 0xFF && a[11] == 0xFF) return true;  // IPv4-mapped
  if (a[10] != 0 || a[11] != 0 || a[12] != 0 || a[13] != 0 || a[14] != 0) return false;
  return a[15] <= 1;  // :: or ::1
}

inline bool l4ChecksumValid6(const rte_mbuf* m, const rte_ipv6_hdr* ip, uint16_t off, uint16_t len,
                             uint8_t proto) {
  uint16_t raw = 0;
  if (rte_raw_cksum_mbuf(m, off, len, &raw) != 0) return false;
  return csum::fold(uint32_t{raw} + detail::pseudoSum6(ip, len, proto)) == 0xFFFF;
}

}  // namespace

bool Worker::parse6(rte_mbuf* m, Parsed& p, PacketVerdict& v) {
  const uint32_t dataLen = rte_pktmbuf_data_len(m);
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  p.v6 = true;
  p.l3off = sizeof(rte_ether_hdr);
  if (dataLen < p.l3off + sizeof(rte_ipv6_hdr)) return v = drop(DropReason::kTruncatedIp), false;
  auto* ip = reinterpret_cast<rte_ipv6_hdr*>(data + p.l3off);
  if ((data[p.l3off] >> 4) != 6) return v = drop(DropReason::kBadIpVersion), false;
  const unsigned total = sizeof(rte_ipv6_hdr) + rte_be_to_cpu_16(ip->payload_len);
  if (p.l3off + total > rte_pktmbuf_pkt_len(m)) return v = drop(DropReason::kBadIpLength), false;
  if (p.l3off + total < rte_pktmbuf_pkt_len(m)) {  // Ethernet padding
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - (p.l3off + total)));
  }
  p.ipTotal = static_cast<uint16_t>(total);
  std::memcpy(p.key.src.b, ip->src_addr, 16);
  std::memcpy(p.key.dst.b, ip->dst_addr, 16);
  // The node's own link-scoped traffic and anything for its addresses: the kernel's business
  // (it validates them itself; the exception policer bounds the rate).
  if (linkScoped(ip->dst_addr) || snap_->isNodeAddress6(ip->dst_addr)) {
    return v = PacketVerdict{Verdict::kToKernel, {}, 0}, false;
  }

  // Extension headers, all within the first segment.
  const unsigned end = p.l3off + total;
  const unsigned limit = end < dataLen ? end : dataLen;
  unsigned off = p.l3off + sizeof(rte_ipv6_hdr);
  uint8_t next = ip->proto;
  for (unsigned n = 0;; ++n) {
    if (next == kNextHopByHop) return v = drop(DropReason::kIpv6HopByHop), false;
    if (next == kNextFragment) return v = drop(DropReason::kFragment), false;
    if (next != kNextRouting && next != kNextDestOpts) break;
    if (n == kMaxExtHeaders || off + 8 > limit) {
      return v = drop(DropReason::kIpv6ExtHeaders), false;
    }
    const unsigned len = (data[off + 1] + 1U) * 8U;
    if (off + len > limit) return v = drop(DropReason::kIpv6ExtHeaders), false;
    if (next == kNextRouting && (data[off + 2] == 0 || data[off + 3] != 0)) {
      return v = drop(DropReason::kIpv6Routing), false;
    }
    next = data[off];
    off += len;
  }
  p.proto = next;
  p.l4off = static_cast<uint16_t>(off);
  p.l4len = static_cast<uint16_t>(end - off);
  const uint32_t l4InSeg = dataLen - off;

  if (next == IPPROTO_ICMPV6) {
    if (p.l4len < 8 || l4InSeg < 8) return v = drop(DropReason::kTruncatedL4), false;
    const uint8_t type = data[off];
    if (type >= kIcmp6FirstNd && type <= kIcmp6LastNd) {
      return v = PacketVerdict{Verdict::kToKernel, {}, 0}, false;
    }
    if (martianSource6(ip->src_addr)) return v = drop(DropReason::kMartianSource), false;
    p.isIcmp = true;
    return true;  // classified in icmp6()
  }
  if (martianSource6(ip->src_addr)) return v = drop(DropReason::kMartianSource), false;
  if (next != IPPROTO_TCP && next != IPPROTO_UDP)
    return v = drop(DropReason::kUnsupportedL4), false;
  if (const DropReason r = detail::parsePorts(data, p, l4InSeg); r != DropReason::kCount) {
    return v = drop(r), false;
  }
  if (next == IPPROTO_UDP && reinterpret_cast<rte_udp_hdr*>(data + off)->dgram_cksum == 0) {
    return v = drop(DropReason::kBadL4Checksum), false;
  }
  const uint64_t l4Flags = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
  if (l4Flags == RTE_MBUF_F_RX_L4_CKSUM_BAD) return v = drop(DropReason::kBadL4Checksum), false;
  // As for IPv4 (engine.cc parse()): SYN, FIN and RST are checked in software.
  if (p.proto == IPPROTO_TCP && l4Flags == RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN &&
      (p.tcpFlags & (RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG | RTE_TCP_RST_FLAG)) != 0 &&
      !l4ChecksumValid6(m, ip, p.l4off, p.l4len, p.proto)) {
    return v = drop(DropReason::kBadL4Checksum), false;
  }

  p.key.proto = p.proto;
  if (snap_->isLip6(ip->dst_addr)) {
    p.dir = Dir::kOut;
    const uint16_t owner = ownerOf(p.key.dport, workers_);
    if (owner != id_) return v = PacketVerdict{Verdict::kRedirect, {}, owner}, false;
  } else {
    p.service = snap_->findService(p.proto, p.key.dst, p.key.dport);
    if (p.service < 0) {
      p.missReason = snap_->isVip(p.key.dst) ? DropReason::kNoService : DropReason::kNotLocal;
    }
    p.dir = Dir::kIn;
  }
  p.hash = table_.hash(p.key);
  table_.prefetch(p.hash);
  return true;
}

// ICMPv6 errors (destination unreachable, packet too big, time exceeded) quoting a packet of
// a known session, translated as icmp.cc does for IPv4. Packet Too Big matters most: IPv6
// routers never fragment, so a lost PTB stalls a connection whose path MTU dropped.
PacketVerdict Worker::icmp6(rte_mbuf* m, Parsed& p) {
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  auto* ip = reinterpret_cast<rte_ipv6_hdr*>(data + p.l3off);
  uint8_t* ic = data + p.l4off;
  const bool toLip = snap_->isLip6(p.key.dst.b);
  const bool toVip = !toLip && snap_->isVip(p.key.dst);
  if (!toLip && !toVip) return drop(DropReason::kNotLocal);  // node addresses went to the kernel
  const uint8_t type = ic[0];
  if (type != kIcmp6DestUnreachable && type != kIcmp6PacketTooBig && type != kIcmp6TimeExceeded) {
    return drop(DropReason::kIcmpUnsupported);
  }
  // The quoted packet: its IPv6 header and the 8 bytes of L4 header that hold the ports (and
  // the TCP sequence number). Quotes with extension headers are not followed.
  const unsigned quoteOff = p.l4off + 8U;
  const unsigned end = p.l3off + p.ipTotal;
  if (end > rte_pktmbuf_data_len(m) || end < quoteOff + sizeof(rte_ipv6_hdr) + 8) {
    return drop(DropReason::kIcmpTruncated);
  }
  auto* qip = reinterpret_cast<rte_ipv6_hdr*>(data + quoteOff);
  if ((data[quoteOff] >> 4) != 6) return drop(DropReason::kIcmpTruncated);
  const uint8_t qproto = qip->proto;
  if (qproto != IPPROTO_TCP && qproto != IPPROTO_UDP) return drop(DropReason::kIcmpNoSession);
  uint8_t* ql4 = data + quoteOff + sizeof(rte_ipv6_hdr);
  const unsigned ql4Quoted = end - (quoteOff + sizeof(rte_ipv6_hdr));
  uint16_t qsport;
  uint16_t qdport;
  std::memcpy(&qsport, ql4, 2);
  std::memcpy(&qdport, ql4 + 2, 2);

  session::FlowKey key{};
  std::memcpy(key.src.b, qip->dst_addr, 16);
  std::memcpy(key.dst.b, qip->src_addr, 16);
  key.sport = qdport;
  key.dport = qsport;
  key.proto = qproto;
  PacketVerdict miss;
  const uint32_t idx = icmpSession(m, key, toLip, miss);
  if (idx == SessionTable::kInvalid) return miss;
  if (ip->hop_limits <= 1) return drop(DropReason::kTtlExceeded);
  const session::Session& s = table_.at(idx);
  if ((s.flags & session::kNat64) != 0) return icmpNat64ToRs(m, p, idx);  // toVip

  // toLip: for the client, VIP -> CIP quoting CIP:CPORT -> VIP:VPORT;
  // toVip: for the RS, LIP -> RIP quoting RIP:RPORT -> LIP:LPORT.
  const session::Addr& outerSrc = toLip ? s.vip : s.lip;
  const session::Addr& outerDst = toLip ? s.cip : s.rip;
  const session::Addr& qSrc = toLip ? s.cip : s.rip;
  const session::Addr& qDst = toLip ? s.vip : s.lip;
  const uint16_t qSport = toLip ? s.cport : s.rport;
  const uint16_t qDport = toLip ? s.vport : s.lport;

  uint32_t seqOld = 0;
  uint32_t seqNew = 0;
  if (qproto == IPPROTO_TCP) unshiftQuotedSeq(ql4, idx, toLip, seqOld, seqNew);
  const unsigned ckOff = qproto == IPPROTO_UDP ? 6 : 16;
  if (ql4Quoted >= ckOff + 2) {
    uint16_t ck;
    std::memcpy(&ck, ql4 + ckOff, 2);
    const uint32_t oldSum = csum::partial(qip->src_addr, 32) + qsport + qdport + seqOld;
    const uint32_t newSum =
        csum::partial(qSrc.b, 16) + csum::partial(qDst.b, 16) + qSport + qDport + seqNew;
    ck = csum::update(ck, oldSum, newSum);
    std::memcpy(ql4 + ckOff, &ck, 2);
  }
  std::memcpy(ql4, &qSport, 2);
  std::memcpy(ql4 + 2, &qDport, 2);
  std::memcpy(qip->src_addr, qSrc.b, 16);
  std::memcpy(qip->dst_addr, qDst.b, 16);

  // Packet Too Big for the client: its segments grow by the TOA option on the way to the RS,
  // so the MTU it must fit is that much smaller (never below the IPv6 minimum).
  if (type == kIcmp6PacketTooBig && toLip && (s.flags & session::kToa) != 0) {
    uint32_t mtuBe;
    std::memcpy(&mtuBe, ic + 4, 4);
    uint32_t mtu = rte_be_to_cpu_32(mtuBe);
    mtu = mtu > kIpv6MinMtu + toa::kToaLenV6 ? mtu - toa::kToaLenV6 : kIpv6MinMtu;
    mtuBe = rte_cpu_to_be_32(mtu);
    std::memcpy(ic + 4, &mtuBe, 4);
  }

  detail::rewriteIp6(ip, outerSrc, outerDst, p);
  // The ICMPv6 checksum covers the pseudo-header: recomputed over the whole message.
  ic[2] = ic[3] = 0;
  const uint16_t ck = csum::finish(csum::partial(ic, p.l4len, detail::pseudoSum6(ip, p.l4len, 58)));
  std::memcpy(ic + 2, &ck, 2);
  if (opts_.txChecksumOffload) {
    m->l2_len = p.l3off;
    m->l3_len = p.l4off - p.l3off;
    m->ol_flags |= RTE_MBUF_F_TX_IPV6;
  }
  ++counters_.icmpTranslated;
  return PacketVerdict{Verdict::kForward, {}, 0};
}

void Worker::nat64ToRs(rte_mbuf* m, Parsed& p, const session::Session& s) {
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  const auto* ip6 = reinterpret_cast<const rte_ipv6_hdr*>(data + p.l3off);
  const auto tclass = static_cast<uint8_t>(rte_be_to_cpu_32(ip6->vtc_flow) >> 20);
  const auto ttl = static_cast<uint8_t>(ip6->hop_limits - 1);  // inbound() checked it is > 1
  p.l4Old += csum::partial(ip6->src_addr, 32);
  p.l4New += csum::sum32(s.lip.v4Raw()) + csum::sum32(s.rip.v4Raw());
  // The IPv4 header ends where the IPv6 headers ended: move the Ethernet header up to it.
  const unsigned shrink = p.l4off - p.l3off - sizeof(rte_ipv4_hdr);
  std::memmove(data + shrink, data, p.l3off);
  rte_pktmbuf_adj(m, static_cast<uint16_t>(shrink));
  data = rte_pktmbuf_mtod(m, uint8_t*);
  reinterpret_cast<rte_ether_hdr*>(data)->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + p.l3off);
  p.l4off = static_cast<uint16_t>(p.l3off + sizeof(rte_ipv4_hdr));
  p.ipTotal = static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + p.l4len);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = tclass;
  ip->total_length = rte_cpu_to_be_16(p.ipTotal);
  ip->packet_id = 0;
  ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
  ip->time_to_live = ttl;
  ip->next_proto_id = p.proto;
  ip->src_addr = s.lip.v4Raw();
  ip->dst_addr = s.rip.v4Raw();
  ip->hdr_checksum = 0;
  ip->hdr_checksum = csum::finish(csum::partial(ip, sizeof(rte_ipv4_hdr)));
  // From here the packet is IPv4 with a whole header checksum: finishChecksums() leaves it be.
  p.v6 = false;
  p.ipOld = p.ipNew = 0;
}

bool Worker::nat64ToClient(rte_mbuf* m, Parsed& p, const session::Session& s) {
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(data + p.l3off);
  const uint8_t tos = ip->type_of_service;
  const auto hops = static_cast<uint8_t>(ip->time_to_live - 1);  // outbound() checked it is > 1
  p.l4Old += csum::sum32(ip->src_addr) + csum::sum32(ip->dst_addr);
  p.l4New += csum::partial(s.vip.b, 16) + csum::partial(s.cip.b, 16);
  const int grow = static_cast<int>(sizeof(rte_ipv6_hdr)) - (p.l4off - p.l3off);
  if (grow > 0) {
    auto* start = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(grow)));
    if (start == nullptr) return false;
    std::memmove(start, start + grow, p.l3off);
  } else if (grow < 0) {  // IPv4 options longer than 20 bytes: not carried
    std::memmove(data - grow, data, p.l3off);
    rte_pktmbuf_adj(m, static_cast<uint16_t>(-grow));
  }
  data = rte_pktmbuf_mtod(m, uint8_t*);
  reinterpret_cast<rte_ether_hdr*>(data)->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
  auto* ip6 = reinterpret_cast<rte_ipv6_hdr*>(data + p.l3off);
  ip6->vtc_flow = rte_cpu_to_be_32(6U << 28 | uint32_t{tos} << 20);
  ip6->payload_len = rte_cpu_to_be_16(p.l4len);
  ip6->proto = p.proto;
  ip6->hop_limits = hops;
  std::memcpy(ip6->src_addr, s.vip.b, 16);
  std::memcpy(ip6->dst_addr, s.cip.b, 16);
  p.l4off = static_cast<uint16_t>(p.l3off + sizeof(rte_ipv6_hdr));
  p.ipTotal = static_cast<uint16_t>(sizeof(rte_ipv6_hdr) + p.l4len);
  p.v6 = true;
  if (p.proto == IPPROTO_UDP) {
    auto* udp = reinterpret_cast<rte_udp_hdr*>(data + p.l4off);
    if (udp->dgram_cksum == 0) {  // optional in IPv4, mandatory in IPv6: computed whole
      uint16_t ck =
          csum::finish(csum::partial(udp, p.l4len, detail::pseudoSum6(ip6, p.l4len, p.proto)));
      udp->dgram_cksum = ck == 0 ? 0xFFFF : ck;
      p.l4Old = p.l4New = 0;
    }
  }
  return true;
}

}  // namespace anylb::fullnat
