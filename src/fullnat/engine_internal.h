// Internals shared by the packet-path files (engine.cc, icmp.cc). Not a public interface.
#pragma once

#include <netinet/in.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>

#include "common/checksum.h"
#include "fullnat/verdict.h"
#include "session/session_table.h"
#include "toa/tcp_options.h"

namespace anylb::fullnat::detail {

// What pass 1 learned about a packet, plus the checksum bookkeeping of its rewrite: partial
// sums of every word that changed, old and new, applied once at the end (RFC 1624).
// No default member initialisers: a burst's array of these is not zeroed, reset() sets what
// is read before parse() writes it.
struct Parsed {
  session::FlowKey key;
  uint32_t hash;
  uint32_t idx;
  int32_t service;
  DropReason missReason;  // inbound with no service (-1): the drop if no session matches
  session::Dir dir;
  uint16_t l3off;
  uint16_t l4off;
  uint16_t l4len;
  uint16_t ipTotal;
  uint16_t tcpHdrLen;
  uint8_t proto;
  uint8_t tcpFlags;
  bool isIcmp;
  bool v6;  // IPv6 header at l3off (extension headers, if any, between it and l4off)
  uint32_t ipOld;
  uint32_t ipNew;
  uint32_t l4Old;
  uint32_t l4New;

  // Per packet: cheaper than assigning a value-initialised Parsed (the key is set by parse()).
  void reset() {
    idx = session::SessionTable::kInvalid;
    dir = session::Dir::kIn;
    service = -1;
    missReason = DropReason::kNotLocal;
    isIcmp = false;
    v6 = false;
    tcpHdrLen = 0;
    tcpFlags = 0;
    ipOld = ipNew = l4Old = l4New = 0;
  }
};

// Sum of the TCP header words an option rewrite can change: data offset/flags, window, urgent
// pointer and options. Leaves out ports (tracked separately) and the checksum itself.
inline uint32_t tcpHeaderSum(const rte_tcp_hdr* th, unsigned hdrLen) {
  const auto* b = reinterpret_cast<const uint8_t*>(th);
  return csum::partial(b + 12, 4) + csum::partial(b + 18, hdrLen - 18);
}

// TCP and UDP both carry source and destination port in their first 4 bytes.
inline void rewritePorts(uint8_t* l4, uint16_t newSrc, uint16_t newDst, Parsed& p) {
  uint16_t ports[2];
  std::memcpy(ports, l4, 4);
  p.l4Old += uint32_t{ports[0]} + ports[1];
  p.l4New += uint32_t{newSrc} + newDst;
  ports[0] = newSrc;
  ports[1] = newDst;
  std::memcpy(l4, ports, 4);
}

// New source and destination (raw, network order) and one TTL step. The addresses are also in
// the L4 pseudo-header; the TTL is not.
inline void rewriteIp(rte_ipv4_hdr* ip, uint32_t newSrc, uint32_t newDst, Parsed& p) {
  uint16_t ttlProto;
  std::memcpy(&ttlProto, &ip->time_to_live, 2);
  const uint32_t oldAddrs = csum::sum32(ip->src_addr) + csum::sum32(ip->dst_addr);
  const uint32_t newAddrs = csum::sum32(newSrc) + csum::sum32(newDst);
  ip->src_addr = newSrc;
  ip->dst_addr = newDst;
  --ip->time_to_live;
  uint16_t ttlProtoNew;
  std::memcpy(&ttlProtoNew, &ip->time_to_live, 2);
  p.ipOld += oldAddrs + ttlProto;
  p.ipNew += newAddrs + ttlProtoNew;
  p.l4Old += oldAddrs;
  p.l4New += newAddrs;
}

// IPv6: new source and destination and one hop-limit step. No header checksum; the addresses
// are in the L4 pseudo-header.
inline void rewriteIp6(rte_ipv6_hdr* ip, const session::Addr& newSrc, const session::Addr& newDst,
                       Parsed& p) {
  p.l4Old += csum::partial(ip->src_addr, 32);
  std::memcpy(ip->src_addr, newSrc.b, 16);
  std::memcpy(ip->dst_addr, newDst.b, 16);
  p.l4New += csum::partial(ip->src_addr, 32);
  --ip->hop_limits;
}

// Either family: the packet's addresses become src -> dst, TTL / hop limit one less.
inline void rewriteL3(uint8_t* data, const session::Addr& src, const session::Addr& dst,
                      Parsed& p) {
  if (p.v6) {
    rewriteIp6(reinterpret_cast<rte_ipv6_hdr*>(data + p.l3off), src, dst, p);
  } else {
    rewriteIp(reinterpret_cast<rte_ipv4_hdr*>(data + p.l3off), src.v4Raw(), dst.v4Raw(), p);
  }
}

// The TTL (IPv4) or hop limit (IPv6) of the packet.
inline uint8_t hopsLeft(const uint8_t* data, const Parsed& p) {
  return data[p.l3off + (p.v6 ? 7U : 8U)];
}

// Partial sum of the IPv6 pseudo-header (RFC 8200 8.1) for an upper-layer packet of `l4len`
// bytes: addresses, 32-bit length, next header. Not complemented.
inline uint32_t pseudoSum6(const rte_ipv6_hdr* ip, uint32_t l4len, uint8_t proto) {
  const uint32_t tail[2] = {rte_cpu_to_be_32(l4len), rte_cpu_to_be_32(proto)};
  return csum::partial(tail, sizeof(tail), csum::partial(ip->src_addr, 32));
}

// The mbuf dynamic flag that marks an ICMP error passed from worker to worker (icmp.cc).
uint64_t icmpPassFlag();

// Pass 1, both families: the TCP or UDP header at p.l4off (all of it in the first segment,
// l4InSeg bytes there): lengths, TCP data offset and options, UDP length; sets the ports and
// the TCP flags. kCount when the header is sound, else the drop reason.
inline DropReason parsePorts(uint8_t* data, Parsed& p, uint32_t l4InSeg) {
  if (p.proto == IPPROTO_TCP) {
    if (p.l4len < sizeof(rte_tcp_hdr) || l4InSeg < sizeof(rte_tcp_hdr)) {
      return DropReason::kTruncatedL4;
    }
    auto* tcp = reinterpret_cast<rte_tcp_hdr*>(data + p.l4off);
    p.tcpHdrLen = static_cast<uint16_t>((tcp->data_off >> 4) * 4U);
    if (p.tcpHdrLen < sizeof(rte_tcp_hdr) || p.tcpHdrLen > p.l4len || p.tcpHdrLen > l4InSeg) {
      return DropReason::kBadTcpOffset;
    }
    if (p.tcpHdrLen > sizeof(rte_tcp_hdr) &&
        !toa::optionsValid(reinterpret_cast<uint8_t*>(tcp + 1),
                           p.tcpHdrLen - sizeof(rte_tcp_hdr))) {
      return DropReason::kBadTcpOptions;
    }
    p.tcpFlags = tcp->tcp_flags;
    p.key.sport = tcp->src_port;
    p.key.dport = tcp->dst_port;
    return DropReason::kCount;
  }
  if (p.l4len < sizeof(rte_udp_hdr) || l4InSeg < sizeof(rte_udp_hdr)) {
    return DropReason::kTruncatedL4;
  }
  auto* udp = reinterpret_cast<rte_udp_hdr*>(data + p.l4off);
  if (rte_be_to_cpu_16(udp->dgram_len) != p.l4len) return DropReason::kBadUdpLength;
  p.key.sport = udp->src_port;
  p.key.dport = udp->dst_port;
  return DropReason::kCount;
}

// Sequence numbers: wrap-safe comparisons (RFC 793 arithmetic mod 2^32).
inline bool seqAfter(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) > 0;
}
inline bool seqWithin(uint32_t seq, uint32_t next, uint32_t window) {
  const auto d = static_cast<int32_t>(seq - next);
  return d >= -static_cast<int64_t>(window) && d <= static_cast<int64_t>(window);
}

// Where a TCP segment ends in sequence space: seq + payload + 1 for SYN + 1 for FIN.
inline uint32_t segmentEnd(const rte_tcp_hdr* th, const Parsed& p) {
  return rte_be_to_cpu_32(th->sent_seq) + (p.l4len - p.tcpHdrLen) +
         ((p.tcpFlags & RTE_TCP_SYN_FLAG) != 0 ? 1 : 0) +
         ((p.tcpFlags & RTE_TCP_FIN_FLAG) != 0 ? 1 : 0);
}

// An RS segment that is an older connection's answer to our SYN (Worker::resetStaleRs): a bare
// ACK, without payload, that does not acknowledge the SYN, while the session waits for the
// RS's SYN-ACK. Not for a replica: its RS may have answered the peer that created it.
inline bool staleRsAnswer(const Parsed& p, bool acksOurSyn, const session::Session& s) {
  return (p.tcpFlags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG |
                        RTE_TCP_FIN_FLAG)) == RTE_TCP_ACK_FLAG &&
         p.l4len == p.tcpHdrLen && !acksOurSyn && (s.flags & session::kSynAckSeen) == 0 &&
         s.state == session::TcpState::kSynRecv && (s.sync & session::kReplica) == 0;
}

// The window-scale shift a SYN or SYN-ACK offers, as the nibble Session::wscale keeps (0xF:
// none offered).
inline unsigned offeredShift(const rte_tcp_hdr* th, const Parsed& p) {
  const int ws =
      toa::windowScale(reinterpret_cast<const uint8_t*>(th + 1), p.tcpHdrLen - sizeof(rte_tcp_hdr));
  return ws < 0 ? 0x0FU : static_cast<unsigned>(ws);
}

// The receive window a side advertised, scaled when both SYNs offered window scaling
// (RFC 7323), and never below 64 KiB: a receiver that closed its window still takes a FIN or
// RST at its next sequence number, and a window that small already costs a blind attacker
// ~32 k guesses.
inline uint32_t windowBytes(uint16_t raw, uint8_t wscale, bool rsSide) {
  const unsigned mine = rsSide ? wscale >> 4 : wscale & 0x0F;
  const unsigned other = rsSide ? wscale & 0x0F : wscale >> 4;
  const unsigned shift = mine == 0x0F || other == 0x0F ? 0 : mine;
  return std::max<uint32_t>(uint32_t{raw} << shift, 65535);
}

}  // namespace anylb::fullnat::detail
