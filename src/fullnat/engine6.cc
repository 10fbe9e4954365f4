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
  if (linkScoped(ip->dst_addr) || snap_->isNodeAddress(p.key.dst)) {
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
  if (next == IPPROTO_TCP) {
    if (p.l4len < sizeof(rte_tcp_hdr) || l4InSeg < sizeof(rte_tcp_hdr)) {
      return v = drop(DropReason::kTruncatedL4), false;
    }
    auto* tcp = reinterpret_cast<rte_tcp_hdr*>(data + off);
    p.tcpHdrLen = static_cast<uint16_t>((tcp->data_off >> 4) * 4U);
    if (p.tcpHdrLen < sizeof(rte_tcp_hdr) || p.tcpHdrLen > p.l4len || p.tcpHdrLen > l4InSeg) {
      return v = drop(DropReason::kBadTcpOffset), false;
    }
    if (p.tcpHdrLen > sizeof(rte_tcp_hdr) &&
        !toa::optionsValid(reinterpret_cast<uint8_t*>(tcp + 1),
                           p.tcpHdrLen - sizeof(rte_tcp_hdr))) {
      return v = drop(DropReason::kBadTcpOptions), false;
    }
    p.tcpFlags = tcp->tcp_flags;
    p.key.sport = tcp->src_port;
    p.key.dport = tcp->dst_port;
  } else if (next == IPPROTO_UDP) {
    if (p.l4len < sizeof(rte_udp_hdr) || l4InSeg < sizeof(rte_udp_hdr)) {
      return v = drop(DropReason::kTruncatedL4), false;
    }
    auto* udp = reinterpret_cast<rte_udp_hdr*>(data + off);
    if (rte_be_to_cpu_16(udp->dgram_len) != p.l4len) {
      return v = drop(DropReason::kBadUdpLength), false;
    }
    if (udp->dgram_cksum == 0) return v = drop(DropReason::kBadL4Checksum), false;
    p.key.sport = udp->src_port;
    p.key.dport = udp->dst_port;
  } else {
    return v = drop(DropReason::kUnsupportedL4), false;
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
  if (snap_->isLip(p.key.dst)) {
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
  const bool toLip = snap_->isLip(p.key.dst);
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
  const Dir dir = toLip ? Dir::kOut : Dir::kIn;
  if (toLip) {
    const uint16_t owner = ownerOf(qsport, workers_);
    if (owner != id_) return PacketVerdict{Verdict::kRedirect, {}, owner};
  }
  const uint32_t idx = table_.find(table_.hash(key), dir, key);
  if (idx == SessionTable::kInvalid) {
    const uint64_t passFlag = detail::icmpPassFlag();
    if (toVip && workers_ > 1 && passFlag != 0) {
      const uint32_t passed = (m->ol_flags & passFlag) != 0 ? m->hash.usr : 0;
      if (passed + 1 < workers_) {
        m->ol_flags |= passFlag;
        m->hash.usr = passed + 1;
        return PacketVerdict{Verdict::kRedirect, {}, static_cast<uint16_t>((id_ + 1) % workers_)};
      }
    }
    return drop(DropReason::kIcmpNoSession);
  }
  if (ip->hop_limits <= 1) return drop(DropReason::kTtlExceeded);
  const session::Session& s = table_.at(idx);
  // IPv6 sessions are never shifted (the config refuses SYN proxy and PPv2 on IPv6 services):
  // the quoted sequence number needs no mapping.

  // toLip: for the client, VIP -> CIP quoting CIP:CPORT -> VIP:VPORT;
  // toVip: for the RS, LIP -> RIP quoting RIP:RPORT -> LIP:LPORT.
  const session::Addr& outerSrc = toLip ? s.vip : s.lip;
  const session::Addr& outerDst = toLip ? s.cip : s.rip;
  const session::Addr& qSrc = toLip ? s.cip : s.rip;
  const session::Addr& qDst = toLip ? s.vip : s.lip;
  const uint16_t qSport = toLip ? s.cport : s.rport;
  const uint16_t qDport = toLip ? s.vport : s.lport;

  const unsigned ckOff = qproto == IPPROTO_UDP ? 6 : 16;
  if (ql4Quoted >= ckOff + 2) {
    uint16_t ck;
    std::memcpy(&ck, ql4 + ckOff, 2);
    const uint32_t oldSum = csum::partial(qip->src_addr, 32) + qsport + qdport;
    const uint32_t newSum = csum::partial(qSrc.b, 16) + csum::partial(qDst.b, 16) + qSport + qDport;
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

}  // namespace anylb::fullnat
