// ICMP errors of NAT64 sessions, translated across families by RFC 7915 (sections 4.2 and
// 5.2) so that path-MTU discovery and error reporting work through NAT64 as through FULLNAT:
//  - ICMPv4 toward the IPv4 LIP (from the RS or a router on its side), quoting LIP -> RIP:
//    becomes ICMPv6 VIP6 -> CIP6 quoting CIP6:CPORT -> VIP6:VPORT, for the client;
//  - ICMPv6 toward the IPv6 VIP (a router on the client's side), quoting VIP6 -> CIP6:
//    becomes ICMPv4 LIP -> RIP quoting RIP:RPORT -> LIP:LPORT, for the RS.
// Only the types TCP and UDP connections meet are translated: destination unreachable, packet
// too big / fragmentation needed, time exceeded. Parameter problems and codes without an
// equivalent are dropped (`icmp_nat64`). The outer and quoted IP headers change size (20 <->
// 40 bytes each), so the quoted L4 bytes move; the ICMP checksum is recomputed over the message.
#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>

#include <cstring>

#include "common/checksum.h"
#include "fullnat/engine_internal.h"
#include "fullnat/worker.h"

namespace anylb::fullnat {

namespace {

constexpr uint32_t kIpv6MinMtu = 1280;

struct IcmpMapping {
  bool ok;
  uint8_t type;
  uint8_t code;
};

// RFC 7915 4.2: ICMPv4 error type/code -> ICMPv6.
IcmpMapping map4To6(uint8_t type, uint8_t code) {
  if (type == 11) return {code <= 1, 3, code};  // time exceeded, same code
  if (type != 3) return {false, 0, 0};
  switch (code) {
    case 0:
    case 1:
    case 5:
    case 6:
    case 7:
    case 8:
    case 11:
    case 12:
      return {true, 1, 0};  // no route to destination
    case 3:
      return {true, 1, 4};  // port unreachable
    case 4:
      return {true, 2, 0};  // fragmentation needed -> packet too big
    case 9:
    case 10:
    case 13:
    case 15:
      return {true, 1, 1};  // administratively prohibited
    default:
      return {false, 0, 0};  // 2 (protocol unreachable: a parameter problem), 14, unknown
  }
}

// RFC 7915 5.2: ICMPv6 error type/code -> ICMPv4.
IcmpMapping map6To4(uint8_t type, uint8_t code) {
  if (type == 2) return {true, 3, 4};           // packet too big -> fragmentation needed
  if (type == 3) return {code <= 1, 11, code};  // time exceeded
  if (type != 1) return {false, 0, 0};
  switch (code) {
    case 0:
    case 2:
    case 3:
      return {true, 3, 1};  // host unreachable
    case 1:
      return {true, 3, 10};  // communication with host administratively prohibited
    case 4:
      return {true, 3, 3};  // port unreachable
    default:
      return {false, 0, 0};
  }
}

uint32_t load32be(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return rte_be_to_cpu_32(v);
}

}  // namespace

PacketVerdict Worker::icmpNat64ToClient(rte_mbuf* m, Parsed& p, uint32_t idx) {
  const session::Session& s = table_.at(idx);
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  const uint8_t* ic = data + p.l4off;
  const IcmpMapping map = map4To6(ic[0], ic[1]);
  if (!map.ok || !rte_pktmbuf_is_contiguous(m)) return drop(DropReason::kIcmpNat64);
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(data + p.l3off);
  const unsigned quoteOff = p.l4off + 8U;
  const auto* qip = reinterpret_cast<const rte_ipv4_hdr*>(data + quoteOff);
  const unsigned qihl = (qip->version_ihl & 0x0F) * 4U;
  const unsigned end = p.l3off + p.ipTotal;
  const unsigned ql4Len = end - (quoteOff + qihl);  // icmp() checked at least 8
  uint32_t mtu = 0;
  if (map.type == 2) {
    // The client's IPv6 packets lose 20 bytes of header here and gain the TOA: the IPv4 MTU
    // plus 20, less the TOA when there is one; never below the IPv6 minimum.
    uint16_t mtuBe;
    std::memcpy(&mtuBe, ic + 6, 2);
    const uint32_t mtu4 = rte_be_to_cpu_16(mtuBe);
    mtu = mtu4 + sizeof(rte_ipv6_hdr) - sizeof(rte_ipv4_hdr);
    if ((s.flags & session::kToa) != 0) mtu -= toa::kToaLenV6;
    if (mtu < kIpv6MinMtu) mtu = kIpv6MinMtu;
  }
  // Header bytes read before they are overwritten.
  const auto hops = static_cast<uint8_t>(ip->time_to_live - 1);  // icmp() checked > 1
  const uint8_t qtos = qip->type_of_service;
  const uint8_t qttl = qip->time_to_live;
  const uint8_t qproto = qip->next_proto_id;
  const unsigned qtotal = rte_be_to_cpu_16(qip->total_length);
  const uint32_t qOldAddrs = csum::sum32(qip->src_addr) + csum::sum32(qip->dst_addr);

  // New layout: Ethernet, IPv6 (40), ICMPv6 (8), quoted IPv6 (40), the quoted L4 bytes.
  const unsigned newQl4Off = p.l3off + 40 + 8 + 40;
  const unsigned oldQl4Off = quoteOff + qihl;
  const int grow = static_cast<int>(newQl4Off) - static_cast<int>(oldQl4Off);
  if (grow > 0 && rte_pktmbuf_append(m, static_cast<uint16_t>(grow)) == nullptr) {
    return drop(DropReason::kNat64NoRoom);
  }
  data = rte_pktmbuf_mtod(m, uint8_t*);
  std::memmove(data + newQl4Off, data + oldQl4Off, ql4Len);
  if (grow < 0) rte_pktmbuf_trim(m, static_cast<uint16_t>(-grow));
  uint8_t* ql4 = data + newQl4Off;

  // Quoted L4: as the client sent it (CIP:CPORT -> VIP:VPORT), its checksum updated for the
  // new pseudo-header addresses and ports (lengths and protocol are the same in both families).
  uint16_t qsport;
  uint16_t qdport;
  std::memcpy(&qsport, ql4, 2);
  std::memcpy(&qdport, ql4 + 2, 2);
  uint32_t seqOld = 0;
  uint32_t seqNew = 0;
  if (qproto == IPPROTO_TCP) unshiftQuotedSeq(ql4, idx, /*toLip=*/true, seqOld, seqNew);
  const unsigned ckOff = qproto == IPPROTO_UDP ? 6 : 16;
  if (ql4Len >= ckOff + 2) {
    uint16_t ck;
    std::memcpy(&ck, ql4 + ckOff, 2);
    if (!(qproto == IPPROTO_UDP && ck == 0)) {
      ck = csum::update(
          ck, qOldAddrs + qsport + qdport + seqOld,
          csum::partial(s.cip.b, 16) + csum::partial(s.vip.b, 16) + s.cport + s.vport + seqNew);
      std::memcpy(ql4 + ckOff, &ck, 2);
    }
  }
  std::memcpy(ql4, &s.cport, 2);
  std::memcpy(ql4 + 2, &s.vport, 2);

  auto* qip6 = reinterpret_cast<rte_ipv6_hdr*>(data + p.l3off + 48);
  qip6->vtc_flow = rte_cpu_to_be_32(6U << 28 | uint32_t{qtos} << 20);
  qip6->payload_len = rte_cpu_to_be_16(static_cast<uint16_t>(qtotal > qihl ? qtotal - qihl : 0));
  qip6->proto = qproto;
  qip6->hop_limits = qttl;
  std::memcpy(qip6->src_addr, s.cip.b, 16);
  std::memcpy(qip6->dst_addr, s.vip.b, 16);

  uint8_t* ic6 = data + p.l3off + 40;
  ic6[0] = map.type;
  ic6[1] = map.code;
  const uint32_t rest = rte_cpu_to_be_32(mtu);  // PTB: the MTU; the others: unused, zero
  std::memcpy(ic6 + 4, &rest, 4);

  const auto icLen = static_cast<uint16_t>(8 + 40 + ql4Len);
  auto* ip6 = reinterpret_cast<rte_ipv6_hdr*>(data + p.l3off);
  ip6->vtc_flow = rte_cpu_to_be_32(6U << 28);
  ip6->payload_len = rte_cpu_to_be_16(icLen);
  ip6->proto = IPPROTO_ICMPV6;
  ip6->hop_limits = hops;
  std::memcpy(ip6->src_addr, s.vip.b, 16);
  std::memcpy(ip6->dst_addr, s.cip.b, 16);
  reinterpret_cast<rte_ether_hdr*>(data)->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
  ic6[2] = ic6[3] = 0;
  const uint16_t ck = csum::finish(csum::partial(ic6, icLen, detail::pseudoSum6(ip6, icLen, 58)));
  std::memcpy(ic6 + 2, &ck, 2);
  if (opts_.txChecksumOffload) {
    m->l2_len = p.l3off;
    m->l3_len = sizeof(rte_ipv6_hdr);
    m->ol_flags =
        (m->ol_flags & ~(RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM)) | RTE_MBUF_F_TX_IPV6;
  }
  ++counters_.icmpTranslated;
  return PacketVerdict{Verdict::kForward, {}, 0};
}

PacketVerdict Worker::icmpNat64ToRs(rte_mbuf* m, Parsed& p, uint32_t idx) {
  const session::Session& s = table_.at(idx);
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  const uint8_t* ic = data + p.l4off;
  const IcmpMapping map = map6To4(ic[0], ic[1]);
  if (!map.ok || !rte_pktmbuf_is_contiguous(m)) return drop(DropReason::kIcmpNat64);
  const auto* ip6 = reinterpret_cast<const rte_ipv6_hdr*>(data + p.l3off);
  const unsigned quoteOff = p.l4off + 8U;
  const auto* qip6 = reinterpret_cast<const rte_ipv6_hdr*>(data + quoteOff);
  const unsigned end = p.l3off + p.ipTotal;
  const unsigned oldQl4Off = quoteOff + sizeof(rte_ipv6_hdr);
  const unsigned ql4Len = end - oldQl4Off;  // icmp6() checked at least 8
  uint16_t mtu4 = 0;
  if (map.type == 3 && map.code == 4) {
    // The RS's IPv4 packets grow by 20 bytes of header on the way to the client.
    const uint32_t mtu6 = load32be(ic + 4);
    const uint32_t m4 = mtu6 > 68 + 20 ? mtu6 - 20 : 68;
    mtu4 = static_cast<uint16_t>(m4 > 0xFFFF ? 0xFFFF : m4);
  }
  const auto hops = static_cast<uint8_t>(ip6->hop_limits - 1);  // icmp6() checked > 1
  const auto qtos = static_cast<uint8_t>(rte_be_to_cpu_32(qip6->vtc_flow) >> 20);
  const uint8_t qhops = qip6->hop_limits;
  const uint8_t qproto = qip6->proto;
  const unsigned qpayload = rte_be_to_cpu_16(qip6->payload_len);
  const uint32_t qOldAddrs = csum::partial(qip6->src_addr, 32);

  // New layout: Ethernet, IPv4 (20), ICMPv4 (8), quoted IPv4 (20), the quoted L4 bytes.
  const unsigned newQl4Off = p.l3off + 20 + 8 + 20;
  std::memmove(data + newQl4Off, data + oldQl4Off, ql4Len);
  rte_pktmbuf_trim(m, static_cast<uint16_t>(oldQl4Off - newQl4Off));
  uint8_t* ql4 = data + newQl4Off;

  // Quoted L4: as the RS sent it (RIP:RPORT -> LIP:LPORT).
  uint16_t qsport;
  uint16_t qdport;
  std::memcpy(&qsport, ql4, 2);
  std::memcpy(&qdport, ql4 + 2, 2);
  const unsigned ckOff = qproto == IPPROTO_UDP ? 6 : 16;
  if (ql4Len >= ckOff + 2) {
    uint16_t ck;
    std::memcpy(&ck, ql4 + ckOff, 2);
    ck = csum::update(ck, qOldAddrs + qsport + qdport,
                      csum::sum32(s.rip.v4Raw()) + csum::sum32(s.lip.v4Raw()) + s.rport + s.lport);
    std::memcpy(ql4 + ckOff, &ck, 2);
  }
  std::memcpy(ql4, &s.rport, 2);
  std::memcpy(ql4 + 2, &s.lport, 2);

  auto* qip = reinterpret_cast<rte_ipv4_hdr*>(data + p.l3off + 28);
  qip->version_ihl = RTE_IPV4_VHL_DEF;
  qip->type_of_service = qtos;
  qip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(qpayload + sizeof(rte_ipv4_hdr)));
  qip->packet_id = 0;
  qip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
  qip->time_to_live = qhops;
  qip->next_proto_id = qproto;
  qip->src_addr = s.rip.v4Raw();
  qip->dst_addr = s.lip.v4Raw();
  qip->hdr_checksum = 0;
  qip->hdr_checksum = csum::finish(csum::partial(qip, sizeof(rte_ipv4_hdr)));

  uint8_t* ic4 = data + p.l3off + 20;
  const auto icLen = static_cast<uint16_t>(8 + 20 + ql4Len);
  ic4[0] = map.type;
  ic4[1] = map.code;
  ic4[4] = ic4[5] = 0;
  const uint16_t mtuBe = rte_cpu_to_be_16(mtu4);  // fragmentation needed: next-hop MTU
  std::memcpy(ic4 + 6, &mtuBe, 2);
  ic4[2] = ic4[3] = 0;
  const uint16_t ick = csum::finish(csum::partial(ic4, icLen));
  std::memcpy(ic4 + 2, &ick, 2);

  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + p.l3off);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = 0;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + icLen));
  ip->packet_id = 0;  // ID 0 with DF, as nat64ToRs() sends every packet
  ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
  ip->time_to_live = hops;
  ip->next_proto_id = IPPROTO_ICMP;
  ip->src_addr = s.lip.v4Raw();
  ip->dst_addr = s.rip.v4Raw();
  ip->hdr_checksum = 0;
  ip->hdr_checksum = csum::finish(csum::partial(ip, sizeof(rte_ipv4_hdr)));
  reinterpret_cast<rte_ether_hdr*>(data)->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  if (opts_.txChecksumOffload) {  // the header checksum is already whole
    m->l2_len = p.l3off;
    m->l3_len = sizeof(rte_ipv4_hdr);
    m->ol_flags = (m->ol_flags & ~RTE_MBUF_F_TX_IPV6) | RTE_MBUF_F_TX_IPV4;
  }
  ++counters_.icmpTranslated;
  return PacketVerdict{Verdict::kForward, {}, 0};
}

}  // namespace anylb::fullnat
