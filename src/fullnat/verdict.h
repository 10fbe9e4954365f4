// Every packet leaves the engine with exactly one verdict; every drop has exactly one reason
// from this list, and each reason is a per-worker counter.
#pragma once

#include <cstdint>

namespace anylb::fullnat {

#define ANYLB_DROP_REASONS(X)                                                                     \
  X(kTruncatedL2, "truncated_l2", "frame shorter than an Ethernet header")                        \
  X(kUnsupportedL3, "unsupported_l3", "neither IPv4, IPv6 nor ARP")                               \
  X(kTruncatedIp, "truncated_ip", "shorter than its IPv4/IPv6 header")                            \
  X(kBadIpVersion, "bad_ip_version", "IP version disagrees with the EtherType")                   \
  X(kBadIhl, "bad_ihl", "IHL below 5 or beyond the packet")                                       \
  X(kBadIpLength, "bad_ip_length", "IP length beyond the frame or below the header")              \
  X(kBadIpChecksum, "bad_ip_checksum", "IPv4 header checksum wrong")                              \
  X(kFragment, "fragment", "IP fragment (not reassembled)")                                       \
  X(kTtlExceeded, "ttl_exceeded", "TTL / hop limit would reach 0")                                \
  X(kTruncatedL4, "truncated_l4", "shorter than its TCP/UDP/ICMP header")                         \
  X(kBadTcpOffset, "bad_tcp_offset", "TCP data offset below 5 or beyond the packet")              \
  X(kBadTcpOptions, "bad_tcp_options", "malformed TCP option list")                               \
  X(kBadUdpLength, "bad_udp_length", "UDP length disagrees with the IP length")                   \
  X(kBadL4Checksum, "bad_l4_checksum", "L4 checksum wrong (NIC, or software on SYN/FIN/RST)")     \
  X(kUnsupportedL4, "unsupported_l4", "protocol other than TCP, UDP, ICMP")                       \
  X(kNotLocal, "not_local", "destination is not a VIP, LIP or node address")                      \
  X(kNoService, "no_service", "VIP without a service on this port/protocol")                      \
  X(kTcpNonSynMiss, "tcp_non_syn_miss", "TCP without SYN matching no session")                    \
  X(kOutboundMiss, "outbound_miss", "packet to a LIP matching no session")                        \
  X(kSessionTableFull, "session_table_full", "no free session for a new connection")              \
  X(kNoLocalPort, "no_local_port", "no free LIP:LPORT toward the chosen RS")                      \
  X(kNoRealServer, "no_real_server", "every RS of the service has weight 0")                      \
  X(kIcmpUnsupported, "icmp_unsupported", "ICMP type the node does not handle")                   \
  X(kIcmpNoSession, "icmp_no_session", "ICMP error quoting no known session")                     \
  X(kIcmpTruncated, "icmp_truncated", "ICMP error too short to quote its packet")                 \
  X(kMartianSource, "martian_source",                                                             \
    "unroutable source (0/8, 127/8, 224/3; ::, ::1, fe80::/10, ff00::/8, ::ffff:0:0/96) or ours") \
  X(kTcpOutOfWindow, "tcp_out_of_window", "RST/FIN outside the receiver's window (off-path)")     \
  X(kSynproxyBadCookie, "synproxy_bad_cookie",                                                    \
    "ACK to a SYN-proxy service: no session, no valid cookie")                                    \
  X(kSynproxyRsPending, "synproxy_rs_pending",                                                    \
    "client segment while the RS has not answered, not held")                                     \
  X(kPpv2NoRoom, "ppv2_no_room", "no mbuf headroom for the Proxy Protocol v2 header")             \
  X(kIpv6HopByHop, "ipv6_hop_by_hop", "IPv6 hop-by-hop options header (not forwarded)")           \
  X(kIpv6Routing, "ipv6_routing_header", "IPv6 routing header of type 0 or with segments left")   \
  X(kIpv6ExtHeaders, "ipv6_ext_headers", "IPv6 extension headers truncated or more than 8")       \
  X(kIcmpNat64, "icmp_nat64",                                                                     \
    "ICMP error of a NAT64 session with no equivalent in the other family")                       \
  X(kNat64NoRoom, "nat64_no_room", "no mbuf headroom for the IPv6 header of a NAT64 reply")       \
  X(kRsOverloaded, "rs_overloaded",                                                               \
    "no new session: the scheduler's RS were all over their upper_threshold (or ovf's weight)")

enum class DropReason : uint8_t {
#define ANYLB_X(id, name, help) id,
  ANYLB_DROP_REASONS(ANYLB_X)
#undef ANYLB_X
      kCount
};
inline constexpr unsigned kDropReasonCount = static_cast<unsigned>(DropReason::kCount);

const char* dropReasonName(DropReason r);
const char* dropReasonHelp(DropReason r);

enum class Verdict : uint8_t {
  kForward,   // rewritten; send toward the packet's (new) destination address
  kToKernel,  // exception path: for the node itself (BGP, ARP, SSH, probes' replies, ...)
  kRedirect,  // belongs to another worker's session: hand over to `worker`
  kDrop,      // freed by the caller; counted under `reason`
};

struct PacketVerdict {
  Verdict verdict = Verdict::kDrop;
  DropReason reason = DropReason::kCount;
  uint16_t worker = 0;  // kRedirect: the owner
};

}  // namespace anylb::fullnat
