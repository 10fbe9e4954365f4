// ICMP on the packet path. Errors (destination unreachable, including fragmentation needed,
// and time exceeded) that quote a packet of a known session are translated in their outer and
// inner headers, so that path-MTU discovery and error reporting work through FULLNAT:
//  - toward a LIP (from the RS or a router on its side), quoting LIP:LPORT -> RIP:RPORT:
//    becomes VIP -> CIP quoting CIP:CPORT -> VIP:VPORT, for the client;
//  - toward a VIP (from the client side), quoting VIP:VPORT -> CIP:CPORT:
//    becomes LIP -> RIP quoting RIP:RPORT -> LIP:LPORT, for the RS.
// Everything else for the node's own addresses goes to the kernel. ICMP errors are rare, so
// the ICMP checksum is recomputed over the message rather than updated.
#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf_dyn.h>

#include "fullnat/engine_internal.h"
#include "fullnat/worker.h"

namespace anylb::fullnat {

using session::Dir;
using session::SessionTable;

namespace {
constexpr uint8_t kIcmpDestUnreachable = 3;
constexpr uint8_t kIcmpTimeExceeded = 11;

uint32_t load32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

namespace detail {

// An ICMP error toward a VIP quotes a client flow, and the worker that owns it is the one the
// client's packets reach (RSS, or af_packet fanout, hash the client's 5-tuple: not something
// this worker can compute for every port type). So a worker without the session passes the
// error on to the next worker, until one has it or every worker has looked. The hop count
// lives in the mbuf: a dynamic flag (clear in every received mbuf, since the PMDs reset
// ol_flags) says it is valid, and hash.usr carries it.
uint64_t icmpPassFlag() {
  static const uint64_t flag = [] {
    const rte_mbuf_dynflag desc = {"anylb_icmp_pass", 0};
    const int bit = rte_mbuf_dynflag_register(&desc);
    return bit < 0 ? uint64_t{0} : uint64_t{1} << bit;
  }();
  return flag;
}

}  // namespace detail

uint32_t Worker::icmpSession(rte_mbuf* m, const session::FlowKey& key, bool toLip,
                             PacketVerdict& miss) {
  // key.dport is the quoted packet's source port: toward a LIP, our LPORT, which names the
  // worker that owns the session.
  if (toLip) {
    const uint16_t owner = ownerOf(key.dport, workers_);
    if (owner != id_) {
      miss = PacketVerdict{Verdict::kRedirect, {}, owner};
      return SessionTable::kInvalid;
    }
  }
  const uint32_t idx = table_.find(table_.hash(key), toLip ? Dir::kOut : Dir::kIn, key);
  if (idx != SessionTable::kInvalid) return idx;
  const uint64_t passFlag = detail::icmpPassFlag();
  if (!toLip && workers_ > 1 && passFlag != 0) {
    const uint32_t passed = (m->ol_flags & passFlag) != 0 ? m->hash.usr : 0;
    if (passed + 1 < workers_) {
      m->ol_flags |= passFlag;
      m->hash.usr = passed + 1;
      miss = PacketVerdict{Verdict::kRedirect, {}, static_cast<uint16_t>((id_ + 1) % workers_)};
      return SessionTable::kInvalid;
    }
  }
  miss = drop(DropReason::kIcmpNoSession);
  return SessionTable::kInvalid;
}

void Worker::unshiftQuotedSeq(uint8_t* ql4, uint32_t idx, bool toLip, uint32_t& sumOld,
                              uint32_t& sumNew) {
  const session::Session& s = table_.at(idx);
  if ((s.flags & session::kShifted) == 0) return;
  const ShiftState& st = shift_[idx];
  uint32_t seqBe;
  std::memcpy(&seqBe, ql4 + 4, 4);
  const uint32_t seq = rte_be_to_cpu_32(seqBe);
  // toLip: our segment to the RS (client bytes, PPv2 header counted) -> the client's own;
  // toVip: our segment to the client (RS bytes + outDelta) -> the RS's own.
  const uint32_t mapped = toLip ? ((s.flags & session::kPpv2) != 0 ? ppAckToClient(seq, st) : seq)
                                : ((s.flags & session::kSynProxy) != 0 ? seq - st.outDelta : seq);
  const uint32_t mappedBe = rte_cpu_to_be_32(mapped);
  sumOld = csum::sum32(seqBe);
  sumNew = csum::sum32(mappedBe);
  std::memcpy(ql4 + 4, &mappedBe, 4);
}

PacketVerdict Worker::icmp(rte_mbuf* m, Parsed& p) {
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + p.l3off);
  auto* ic = reinterpret_cast<rte_icmp_hdr*>(data + p.l4off);
  const Addr dst = Addr::fromV4Raw(load32(&ip->dst_addr));
  const bool toLip = snap_->isLip4(dst.v4Raw());
  const bool toVip = !toLip && snap_->isVip(dst);
  const bool isError = ic->icmp_type == kIcmpDestUnreachable || ic->icmp_type == kIcmpTimeExceeded;
  if (!toLip && !toVip) {
    if (snap_->isNodeAddress(dst)) return PacketVerdict{Verdict::kToKernel, {}, 0};
    return drop(DropReason::kNotLocal);
  }
  if (!isError) return drop(DropReason::kIcmpUnsupported);

  // The quoted packet: its IP header and at least the 8 bytes of L4 header RFC 792 promises.
  const unsigned quoteOff = p.l4off + 8U;
  const unsigned avail = p.l3off + p.ipTotal - quoteOff;
  if (avail < sizeof(rte_ipv4_hdr)) return drop(DropReason::kIcmpTruncated);
  auto* qip = reinterpret_cast<rte_ipv4_hdr*>(data + quoteOff);
  const unsigned qihl = (qip->version_ihl & 0x0F) * 4U;
  if ((qip->version_ihl >> 4) != 4 || qihl < sizeof(rte_ipv4_hdr) || avail < qihl + 8) {
    return drop(DropReason::kIcmpTruncated);
  }
  const uint8_t qproto = qip->next_proto_id;
  if (qproto != IPPROTO_TCP && qproto != IPPROTO_UDP) return drop(DropReason::kIcmpNoSession);
  uint8_t* ql4 = data + quoteOff + qihl;
  const unsigned ql4Quoted = avail - qihl;
  uint16_t qsport;
  uint16_t qdport;
  std::memcpy(&qsport, ql4, 2);
  std::memcpy(&qdport, ql4 + 2, 2);

  // The quoted packet went the other way: look its reply direction up.
  session::FlowKey key{Addr::fromV4Raw(load32(&qip->dst_addr)),
                       Addr::fromV4Raw(load32(&qip->src_addr)), qdport, qsport, qproto};
  PacketVerdict miss;
  const uint32_t idx = icmpSession(m, key, toLip, miss);
  if (idx == SessionTable::kInvalid) return miss;
  if (ip->time_to_live <= 1) return drop(DropReason::kTtlExceeded);
  const session::Session& s = table_.at(idx);
  if ((s.flags & session::kNat64) != 0) return icmpNat64ToClient(m, p, idx);  // toLip

  // New outer and quoted endpoints.
  uint32_t outerSrc;
  uint32_t outerDst;
  uint32_t qSrc;
  uint32_t qDst;
  uint16_t qSport;
  uint16_t qDport;
  if (toLip) {  // for the client: VIP -> CIP, quoting CIP:CPORT -> VIP:VPORT
    outerSrc = s.vip.v4Raw();
    outerDst = s.cip.v4Raw();
    qSrc = s.cip.v4Raw();
    qSport = s.cport;
    qDst = s.vip.v4Raw();
    qDport = s.vport;
  } else {  // for the RS: LIP -> RIP, quoting RIP:RPORT -> LIP:LPORT
    outerSrc = s.lip.v4Raw();
    outerDst = s.rip.v4Raw();
    qSrc = s.rip.v4Raw();
    qSport = s.rport;
    qDst = s.lip.v4Raw();
    qDport = s.lport;
  }

  // A shifted session (SYN proxy, PPv2): the quoted sequence number back into the space of the
  // endpoint that gets the error, or its TCP ignores it (Linux drops ICMP errors quoting a
  // sequence number outside snd_una..snd_nxt) and path-MTU discovery stalls.
  uint32_t seqOld = 0;
  uint32_t seqNew = 0;
  if (qproto == IPPROTO_TCP) unshiftQuotedSeq(ql4, idx, toLip, seqOld, seqNew);
  // Quoted L4 checksum, when the quote holds it (UDP: bytes 6-7, TCP: 16-17).
  const unsigned ckOff = qproto == IPPROTO_UDP ? 6 : 16;
  if (ql4Quoted >= ckOff + 2) {
    uint16_t ck;
    std::memcpy(&ck, ql4 + ckOff, 2);
    if (!(qproto == IPPROTO_UDP && ck == 0)) {
      const uint32_t oldSum =
          csum::sum32(qip->src_addr) + csum::sum32(qip->dst_addr) + qsport + qdport + seqOld;
      const uint32_t newSum = csum::sum32(qSrc) + csum::sum32(qDst) + qSport + qDport + seqNew;
      ck = csum::update(ck, oldSum, newSum);
      std::memcpy(ql4 + ckOff, &ck, 2);
    }
  }
  std::memcpy(ql4, &qSport, 2);
  std::memcpy(ql4 + 2, &qDport, 2);
  qip->hdr_checksum =
      csum::update(qip->hdr_checksum, csum::sum32(qip->src_addr) + csum::sum32(qip->dst_addr),
                   csum::sum32(qSrc) + csum::sum32(qDst));
  qip->src_addr = qSrc;
  qip->dst_addr = qDst;

  // Outer header: addresses and TTL (ICMP has no pseudo-header; its sum is recomputed).
  detail::rewriteIp(ip, outerSrc, outerDst, p);  // its L4 half is unused for ICMP
  ic->icmp_cksum = 0;
  ic->icmp_cksum = csum::finish(csum::partial(ic, p.l4len));
  if (opts_.txChecksumOffload) {
    m->l2_len = p.l3off;
    m->l3_len = p.l4off - p.l3off;
    m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
    ip->hdr_checksum = 0;
  } else {
    ip->hdr_checksum = csum::update(ip->hdr_checksum, p.ipOld, p.ipNew);
  }
  ++counters_.icmpTranslated;
  return PacketVerdict{Verdict::kForward, {}, 0};
}

}  // namespace anylb::fullnat
