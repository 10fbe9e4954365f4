// SYN proxy pieces without packet-path state: cookies, the auto-mode gate, segment writing.
#include "fullnat/synproxy.h"

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_tcp.h>

#include <cstring>

#include "toa/tcp_options.h"

namespace anylb::fullnat::synproxy {

CookieOptions optionsFromSyn(const uint8_t* opts, unsigned len) {
  CookieOptions o;
  uint16_t mss = 536;  // RFC 9293 3.7.1: the default without an MSS option
  for (unsigned i = 0; i < len;) {
    const uint8_t kind = opts[i];
    if (kind == toa::kKindEol) break;
    if (kind == toa::kKindNop) {
      ++i;
      continue;
    }
    if (i + 1 >= len || opts[i + 1] < 2 || i + opts[i + 1] > len) break;
    const uint8_t olen = opts[i + 1];
    if (kind == toa::kKindMss && olen == 4)
      mss = static_cast<uint16_t>(opts[i + 2] << 8 | opts[i + 3]);
    if (kind == 4 && olen == 2) o.sackOk = true;
    if (kind == 3 && olen == 3) o.wscale = opts[i + 2] > 14 ? 14 : opts[i + 2];
    i += olen;
  }
  o.mss = kMssTable[0];
  for (const uint16_t step : kMssTable) {
    if (step <= mss) o.mss = step;
  }
  return o;
}

uint8_t encodeOptions(const CookieOptions& o) {
  unsigned idx = 0;
  for (unsigned i = 0; i < kMssTable.size(); ++i) {
    if (kMssTable[i] == o.mss) idx = i;
  }
  return static_cast<uint8_t>(idx | (o.sackOk ? 8U : 0U) | (o.wscale & 0x0FU) << 4);
}

CookieOptions decodeOptions(uint8_t data) {
  CookieOptions o;
  o.mss = kMssTable[data & 7U];
  o.sackOk = (data & 8U) != 0;
  const uint8_t ws = data >> 4;
  o.wscale = ws > 14 ? kNoWscale : ws;
  return o;
}

const SipKey& CookieJar::keyFor(uint64_t bucket) {
  const unsigned slot = bucket & 1U;
  if (cachedBucket_[slot] != bucket) {
    const uint64_t in[2] = {bucket, bucket ^ 0x9E3779B97F4A7C15ULL};
    cachedKey_[slot] = SipKey{siphash24(master_, &in[0], 8), siphash24(master_, &in[1], 8)};
    cachedBucket_[slot] = bucket;
  }
  return cachedKey_[slot];
}

uint32_t CookieJar::mac(const CookieTuple& t, uint8_t data, uint64_t bucket) {
  uint8_t in[17];
  std::memcpy(in, &t.cip, 4);
  std::memcpy(in + 4, &t.vip, 4);
  std::memcpy(in + 8, &t.cport, 2);
  std::memcpy(in + 10, &t.vport, 2);
  std::memcpy(in + 12, &t.clientIsn, 4);
  in[16] = data;
  return static_cast<uint32_t>(siphash24(keyFor(bucket), in, sizeof(in)));
}

uint32_t CookieJar::make(const CookieTuple& t, const CookieOptions& o, uint64_t nowMs) {
  const uint8_t data = encodeOptions(o);
  return (mac(t, data, nowMs >> kBucketShift) & 0xFFFFFF00U) | data;
}

std::optional<CookieOptions> CookieJar::check(const CookieTuple& t, uint32_t cookie,
                                              uint64_t nowMs) {
  const auto data = static_cast<uint8_t>(cookie);
  const uint64_t bucket = nowMs >> kBucketShift;
  for (uint64_t age = 0; age < 2 && age <= bucket; ++age) {
    if (((cookie ^ mac(t, data, bucket - age)) & 0xFFFFFF00U) == 0) return decodeOptions(data);
  }
  return std::nullopt;
}

int FloodGate::tick(uint64_t nowMs, uint32_t synRecvSessions) {
  // Half-open sessions are a count the worker keeps anyway: engage on it at once, not at the
  // next second (a flood fills thousands of them in that second).
  if (!engaged_ && synRecvSessions > limits_.synRecv) {
    engaged_ = true;
    calmSince_ = nowMs;
    return +1;
  }
  if (nowMs - windowStart_ < 1000) return 0;
  // A window of one second (or longer, when the worker was idle): SYNs per second over it.
  const uint64_t span = nowMs - windowStart_;
  lastRate_ = static_cast<uint32_t>(uint64_t{syns_} * 1000 / (span > 0 ? span : 1));
  syns_ = 0;
  windowStart_ = nowMs;
  const bool over = synRecvSessions > limits_.synRecv || lastRate_ > limits_.synRate;
  const bool calm = synRecvSessions <= limits_.synRecv / 2 && lastRate_ <= limits_.synRate / 2;
  if (!calm) calmSince_ = nowMs;
  if (!engaged_ && over) {
    engaged_ = true;
    return +1;
  }
  if (engaged_ && calm && nowMs - calmSince_ >= limits_.holdMs) {
    engaged_ = false;
    return -1;
  }
  return 0;
}

namespace {

// `m` as one segment of `len` bytes, its checksum offload flags cleared (the writers compute
// checksums in full). False when the first segment has no room.
bool reshape(rte_mbuf* m, unsigned len) {
  if (m->next != nullptr) {
    rte_pktmbuf_free(m->next);
    m->next = nullptr;
    m->nb_segs = 1;
    m->pkt_len = m->data_len;
  }
  if (len > m->data_len + rte_pktmbuf_tailroom(m)) return false;
  m->data_len = static_cast<uint16_t>(len);
  m->pkt_len = len;
  m->ol_flags &=
      ~(RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IPV6);
  return true;
}

}  // namespace

bool writeSegment(rte_mbuf* m, uint16_t l3off, const SegmentSpec& s) {
  if (!reshape(m, l3off + sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr) + s.optLen)) return false;
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + l3off);
  auto* th = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
  std::memset(ip, 0, sizeof(*ip) + sizeof(*th));
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(
      static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr) + s.optLen));
  ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_TCP;
  ip->src_addr = s.src;
  ip->dst_addr = s.dst;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  th->src_port = s.sport;
  th->dst_port = s.dport;
  th->sent_seq = rte_cpu_to_be_32(s.seq);
  th->recv_ack = rte_cpu_to_be_32(s.ack);
  th->data_off = static_cast<uint8_t>(((sizeof(rte_tcp_hdr) + s.optLen) / 4) << 4);
  th->tcp_flags = s.flags;
  th->rx_win = rte_cpu_to_be_16(s.window);
  if (s.optLen != 0) std::memcpy(th + 1, s.opts, s.optLen);
  th->cksum = rte_ipv4_udptcp_cksum(ip, th);
  return true;
}

bool writeRst6(rte_mbuf* m, uint16_t l3off, const uint8_t* src, const uint8_t* dst, uint16_t sport,
               uint16_t dport, uint32_t seq) {
  if (!reshape(m, l3off + sizeof(rte_ipv6_hdr) + sizeof(rte_tcp_hdr))) return false;
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  auto* ip = reinterpret_cast<rte_ipv6_hdr*>(data + l3off);
  auto* th = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
  std::memset(ip, 0, sizeof(*ip) + sizeof(*th));
  ip->vtc_flow = rte_cpu_to_be_32(6U << 28);
  ip->payload_len = rte_cpu_to_be_16(sizeof(rte_tcp_hdr));
  ip->proto = IPPROTO_TCP;
  ip->hop_limits = 64;
  std::memcpy(ip->src_addr, src, 16);
  std::memcpy(ip->dst_addr, dst, 16);
  th->src_port = sport;
  th->dst_port = dport;
  th->sent_seq = rte_cpu_to_be_32(seq);
  th->data_off = static_cast<uint8_t>((sizeof(rte_tcp_hdr) / 4) << 4);
  th->tcp_flags = RTE_TCP_RST_FLAG;
  th->cksum = rte_ipv6_udptcp_cksum(ip, th);
  return true;
}

unsigned synOptions(const CookieOptions& o, uint8_t* out) {
  unsigned n = 0;
  out[n++] = toa::kKindMss;
  out[n++] = 4;
  out[n++] = static_cast<uint8_t>(o.mss >> 8);
  out[n++] = static_cast<uint8_t>(o.mss);
  if (o.sackOk) {
    out[n++] = toa::kKindNop;
    out[n++] = toa::kKindNop;
    out[n++] = 4;  // SACK-permitted
    out[n++] = 2;
  }
  if (o.wscale != kNoWscale) {
    out[n++] = toa::kKindNop;
    out[n++] = 3;  // window scale
    out[n++] = 3;
    out[n++] = o.wscale;
  }
  return n;
}

}  // namespace anylb::fullnat::synproxy
