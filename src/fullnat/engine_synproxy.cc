// The packet-path stages of the SYN proxy (synproxy.h) and of the sequence shift that it shares
// with Proxy Protocol v2 (seq_shift.h, ppv2.h). Called from inbound()/outbound() (engine.cc);
// the same rules apply: no allocation but mbufs from the packets' own pool, no locks, no logs.
//
// A proxied connection:
//   client SYN            -> cookieSynAck: answered in place with a cookie SYN-ACK, no state
//   client ACK (+data)    -> cookieAck: cookie checked; session created (SYN_RECV); the ACK
//                            becomes our SYN to the RS (seq = the client's ISN, so client->RS
//                            sequence numbers need no shift); data is held (parked)
//   client segments       -> proxyWaiting: the first with data is held, each becomes a SYN
//                            retransmission to the RS
//   RS SYN-ACK            -> proxyRsAnswer: outDelta = cookie ISN - RS ISN; the held segment
//                            (or an ACK as the client would send it) goes to the RS through
//                            inbound() with TOA or the PPv2 header; RS's SYN-ACK is consumed
//   RS RST                -> RST to the client, session freed
//   no answer             -> expire(): RST to the client (Worker::takeGenerated)
#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>

#include <algorithm>
#include <cstring>

#include "common/checksum.h"
#include "fullnat/engine_internal.h"
#include "fullnat/ppv2.h"
#include "fullnat/worker.h"
#include "toa/tcp_options.h"

namespace anylb::fullnat {

using session::Session;
using session::TcpState;

namespace {

constexpr uint8_t kSynAckFlags = RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG;

inline rte_tcp_hdr* tcpOf(rte_mbuf* m, const detail::Parsed& p) {
  return reinterpret_cast<rte_tcp_hdr*>(rte_pktmbuf_mtod(m, uint8_t*) + p.l4off);
}

// Bytes a client may put in one segment toward the RS: the path's MTU less IP, TCP and what we
// add (TOA option or PPv2 header).
uint16_t mssTowardRs(unsigned pathMtu, unsigned added) {
  const unsigned headers = sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr) + added;
  const unsigned mss = pathMtu > headers + 536 ? pathMtu - headers : 536;
  return static_cast<uint16_t>(std::min(mss, 65535U));
}

}  // namespace

PacketVerdict Worker::cookieSynAck(rte_mbuf* m, Parsed& p, uint64_t nowMs) {
  auto* th = tcpOf(m, p);
  const uint32_t clientIsn = rte_be_to_cpu_32(th->sent_seq);
  const auto offered = synproxy::optionsFromSyn(reinterpret_cast<const uint8_t*>(th + 1),
                                                p.tcpHdrLen - sizeof(rte_tcp_hdr));
  const ServiceFwd& svc = snap_->service(static_cast<uint32_t>(p.service));
  const unsigned added = svc.clientAddress == config::ClientAddress::kToa ? toa::kToaLenV4
                         : svc.clientAddress == config::ClientAddress::kProxyProtocolV2
                             ? ppv2::kHeaderLenV4
                             : 0;
  synproxy::CookieOptions ours;
  ours.mss = mssTowardRs(snap_->rsPathMtu(), added);
  ours.sackOk = offered.sackOk;
  ours.wscale = offered.wscale == synproxy::kNoWscale
                    ? synproxy::kNoWscale
                    : static_cast<uint8_t>(snap_->synProxy().wscale);
  uint8_t opts[12];
  const unsigned optLen = synproxy::synOptions(ours, opts);
  const uint32_t cookie = cookies_.make(
      {p.key.src.v4Raw(), p.key.dst.v4Raw(), p.key.sport, p.key.dport, clientIsn}, offered, nowMs);
  synproxy::writeSegment(m, p.l3off,
                         {p.key.dst.v4Raw(), p.key.src.v4Raw(), p.key.dport, p.key.sport, cookie,
                          clientIsn + 1, kSynAckFlags, 65535, opts, optLen});
  ++counters_.synproxyCookiesSent;
  return PacketVerdict{Verdict::kForward, {}, 0};
}

PacketVerdict Worker::cookieAck(rte_mbuf*& m, Parsed& p, uint64_t nowMs) {
  auto* th = tcpOf(m, p);
  const uint8_t f = p.tcpFlags;
  if ((f & (RTE_TCP_SYN_FLAG | RTE_TCP_RST_FLAG | RTE_TCP_FIN_FLAG)) != 0 ||
      (f & RTE_TCP_ACK_FLAG) == 0) {
    return drop(DropReason::kTcpNonSynMiss);
  }
  const uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
  const uint32_t clientIsn = seq - 1;
  const uint32_t proxyIsn = rte_be_to_cpu_32(th->recv_ack) - 1;
  const auto opts = cookies_.check(
      {p.key.src.v4Raw(), p.key.dst.v4Raw(), p.key.sport, p.key.dport, clientIsn}, proxyIsn, nowMs);
  if (!opts) return drop(DropReason::kSynproxyBadCookie);
  const PacketVerdict v = newSession(p, nowMs);
  if (v.verdict == Verdict::kDrop) return v;
  Session& s = table_.at(p.idx);
  s.flags |= session::kSynProxy;
  ShiftState& st = shift_[p.idx];
  const uint8_t ppLen = (s.flags & session::kPpv2) != 0 ? st.ppLen : 0;
  const unsigned clientReads =
      opts->wscale == synproxy::kNoWscale ? 0 : snap_->synProxy().wscale & 0x0FU;
  // Until the RS answers, outDelta holds the cookie's options (writeSynToRs resends them).
  st = ShiftState{synproxy::encodeOptions(*opts),         proxyIsn, clientIsn, ppLen, kShiftProxied,
                  static_cast<uint8_t>(clientReads << 4), 0,        nullptr};
  s.clientNext = seq + (p.l4len - p.tcpHdrLen);
  s.clientWin = rte_be_to_cpu_16(th->rx_win);
  s.wscale = static_cast<uint8_t>(0xF0U | (opts->wscale & 0x0FU));
  table_.touch(p.idx, nowMs + snap_->synProxy().rsTimeoutMs);
  ++counters_.synproxyAccepted;
  return proxyWaiting(m, p, s);
}

PacketVerdict Worker::proxyWaiting(rte_mbuf*& m, Parsed& p, Session& s) {
  ShiftState& st = shift_[p.idx];
  const uint8_t f = p.tcpFlags;
  auto* th = tcpOf(m, p);
  const uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
  if ((f & RTE_TCP_RST_FLAG) != 0) {
    if (seq != s.clientNext) return drop(DropReason::kTcpOutOfWindow);
    // The client gave up before the RS answered: reset our half-open connection to the RS too.
    synproxy::writeSegment(m, p.l3off,
                           {s.lip.v4Raw(), s.rip.v4Raw(), s.lport, s.rport, st.clientIsn + 1, 0,
                            RTE_TCP_RST_FLAG, 0, nullptr, 0});
    removeSession(p.idx);
    return PacketVerdict{Verdict::kForward, {}, 0};
  }
  if ((f & RTE_TCP_SYN_FLAG) != 0) return drop(DropReason::kSynproxyRsPending);
  if (p.l4len > p.tcpHdrLen && st.parked == nullptr && seq == st.clientIsn + 1) {
    // The client's first data: held until the RS answers; a SYN to the RS takes its place.
    rte_mbuf* syn = freshFrame();
    if (syn == nullptr) return drop(DropReason::kSynproxyRsPending);
    const uint32_t end = seq + (p.l4len - p.tcpHdrLen) + ((f & RTE_TCP_FIN_FLAG) != 0 ? 1 : 0);
    if (static_cast<int32_t>(end - s.clientNext) > 0) s.clientNext = end;
    st.parked = m;
    m = syn;
    writeSynToRs(m, sizeof(rte_ether_hdr), s);
    return PacketVerdict{Verdict::kForward, {}, 0};
  }
  // Anything else from the client (a duplicate ACK, a retransmission of held data, more data):
  // becomes a retransmission of our SYN. Data not held is the client's to send again.
  writeSynToRs(m, p.l3off, s);
  return PacketVerdict{Verdict::kForward, {}, 0};
}

bool Worker::writeSynToRs(rte_mbuf* m, uint16_t l3off, const Session& s) {
  const ShiftState& st = shift_[table_.indexOf(s)];
  const auto o = synproxy::decodeOptions(static_cast<uint8_t>(st.outDelta));
  uint8_t opts[12];
  const unsigned optLen = synproxy::synOptions(o, opts);
  // A SYN's window is never scaled (RFC 7323 2.2): the client's, as bytes, capped.
  const unsigned shift = o.wscale == synproxy::kNoWscale ? 0 : o.wscale;
  const auto win = static_cast<uint16_t>(std::min<uint64_t>(uint64_t{s.clientWin} << shift, 65535));
  return synproxy::writeSegment(m, l3off,
                                {s.lip.v4Raw(), s.rip.v4Raw(), s.lport, s.rport, st.clientIsn, 0,
                                 RTE_TCP_SYN_FLAG, win, opts, optLen});
}

void Worker::writeRstToClient(rte_mbuf* m, uint16_t l3off, const Session& s) {
  const ShiftState& st = shift_[table_.indexOf(s)];
  synproxy::writeSegment(m, l3off,
                         {s.vip.v4Raw(), s.cip.v4Raw(), s.vport, s.cport, st.proxyIsn + 1,
                          s.clientNext, RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, 0, nullptr, 0});
}

PacketVerdict Worker::proxyRsAnswer(rte_mbuf*& m, Parsed& p, uint64_t nowMs) {
  Session& s = table_.at(p.idx);
  ShiftState& st = shift_[p.idx];
  auto* th = tcpOf(m, p);
  const uint8_t f = p.tcpFlags;
  const uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
  const bool acksOurSyn =
      (f & RTE_TCP_ACK_FLAG) != 0 && rte_be_to_cpu_32(th->recv_ack) == st.clientIsn + 1;
  const bool synAck = (f & (kSynAckFlags | RTE_TCP_RST_FLAG)) == kSynAckFlags;
  if ((s.flags & session::kSynAckSeen) == 0) {
    if ((f & RTE_TCP_RST_FLAG) != 0 && acksOurSyn) {
      // Refused (nothing listens, or the RS is full): the client learns it as it would have
      // without the proxy, from a RST.
      ++counters_.synproxyRsRefused;
      writeRstToClient(m, p.l3off, s);
      removeSession(p.idx);
      return PacketVerdict{Verdict::kForward, {}, 0};
    }
    // An older connection's ACK (engine.cc); the client's next segment sends our SYN again.
    if (detail::staleRsAnswer(p, acksOurSyn, s)) return resetStaleRs(m, p);
    if (!synAck || !acksOurSyn) return drop(DropReason::kTcpOutOfWindow);
    const unsigned rsShift = detail::offeredShift(th, p);
    const unsigned clientShift = s.wscale & 0x0FU;
    const bool scaled = clientShift != 0x0F && rsShift != 0x0F;
    // The RS's windows: sent with its shift (if scaling was agreed with it), read by the client
    // with what our SYN-ACK offered. The client's: sent with its own shift (our SYN-ACK agreed
    // to scaling whenever it offered), read by the RS only if the RS agreed too.
    const unsigned rsSends = scaled ? rsShift : 0;
    const unsigned clientReads = st.rsWindowShifts >> 4;
    const unsigned clientSends = clientShift != 0x0F ? clientShift : 0;
    const unsigned rsReads = scaled ? clientShift : 0;
    st.rsWindowShifts = static_cast<uint8_t>(rsSends | clientReads << 4);
    st.clientWindowShifts = static_cast<uint8_t>(clientSends | rsReads << 4);
    if (rsSends != clientReads) st.flags |= kShiftRsWindow;
    if (clientSends != rsReads) st.flags |= kShiftClientWindow;
    st.outDelta = st.proxyIsn - seq;
    s.rsNext = seq + 1;
    s.rsWin = rte_be_to_cpu_16(th->rx_win);
    s.wscale = static_cast<uint8_t>((s.wscale & 0x0FU) | rsShift << 4);
    s.flags |= session::kSynAckSeen;
    setState(s, TcpState::kEstablished);
  } else if (!synAck || seq != st.proxyIsn - st.outDelta) {
    return drop(DropReason::kTcpOutOfWindow);  // only the RS's own SYN-ACK, retransmitted
  }
  // Answer the RS as the client would have: with its held first segment, or with an ACK.
  if (rte_mbuf* held = st.parked; held != nullptr) {
    st.parked = nullptr;
    rte_pktmbuf_free(m);
    m = held;
  } else {
    synproxy::writeSegment(m, p.l3off,
                           {s.cip.v4Raw(), s.vip.v4Raw(), s.cport, s.vport, s.clientNext,
                            st.proxyIsn + 1, RTE_TCP_ACK_FLAG, s.clientWin, nullptr, 0});
  }
  const uint32_t idx = p.idx;
  p.reset();
  PacketVerdict v;
  if (!parse(m, p, v)) return v;
  p.idx = idx;
  return inbound(m, p, nowMs);
}

bool Worker::shiftToRs(rte_mbuf* m, Parsed& p, Session& s) {
  ShiftState& st = shift_[p.idx];
  const uint8_t f = p.tcpFlags;
  if ((f & RTE_TCP_SYN_FLAG) != 0) return true;  // the client's SYN keeps its ISN
  auto* th = tcpOf(m, p);
  const bool ppv2 = (s.flags & session::kPpv2) != 0;
  const bool carryHeader = ppv2 && (st.flags & kShiftHeaderAcked) == 0 &&
                           (s.flags & session::kSynAckSeen) != 0 && (f & RTE_TCP_RST_FLAG) == 0 &&
                           rte_be_to_cpu_32(th->sent_seq) == st.clientIsn + 1;
  const uint32_t seqAdd = ppv2 && !carryHeader ? st.ppLen : 0;
  const uint32_t ackSub = (s.flags & session::kSynProxy) != 0 ? st.outDelta : 0;
  if (seqAdd != 0 || ackSub != 0) {
    shiftSeqAck(
        th, p.tcpHdrLen, seqAdd, [ackSub](uint32_t a) { return a - ackSub; }, p.l4Old, p.l4New);
  }
  if ((st.flags & kShiftClientWindow) != 0) {
    rescaleWindow(th, st.clientWindowShifts & 0x0FU, st.clientWindowShifts >> 4, p.l4Old, p.l4New);
  }
  return !carryHeader || insertPpv2(m, p, s);
}

void Worker::shiftToClient(rte_mbuf* m, Parsed& p, Session& s) {
  ShiftState& st = shift_[p.idx];
  auto* th = tcpOf(m, p);
  const bool ppv2 = (s.flags & session::kPpv2) != 0;
  if (ppv2 && (st.flags & kShiftHeaderAcked) == 0 && (p.tcpFlags & RTE_TCP_ACK_FLAG) != 0 &&
      seqDiff(rte_be_to_cpu_32(th->recv_ack), st.clientIsn + 1 + st.ppLen) >= 0) {
    st.flags |= kShiftHeaderAcked;
  }
  const uint32_t seqAdd = (s.flags & session::kSynProxy) != 0 ? st.outDelta : 0;
  if (seqAdd != 0 || ppv2) {
    shiftSeqAck(
        th, p.tcpHdrLen, seqAdd,
        [&st, ppv2](uint32_t a) { return ppv2 ? ppAckToClient(a, st) : a; }, p.l4Old, p.l4New);
  }
  if ((st.flags & kShiftRsWindow) != 0) {
    rescaleWindow(th, st.rsWindowShifts & 0x0FU, st.rsWindowShifts >> 4, p.l4Old, p.l4New);
  }
}

bool Worker::insertPpv2(rte_mbuf* m, Parsed& p, const Session& s) {
  uint8_t hdr[ppv2::kMaxHeaderLen];
  const unsigned n = s.family == 6
                         ? ppv2::writeV6(hdr, s.cip.b, s.vip.b, s.cport, s.vport)
                         : ppv2::writeV4(hdr, s.cip.v4Raw(), s.vip.v4Raw(), s.cport, s.vport);
  // Move the headers (Ethernet, IP, TCP) forward into the headroom and put the PPv2 header
  // between them and the payload: at most 14 + 60 + 60 bytes move, never the payload.
  const unsigned moved = p.l4off + p.tcpHdrLen;
  auto* start = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(n)));
  if (start == nullptr) return false;
  std::memmove(start, start + n, moved);
  std::memcpy(start + moved, hdr, n);
  const uint16_t oldL4Len = rte_cpu_to_be_16(p.l4len);
  p.ipTotal = static_cast<uint16_t>(p.ipTotal + n);
  p.l4len = static_cast<uint16_t>(p.l4len + n);
  if (p.v6) {  // payload length: no header checksum
    auto* ip6 = reinterpret_cast<rte_ipv6_hdr*>(start + p.l3off);
    ip6->payload_len = rte_cpu_to_be_16(static_cast<uint16_t>(p.ipTotal - sizeof(rte_ipv6_hdr)));
  } else {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(start + p.l3off);
    const uint16_t oldTotal = ip->total_length;
    ip->total_length = rte_cpu_to_be_16(p.ipTotal);
    p.ipOld += oldTotal;
    p.ipNew += ip->total_length;
  }
  // The TCP checksum covers the new bytes (at an even offset: TCP headers are whole words, so
  // the payload after them keeps its alignment) and the pseudo-header's new length.
  p.l4Old += oldL4Len;
  p.l4New += rte_cpu_to_be_16(p.l4len) + csum::partial(hdr, n);
  ++counters_.ppv2Headers;
  return true;
}

}  // namespace anylb::fullnat
