// The FULLNAT packet path. A burst goes through three stages so that the session table's cache
// misses overlap: (1) validate, classify, hash, prefetch the index bucket; (2) read the
// bucket, prefetch the candidate session, kLookAhead packets ahead of (3) verify and
// translate. Each stage returns a verdict; the first verdict ends a packet's processing. No
// allocation, locks, exceptions, syscalls or logging here.
#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>

#include "common/checksum.h"
#include "fullnat/engine_internal.h"
#include "fullnat/worker.h"
#include "toa/tcp_options.h"

namespace anylb::fullnat {

using detail::offeredShift;
using detail::rewritePorts;
using detail::segmentEnd;
using detail::seqAfter;
using detail::seqWithin;
using detail::tcpHeaderSum;
using detail::windowBytes;

using session::Dir;
using session::Session;
using session::SessionTable;
using session::TcpState;

namespace {

constexpr uint16_t kEtherIpv4 = RTE_ETHER_TYPE_IPV4;
constexpr uint16_t kEtherArp = RTE_ETHER_TYPE_ARP;
constexpr uint16_t kEtherIpv6 = RTE_ETHER_TYPE_IPV6;

inline uint32_t load32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Sources a router never forwards from (RFC 1812 5.3.7): "this network" 0/8, loopback 127/8,
// multicast 224/4 and the reserved 240/4 with the limited broadcast. Raw, network order.
inline bool martianSource4(uint32_t srcRaw) {
  const uint8_t first = reinterpret_cast<const uint8_t*>(&srcRaw)[0];
  return first == 0 || first == 127 || first >= 224;
}

// The TCP/UDP checksum over the pseudo-header and every segment of the mbuf.
inline bool l4ChecksumValid(const rte_mbuf* m, const rte_ipv4_hdr* ip, uint16_t off, uint16_t len) {
  uint16_t raw = 0;
  if (rte_raw_cksum_mbuf(m, off, len, &raw) != 0) return false;
  uint32_t sum = uint32_t{raw} + rte_ipv4_phdr_cksum(ip, 0);
  sum = (sum & 0xFFFF) + (sum >> 16);
  sum = (sum & 0xFFFF) + (sum >> 16);
  return sum == 0xFFFF;
}

}  // namespace

uint16_t Worker::ownerOf(uint16_t lportBe, uint16_t workers) {
  return static_cast<uint16_t>(rte_be_to_cpu_16(lportBe) % workers);
}

// Pass 1 for one packet: L2/L3/L4 validation and classification. Returns false with `v` set
// when the packet is already decided.
bool Worker::parse(rte_mbuf* m, Parsed& p, PacketVerdict& v) {
  const uint32_t dataLen = rte_pktmbuf_data_len(m);
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  if (dataLen < sizeof(rte_ether_hdr)) return v = drop(DropReason::kTruncatedL2), false;
  const uint16_t etherType = rte_be_to_cpu_16(reinterpret_cast<rte_ether_hdr*>(data)->ether_type);
  if (etherType != kEtherIpv4) {
    if (etherType == kEtherIpv6) return parse6(m, p, v);
    if (etherType == kEtherArp) return v = PacketVerdict{Verdict::kToKernel, {}, 0}, false;
    return v = drop(DropReason::kUnsupportedL3), false;
  }
  p.l3off = sizeof(rte_ether_hdr);
  if (dataLen < p.l3off + sizeof(rte_ipv4_hdr)) return v = drop(DropReason::kTruncatedIp), false;
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + p.l3off);
  if ((ip->version_ihl >> 4) != 4) return v = drop(DropReason::kBadIpVersion), false;
  const unsigned ihl = (ip->version_ihl & 0x0F) * 4U;
  if (ihl < sizeof(rte_ipv4_hdr) || p.l3off + ihl > dataLen) {
    return v = drop(DropReason::kBadIhl), false;
  }
  const unsigned total = rte_be_to_cpu_16(ip->total_length);
  if (total < ihl || p.l3off + total > rte_pktmbuf_pkt_len(m)) {
    return v = drop(DropReason::kBadIpLength), false;
  }
  if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD) {
    return v = drop(DropReason::kBadIpChecksum), false;
  }
  if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
      !csum::ipv4HeaderValid(ip, ihl)) {
    return v = drop(DropReason::kBadIpChecksum), false;
  }
  // Ethernet pads short frames: cut the mbuf to the IP length so lengths below are exact.
  if (p.l3off + total < rte_pktmbuf_pkt_len(m)) {
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - (p.l3off + total)));
  }
  if ((ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) !=
      0) {
    return v = drop(DropReason::kFragment), false;
  }
  p.ipTotal = static_cast<uint16_t>(total);
  p.l4off = static_cast<uint16_t>(p.l3off + ihl);
  p.l4len = static_cast<uint16_t>(total - ihl);
  p.proto = ip->next_proto_id;
  const uint32_t l4InSeg = dataLen - p.l4off;  // L4 headers must sit in the first segment

  const uint32_t src = load32(&ip->src_addr);
  const uint32_t dst = load32(&ip->dst_addr);
  if (martianSource4(src)) return v = drop(DropReason::kMartianSource), false;
  if (p.proto == IPPROTO_TCP || p.proto == IPPROTO_UDP) {
    if (const DropReason r = detail::parsePorts(data, p, l4InSeg); r != DropReason::kCount) {
      return v = drop(r), false;
    }
  } else if (p.proto == IPPROTO_ICMP) {
    if (p.l4len < 8 || l4InSeg < 8) return v = drop(DropReason::kTruncatedL4), false;
    p.isIcmp = true;
    return true;  // classified in icmp()
  } else {
    if (snap_->isNodeAddress(Addr::fromV4Raw(dst))) {
      return v = PacketVerdict{Verdict::kToKernel, {}, 0}, false;
    }
    return v = drop(DropReason::kUnsupportedL4), false;
  }
  const uint64_t l4Flags = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
  if (l4Flags == RTE_MBUF_F_RX_L4_CKSUM_BAD) return v = drop(DropReason::kBadL4Checksum), false;
  // Segments that open, close or reset a connection change state for everyone on the tuple:
  // check their checksum in software when the NIC did not (a forged or corrupted RST must
  // not end a connection). Data segments are left to the receiver, as a router would.
  if (p.proto == IPPROTO_TCP && l4Flags == RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN &&
      (p.tcpFlags & (RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG | RTE_TCP_RST_FLAG)) != 0 &&
      !l4ChecksumValid(m, ip, p.l4off, p.l4len)) {
    return v = drop(DropReason::kBadL4Checksum), false;
  }

  p.key.proto = p.proto;
  p.key.src = Addr::fromV4Raw(src);
  p.key.dst = Addr::fromV4Raw(dst);
  if (snap_->isLip4(dst)) {
    p.dir = Dir::kOut;
    const uint16_t owner = ownerOf(p.key.dport, workers_);
    if (owner != id_) return v = PacketVerdict{Verdict::kRedirect, {}, owner}, false;
  } else {
    p.service = snap_->findService4(p.proto, dst, p.key.dport);
    if (p.service < 0) {
      if (snap_->isNodeAddress(p.key.dst)) {
        return v = PacketVerdict{Verdict::kToKernel, {}, 0}, false;
      }
      // No service (any more): a reload may have removed it while its sessions drain, so the
      // session is still looked up; without one the packet is dropped under this reason.
      p.missReason = snap_->isVip(p.key.dst) ? DropReason::kNoService : DropReason::kNotLocal;
    }
    p.dir = Dir::kIn;
  }
  p.hash = table_.hash4(src, dst, p.key.sport, p.key.dport, p.proto);
  table_.prefetch(p.hash);
  return true;
}

uint16_t Worker::processBurst(rte_mbuf** pkts, uint16_t n, uint64_t nowMs, PacketVerdict* out) {
  Parsed parsed[kMaxBurst];
  bool live[kMaxBurst];
  if (n > kMaxBurst) n = kMaxBurst;
  table_.advance(nowMs);
  if (n != 0) pool_ = pkts[0]->pool;  // for packets the SYN proxy makes (freshFrame)
  if (const int edge = gate_.tick(nowMs, synRecv_); edge != 0) {
    ++(edge > 0 ? counters_.synproxyEngaged : counters_.synproxyDisengaged);
    counters_.synproxyActive = edge > 0 ? 1 : 0;
  }
  counters_.rxPackets += n;
  for (uint16_t i = 0; i < n; ++i) {
    parsed[i].reset();
    live[i] = parse(pkts[i], parsed[i], out[i]);
  }
  // Stage 2 runs kLookAhead packets ahead of stage 3, in one loop: each session's cache lines
  // are fetched while earlier packets are translated, instead of all of the burst's at once
  // right before the first one is needed (at 1 M sessions the lines of a whole burst take
  // longer to arrive than the candidate pass takes to ask for them).
  // A candidate was read at some table version; if a packet handled since then created or
  // removed a session (two packets of one new flow, a SYN reusing a closing tuple), the packet
  // looks up again: a burst gives exactly the result of its packets handled one by one.
  uint64_t version[kMaxBurst];
  auto lookAhead = [&](uint16_t i) {
    if (!live[i] || parsed[i].isIcmp) return;
    parsed[i].idx = table_.candidate(parsed[i].hash, parsed[i].dir);
    version[i] = table_.changes();
    if (parsed[i].idx < SessionTable::kProbe) {
      table_.prefetchSession(parsed[i].idx);
      // Its ShiftState, in case the session is shifted (SYN proxy, PPv2): read in stage 3
      // before the session's flags are known. A prefetch of a page never touched faults
      // nothing in; engine_bench measured plain sessions no slower and shifted ones ~35%
      // faster at 1 M.
      __builtin_prefetch(&shift_[parsed[i].idx]);
    }
  };
  for (uint16_t i = 0; i < n && i < kLookAhead; ++i) lookAhead(i);
  for (uint16_t i = 0; i < n; ++i) {
    if (i + kLookAhead < n) lookAhead(static_cast<uint16_t>(i + kLookAhead));
    if (live[i]) {
      Parsed& p = parsed[i];
      if (p.isIcmp) {
        out[i] = p.v6 ? icmp6(pkts[i], p) : icmp(pkts[i], p);
      } else {
        p.idx = table_.changes() == version[i] ? table_.resolve(p.idx, p.hash, p.dir, p.key)
                                               : table_.find(p.hash, p.dir, p.key);
        out[i] = p.dir == Dir::kIn ? inbound(pkts[i], p, nowMs) : outbound(pkts[i], p, nowMs);
      }
    }
    switch (out[i].verdict) {
      case Verdict::kForward:
        ++counters_.forwarded;
        break;
      case Verdict::kToKernel:
        ++counters_.toKernel;
        break;
      case Verdict::kRedirect:
        ++counters_.redirected;
        break;
      case Verdict::kDrop:
        ++counters_.dropped;
        break;
    }
  }
  return n;
}

PacketVerdict Worker::inbound(rte_mbuf*& m, Parsed& p, uint64_t nowMs) {
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  // Before any state changes: a packet that cannot be forwarded must not create a session.
  if (detail::hopsLeft(data, p) <= 1) return drop(DropReason::kTtlExceeded);
  const bool tcp = p.proto == IPPROTO_TCP;
  const bool syn = tcp && (p.tcpFlags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG |
                                         RTE_TCP_FIN_FLAG)) == RTE_TCP_SYN_FLAG;
  if (p.idx != SessionTable::kInvalid && syn) {
    Session& old = table_.at(p.idx);
    // A new connection reusing the 4-tuple of one that is closing: LVS's conn_reuse. Drop the
    // old session and schedule afresh.
    if (old.state == TcpState::kTimeWait || old.state == TcpState::kClose) {
      removeSession(p.idx);
      p.idx = SessionTable::kInvalid;
      ++counters_.sessionsReused;
    }
  }
  bool created = false;
  if (p.idx == SessionTable::kInvalid) {
    if (tcp && p.service >= 0) {
      // SYN proxy: a SYN is answered with a cookie (no state); an ACK without a session must
      // carry a valid one. "auto" proxies only while this worker's gate is engaged, but checks
      // cookies always: they may have been handed out just before it disengaged.
      const auto mode = snap_->service(static_cast<uint32_t>(p.service)).synProxy;
      if (mode != config::SynProxyMode::kOff) {
        if (!syn) return cookieAck(m, p, nowMs);
        if (mode == config::SynProxyMode::kAuto) gate_.countSyn();
        if (mode == config::SynProxyMode::kOn || gate_.engaged()) {
          return cookieSynAck(m, p, nowMs);
        }
      }
    }
    if (tcp && !syn) return drop(DropReason::kTcpNonSynMiss);
    if (p.service < 0) return drop(p.missReason);  // a removed service takes no new sessions
    const PacketVerdict v = newSession(p, nowMs);
    if (v.verdict == Verdict::kDrop) return v;
    created = true;
  }
  Session& s = table_.at(p.idx);
  if (tcp) {
    if ((s.flags & (session::kSynProxy | session::kSynAckSeen)) == session::kSynProxy) {
      return proxyWaiting(m, p, s);  // the RS has not answered our SYN yet
    }
    auto* th = reinterpret_cast<rte_tcp_hdr*>(data + p.l4off);
    const uint8_t f = p.tcpFlags;
    const uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
    const uint32_t end = segmentEnd(th, p);
    if (created) {
      s.clientNext = end;
      s.wscale = static_cast<uint8_t>(0xF0U | offeredShift(th, p));
      if ((s.flags & session::kPpv2) != 0) shift_[p.idx].clientIsn = seq;
    }
    // Only the client's own RST and FIN may change the state: a RST must carry exactly the
    // next sequence number (RFC 5961 3.2; one merely in the RS's window is forwarded without
    // effect, the RS answers it with a challenge ACK and the real client then resets exactly),
    // a FIN must lie in the window. Anything else is an off-path guess: dropped.
    // A peer's session carried here for the first time: its client tracking is as old as the
    // peer's last message. Learn it from this segment (a RST must wait for one that is not).
    if ((s.sync & session::kLooseClient) != 0 && (f & RTE_TCP_RST_FLAG) == 0) {
      s.clientNext = seq;
      s.sync &= static_cast<uint8_t>(~session::kLooseClient);
    }
    const uint32_t rsWindow = (s.flags & session::kSynAckSeen) != 0
                                  ? windowBytes(s.rsWin, s.wscale, /*rsSide=*/true)
                                  : 65535;
    if ((f & (RTE_TCP_RST_FLAG | RTE_TCP_FIN_FLAG)) != 0 &&
        !seqWithin(seq, s.clientNext, rsWindow)) {
      return drop(DropReason::kTcpOutOfWindow);
    }
    const bool rstAccepted = seq == s.clientNext;
    // A RST takes no sequence space, and one not accepted must not move what we expect.
    if ((f & RTE_TCP_RST_FLAG) == 0 && seqAfter(end, s.clientNext)) s.clientNext = end;
    s.clientWin = rte_be_to_cpu_16(th->rx_win);
    if ((f & RTE_TCP_RST_FLAG) != 0) {
      if (rstAccepted) setState(s, TcpState::kClose);
    } else if ((f & RTE_TCP_FIN_FLAG) != 0) {
      s.flags |= session::kFinFromClient;
      if (s.state == TcpState::kEstablished) setState(s, TcpState::kFinWait);
      if ((s.flags & session::kFinFromRs) != 0) setState(s, TcpState::kLastAck);
    } else if ((f & RTE_TCP_ACK_FLAG) != 0 && (f & RTE_TCP_SYN_FLAG) == 0) {
      if (s.state == TcpState::kSynRecv && (s.flags & session::kSynAckSeen) != 0) {
        setState(s, TcpState::kEstablished);
      } else if (s.state == TcpState::kLastAck) {
        setState(s, TcpState::kTimeWait);
      }
    }
    // Sequence shift (SYN proxy, PPv2) before the option work, which sums what it changes
    // afterwards. The PPv2 header may be inserted here: the headers move.
    if ((s.flags & session::kShifted) != 0) {
      if (!shiftToRs(m, p, s)) return drop(DropReason::kPpv2NoRoom);
      data = rte_pktmbuf_mtod(m, uint8_t*);
      th = reinterpret_cast<rte_tcp_hdr*>(data + p.l4off);
    }
    // Option work: scrub what the client must not send, then TOA while the RS is silent.
    const bool wantToa = (s.flags & session::kToa) != 0 && (s.flags & session::kRsSentData) == 0 &&
                         (f & (RTE_TCP_SYN_FLAG | RTE_TCP_RST_FLAG)) == 0 &&
                         (f & RTE_TCP_ACK_FLAG) != 0 && s.state != TcpState::kSynRecv;
    if (p.tcpHdrLen > sizeof(rte_tcp_hdr) || wantToa) {
      const uint32_t before = tcpHeaderSum(th, p.tcpHdrLen);
      const uint16_t l4lenBefore = p.l4len;
      bool changed = false;
      if (p.tcpHdrLen > sizeof(rte_tcp_hdr)) {
        const auto r = toa::scrubClientOptions(reinterpret_cast<uint8_t*>(th + 1),
                                               p.tcpHdrLen - sizeof(rte_tcp_hdr),
                                               syn && snap_->stripClientTimestamps());
        changed = r.changed;
        counters_.toaForgedRemoved += r.removedToa ? 1 : 0;
        counters_.timestampsStripped += r.removedTimestamp ? 1 : 0;
      }
      if (wantToa && insertToa(m, p, s)) {
        changed = true;
        data = rte_pktmbuf_mtod(m, uint8_t*);
        th = reinterpret_cast<rte_tcp_hdr*>(data + p.l4off);
      }
      if (changed) {
        p.l4Old += before + rte_cpu_to_be_16(l4lenBefore);
        p.l4New += tcpHeaderSum(th, p.tcpHdrLen) + rte_cpu_to_be_16(p.l4len);
      }
    }
  }
  rewritePorts(data + p.l4off, s.lport, s.rport, p);
  if ((s.flags & session::kNat64) != 0) {
    nat64ToRs(m, p, s);
  } else {
    detail::rewriteL3(data, s.lip, s.rip, p);
  }
  finishChecksums(m, p);
  table_.touch(p.idx, nowMs + timeoutOf(s));
  syncAfterPacket(s, nowMs);
  ++s.packetsIn;
  if (s.rsId < kMaxRsStats) {
    auto& st = rsStats_[s.rsId];
    ++st.inPackets;
    st.inBytes += rte_pktmbuf_pkt_len(m) - p.l3off;
  }
  return PacketVerdict{Verdict::kForward, {}, 0};
}

PacketVerdict Worker::outbound(rte_mbuf*& m, Parsed& p, uint64_t nowMs) {
  if (p.idx == SessionTable::kInvalid) return drop(DropReason::kOutboundMiss);
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  if (detail::hopsLeft(data, p) <= 1) return drop(DropReason::kTtlExceeded);
  Session& s = table_.at(p.idx);

  if (p.proto == IPPROTO_TCP) {
    auto* th = reinterpret_cast<rte_tcp_hdr*>(data + p.l4off);
    const uint8_t f = p.tcpFlags;
    const uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
    const uint32_t end = segmentEnd(th, p);
    const bool synAck = (f & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG)) ==
                        (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG);
    // The client already had our SYN-ACK: the RS's answer to our SYN is consumed here.
    if ((s.flags & session::kSynProxy) != 0 && ((s.flags & session::kSynAckSeen) == 0 || synAck)) {
      return proxyRsAnswer(m, p, nowMs);
    }
    const bool acksSyn =
        (f & RTE_TCP_ACK_FLAG) != 0 && rte_be_to_cpu_32(th->recv_ack) == s.clientNext;
    if (detail::staleRsAnswer(p, acksSyn, s)) return resetStaleRs(m, p);
    if ((s.flags & session::kSynAckSeen) == 0) {
      // Before the RS answered, only an answer to the client's SYN counts: a SYN-ACK or a
      // RST (refused) that acknowledges it (RFC 793, SYN-SENT). The rest is not from the RS.
      if ((f & (RTE_TCP_RST_FLAG | RTE_TCP_FIN_FLAG)) != 0 && !(synAck || acksSyn)) {
        return drop(DropReason::kTcpOutOfWindow);
      }
      if (synAck && acksSyn) {
        s.rsNext = end;
        s.wscale = static_cast<uint8_t>((s.wscale & 0x0FU) | offeredShift(th, p) << 4);
      }
    } else if ((s.sync & session::kLooseRs) != 0 && (f & RTE_TCP_RST_FLAG) == 0) {
      s.rsNext = seq;  // a peer's session: see inbound()
      s.sync &= static_cast<uint8_t>(~session::kLooseRs);
    }
    if ((s.flags & session::kSynAckSeen) != 0 && (f & (RTE_TCP_RST_FLAG | RTE_TCP_FIN_FLAG)) != 0 &&
        !seqWithin(seq, s.rsNext, windowBytes(s.clientWin, s.wscale, false))) {
      return drop(DropReason::kTcpOutOfWindow);  // see inbound(): the same rules
    }
    const bool rstAccepted = (s.flags & session::kSynAckSeen) != 0 ? seq == s.rsNext : acksSyn;
    if ((s.flags & session::kSynAckSeen) != 0 || (synAck && acksSyn)) {
      if ((f & RTE_TCP_RST_FLAG) == 0 && seqAfter(end, s.rsNext)) s.rsNext = end;
      s.rsWin = rte_be_to_cpu_16(th->rx_win);
    }
    if ((f & RTE_TCP_RST_FLAG) != 0) {
      if (rstAccepted) setState(s, TcpState::kClose);
    } else if (synAck) {
      if (acksSyn) s.flags |= session::kSynAckSeen;
      // The client's segments grow by the TOA option: advertise a smaller MSS so that a
      // full-sized segment plus TOA still fits the RS's MSS and the MTU of our path to it.
      // The PPv2 header rides in front of the first client segment: the same clamp by its size.
      const unsigned added = (s.flags & session::kToa) != 0    ? toaLen(s)
                             : (s.flags & session::kPpv2) != 0 ? shift_[p.idx].ppLen
                                                               : 0;
      if (added != 0 && p.tcpHdrLen > sizeof(rte_tcp_hdr)) {
        auto* opts = reinterpret_cast<uint8_t*>(th + 1);
        const unsigned optLen = p.tcpHdrLen - sizeof(rte_tcp_hdr);
        const uint32_t before = csum::partial(opts, optLen);
        const unsigned headers =
            (p.v6 ? sizeof(rte_ipv6_hdr) : sizeof(rte_ipv4_hdr)) + sizeof(rte_tcp_hdr) + added;
        const unsigned mtu = snap_->rsPathMtu();
        const auto ceiling = static_cast<uint16_t>(mtu > headers ? mtu - headers : 0);
        if (toa::clampMss(opts, optLen, static_cast<uint16_t>(added), ceiling)) {
          p.l4Old += before;
          p.l4New += csum::partial(opts, optLen);
          ++counters_.mssClamped;
        }
      }
    } else if ((f & RTE_TCP_FIN_FLAG) != 0) {
      s.flags |= session::kFinFromRs;
      if (s.state == TcpState::kEstablished) setState(s, TcpState::kCloseWait);
      if ((s.flags & session::kFinFromClient) != 0) setState(s, TcpState::kLastAck);
    } else if ((f & RTE_TCP_ACK_FLAG) != 0 && s.state == TcpState::kLastAck) {
      setState(s, TcpState::kTimeWait);
    }
    if (p.l4len > p.tcpHdrLen) s.flags |= session::kRsSentData;
    if ((s.flags & session::kShifted) != 0) shiftToClient(m, p, s);
  }
  rewritePorts(data + p.l4off, s.vport, s.cport, p);
  if ((s.flags & session::kNat64) != 0) {
    if (!nat64ToClient(m, p, s)) return drop(DropReason::kNat64NoRoom);
  } else {
    detail::rewriteL3(data, s.vip, s.cip, p);
  }
  finishChecksums(m, p);
  table_.touch(p.idx, nowMs + timeoutOf(s));
  syncAfterPacket(s, nowMs);
  ++s.packetsOut;
  if (s.rsId < kMaxRsStats) {
    auto& st = rsStats_[s.rsId];
    ++st.outPackets;
    st.outBytes += rte_pktmbuf_pkt_len(m) - p.l3off;
  }
  return PacketVerdict{Verdict::kForward, {}, 0};
}

// Our SYN reached an RS that still holds a connection on this LIP:LPORT -> RIP:RPORT: one in
// TIME_WAIT that a restarted node's port cursor walked into (its sessions, which held the port
// for longer than the RS's TIME_WAIT, are gone), or one whose session this node lost. Linux
// answers such a SYN with that connection's ACK (RFC 9293 3.10.7.4; tcp_timewait_state_process)
// whenever the SYN's sequence number is not above the old connection's. The client would
// answer the ACK with a RST of SEQ = SEG.ACK (RFC 9293 3.10.7.3, SYN-SENT), which clears the
// old socket, but that RST is outside the new session's window and never reaches the RS, so
// every SYN retransmission met the same ACK and the connection timed out. The RST is sent
// here instead, in place of the ACK; the client's next SYN then opens the connection.
// detail::staleRsAnswer() says which segments qualify. The RST is never larger than the
// segment it replaces, so the write cannot run out of room.
PacketVerdict Worker::resetStaleRs(rte_mbuf* m, const Parsed& p) {
  const auto* th = reinterpret_cast<const rte_tcp_hdr*>(rte_pktmbuf_mtod(m, uint8_t*) + p.l4off);
  const uint32_t seq = rte_be_to_cpu_32(th->recv_ack);
  const uint16_t sport = th->dst_port;
  const uint16_t dport = th->src_port;
  // The segment came from the RS to the LIP: its addresses, swapped.
  const bool written =
      p.v6 ? synproxy::writeRst6(m, p.l3off, p.key.dst.b, p.key.src.b, sport, dport, seq)
           : synproxy::writeSegment(m, p.l3off,
                                    {p.key.dst.v4Raw(), p.key.src.v4Raw(), sport, dport, seq, 0,
                                     RTE_TCP_RST_FLAG, 0, nullptr, 0});
  if (!written) return drop(DropReason::kTcpOutOfWindow);
  ++counters_.staleRsResets;
  return PacketVerdict{Verdict::kForward, {}, 0};
}

bool Worker::insertToa(rte_mbuf* m, Parsed& p, const Session& s) {
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  auto* th = reinterpret_cast<rte_tcp_hdr*>(data + p.l4off);
  const unsigned optLen = p.tcpHdrLen - sizeof(rte_tcp_hdr);
  // Kind 254: the client's port and address, 4 or 16 bytes by the client's family.
  const unsigned toaBytes = toaLen(s);
  uint8_t toaOpt[toa::kToaLenV6] = {toa::kKindToa, static_cast<uint8_t>(toaBytes)};
  std::memcpy(toaOpt + 2, &s.cport, 2);
  std::memcpy(toaOpt + 4, s.cip.b, toaBytes - 4);
  uint8_t opts[toa::kMaxOptionBytes];
  const int newLen =
      toa::buildWithToa(reinterpret_cast<uint8_t*>(th + 1), optLen, toaOpt, toaBytes, opts);
  if (newLen < 0) {
    ++counters_.toaNoRoom;
    return false;
  }
  const int delta = newLen - static_cast<int>(optLen);
  // Move the headers (Ethernet, IP, fixed TCP) rather than the payload: 54 bytes for IPv4,
  // 74 for IPv6 (plus its extension headers).
  const unsigned moved = p.l4off + sizeof(rte_tcp_hdr);
  if (delta > 0) {
    auto* start = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(delta)));
    if (start == nullptr) {
      ++counters_.toaNoRoom;  // no headroom: forward without TOA
      return false;
    }
    std::memmove(start, start + delta, moved);
  } else if (delta < 0) {
    std::memmove(data - delta, data, moved);
    rte_pktmbuf_adj(m, static_cast<uint16_t>(-delta));
  }
  data = rte_pktmbuf_mtod(m, uint8_t*);
  th = reinterpret_cast<rte_tcp_hdr*>(data + p.l4off);
  std::memcpy(th + 1, opts, static_cast<size_t>(newLen));
  p.tcpHdrLen = static_cast<uint16_t>(sizeof(rte_tcp_hdr) + static_cast<unsigned>(newLen));
  th->data_off = static_cast<uint8_t>((p.tcpHdrLen / 4) << 4);
  p.ipTotal = static_cast<uint16_t>(p.ipTotal + delta);
  p.l4len = static_cast<uint16_t>(p.l4len + delta);
  if (p.v6) {  // payload length: no header checksum (the L4 length is summed by the caller)
    auto* ip6 = reinterpret_cast<rte_ipv6_hdr*>(data + p.l3off);
    ip6->payload_len = rte_cpu_to_be_16(static_cast<uint16_t>(p.ipTotal - sizeof(rte_ipv6_hdr)));
  } else {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + p.l3off);
    const uint16_t oldTotal = ip->total_length;
    ip->total_length = rte_cpu_to_be_16(p.ipTotal);
    p.ipOld += oldTotal;
    p.ipNew += ip->total_length;
  }
  ++counters_.toaInserted;
  return true;
}

}  // namespace anylb::fullnat
