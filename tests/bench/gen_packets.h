// Frames of the memif traffic generator (memif_gen.cc): TCP/IPv4 builders with full checksums
// and a parser that checks what anylbd sent back (lengths, IP and TCP checksums, options).
// Addresses and ports are host order in the arguments and results, network order on the wire.
// Used only by the generator's single lcore.
#pragma once

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include <cstdint>
#include <cstring>

namespace anylb::bench::gen {

inline constexpr uint8_t kFin = RTE_TCP_FIN_FLAG;
inline constexpr uint8_t kSyn = RTE_TCP_SYN_FLAG;
inline constexpr uint8_t kPsh = RTE_TCP_PSH_FLAG;
inline constexpr uint8_t kAck = RTE_TCP_ACK_FLAG;

// Payload of every data segment: 10 bytes, so an established frame is 64 bytes (14 + 20 + 20
// + 10), the minimum Ethernet frame without FCS. Carries the session index, so that a segment
// is matched to its session whatever its sequence number.
inline constexpr uint16_t kPayloadMagic = 0xa1b6;
struct __attribute__((packed)) Payload {
  uint16_t magic;  // kPayloadMagic, network order
  uint32_t index;  // session index, network order
  uint8_t dir;     // 0 client -> VIP, 1 RS -> LIP
  uint8_t pad[3];
};
static_assert(sizeof(Payload) == 10);

struct Frame {
  uint64_t srcMac = 0;  // low 6 bytes, wire order
  uint64_t dstMac = 0;
  uint32_t srcIp = 0;
  uint32_t dstIp = 0;
  uint16_t srcPort = 0;
  uint16_t dstPort = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  const uint8_t* options = nullptr;  // a multiple of 4 bytes
  uint8_t optionLen = 0;
  const Payload* payload = nullptr;
};

// Writes `f` into `m` (reset first). Returns false if the mbuf has no room.
inline bool buildTcp(rte_mbuf* m, const Frame& f) {
  const uint16_t payLen = f.payload != nullptr ? sizeof(Payload) : 0;
  const auto l4 = static_cast<uint16_t>(sizeof(rte_tcp_hdr) + f.optionLen + payLen);
  const auto total = static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + l4);
  auto* eth =
      reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, sizeof(rte_ether_hdr) + total));
  if (eth == nullptr) return false;
  std::memcpy(eth->dst_addr.addr_bytes, &f.dstMac, 6);
  std::memcpy(eth->src_addr.addr_bytes, &f.srcMac, 6);
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = 0;
  ip->total_length = rte_cpu_to_be_16(total);
  ip->packet_id = 0;
  ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_TCP;
  ip->hdr_checksum = 0;
  ip->src_addr = rte_cpu_to_be_32(f.srcIp);
  ip->dst_addr = rte_cpu_to_be_32(f.dstIp);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
  tcp->src_port = rte_cpu_to_be_16(f.srcPort);
  tcp->dst_port = rte_cpu_to_be_16(f.dstPort);
  tcp->sent_seq = rte_cpu_to_be_32(f.seq);
  tcp->recv_ack = rte_cpu_to_be_32(f.ack);
  tcp->data_off = static_cast<uint8_t>(((sizeof(rte_tcp_hdr) + f.optionLen) / 4) << 4);
  tcp->tcp_flags = f.flags;
  tcp->rx_win = rte_cpu_to_be_16(65535);
  tcp->cksum = 0;
  tcp->tcp_urp = 0;
  auto* opt = reinterpret_cast<uint8_t*>(tcp + 1);
  if (f.optionLen != 0) std::memcpy(opt, f.options, f.optionLen);
  if (payLen != 0) std::memcpy(opt + f.optionLen, f.payload, payLen);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
  return true;
}

// What is wrong with a received frame; kOk if nothing. One reason per frame, the first found.
enum class Bad : uint8_t {
  kOk,
  kNotIpv4TcpFrame,  // not Ethernet/IPv4/TCP (ARP is handled before)
  kBadLength,        // IP header or total length inconsistent with the frame
  kBadIpChecksum,
  kBadTcpChecksum,
  kUnknownSession,  // the index it carries names no session the generator opened
  kWrongTuple,      // addresses or ports are not the session's translated ones
  kWrongState,      // a SYN, SYN-ACK... where the session is not at that step
  kNoToa,           // the client's handshake-completing ACK reached the RS without TOA
  kBadToa,          // TOA present but not the client's address and port
  kTimestampKept,   // the client SYN's timestamp option reached the RS (stripped by default)
  kMssNotClamped,   // the RS's MSS reached the client unclamped (no room left for TOA)
  kWrongPayload,    // payload index or direction differ from the session and direction
  kCount
};
inline constexpr const char* kBadNames[] = {"ok",
                                            "not_ipv4_tcp",
                                            "bad_length",
                                            "bad_ip_checksum",
                                            "bad_tcp_checksum",
                                            "unknown_session",
                                            "wrong_tuple",
                                            "wrong_state",
                                            "no_toa",
                                            "bad_toa",
                                            "timestamp_kept",
                                            "mss_not_clamped",
                                            "wrong_payload"};
static_assert(std::size(kBadNames) == static_cast<size_t>(Bad::kCount));

struct Parsed {
  uint32_t srcIp = 0;  // host order
  uint32_t dstIp = 0;
  uint16_t srcPort = 0;
  uint16_t dstPort = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  const uint8_t* options = nullptr;
  uint16_t optionLen = 0;
  const Payload* payload = nullptr;  // set if the segment carries exactly a Payload
  uint16_t payloadLen = 0;
};

// Checks the frame's structure and both checksums (a full recompute: what a receiving kernel
// does). Single-segment mbufs only (64-byte frames).
inline Bad parseTcp(const rte_mbuf* m, Parsed& p) {
  const uint32_t len = rte_pktmbuf_data_len(m);
  if (len < sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr)) {
    return Bad::kNotIpv4TcpFrame;
  }
  const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) return Bad::kNotIpv4TcpFrame;
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eth + 1);
  if (ip->next_proto_id != IPPROTO_TCP || (ip->version_ihl >> 4) != 4) {
    return Bad::kNotIpv4TcpFrame;
  }
  const uint32_t ihl = (ip->version_ihl & 0xf) * 4U;
  const uint32_t total = rte_be_to_cpu_16(ip->total_length);
  if (ihl < sizeof(rte_ipv4_hdr) || total < ihl + sizeof(rte_tcp_hdr) ||
      sizeof(rte_ether_hdr) + total > len) {
    return Bad::kBadLength;
  }
  {
    // Recompute with the field zeroed (options are refused: anylbd never adds any).
    rte_ipv4_hdr copy;
    std::memcpy(&copy, ip, sizeof(copy));
    copy.hdr_checksum = 0;
    if (ihl != sizeof(rte_ipv4_hdr) || rte_ipv4_cksum(&copy) != ip->hdr_checksum) {
      return Bad::kBadIpChecksum;
    }
  }
  const auto* tcp =
      reinterpret_cast<const rte_tcp_hdr*>(reinterpret_cast<const uint8_t*>(ip) + ihl);
  {
    // The one's complement sum over pseudo-header and segment, checksum field included, is
    // 0xffff when the checksum is right.
    uint32_t sum = rte_ipv4_phdr_cksum(ip, 0);
    sum += rte_raw_cksum(tcp, total - ihl);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    if (sum != 0xffff) return Bad::kBadTcpChecksum;
  }
  const uint32_t doff = (tcp->data_off >> 4) * 4U;
  if (doff < sizeof(rte_tcp_hdr) || ihl + doff > total) return Bad::kBadLength;
  p.srcIp = rte_be_to_cpu_32(ip->src_addr);
  p.dstIp = rte_be_to_cpu_32(ip->dst_addr);
  p.srcPort = rte_be_to_cpu_16(tcp->src_port);
  p.dstPort = rte_be_to_cpu_16(tcp->dst_port);
  p.seq = rte_be_to_cpu_32(tcp->sent_seq);
  p.ack = rte_be_to_cpu_32(tcp->recv_ack);
  p.flags = tcp->tcp_flags;
  p.options = reinterpret_cast<const uint8_t*>(tcp + 1);
  p.optionLen = static_cast<uint16_t>(doff - sizeof(rte_tcp_hdr));
  p.payloadLen = static_cast<uint16_t>(total - ihl - doff);
  const auto* pay = reinterpret_cast<const Payload*>(reinterpret_cast<const uint8_t*>(tcp) + doff);
  p.payload = p.payloadLen == sizeof(Payload) && pay->magic == rte_cpu_to_be_16(kPayloadMagic)
                  ? pay
                  : nullptr;
  return Bad::kOk;
}

// The first TCP option of `kind` in p's options: its bytes (kind and length included) or
// nullptr. Stops at a malformed option.
inline const uint8_t* findOption(const Parsed& p, uint8_t kind, uint8_t& len) {
  uint16_t i = 0;
  while (i < p.optionLen) {
    const uint8_t k = p.options[i];
    if (k == 0) break;  // end of option list
    if (k == 1) {       // NOP
      ++i;
      continue;
    }
    if (i + 1 >= p.optionLen) break;
    const uint8_t l = p.options[i + 1];
    if (l < 2 || i + l > p.optionLen) break;
    if (k == kind) {
      len = l;
      return p.options + i;
    }
    i = static_cast<uint16_t>(i + l);
  }
  return nullptr;
}

}  // namespace anylb::bench::gen
