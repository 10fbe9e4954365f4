// Proxy Protocol v2 (haproxy.org's proxy-protocol.txt, section 2.2): with client_address =
// "proxy_protocol_v2" the real server receives, as the first bytes of the connection, a binary
// header naming the client and the address it connected to, then the client's own bytes.
// nginx (`listen ... proxy_protocol`), HAProxy (`accept-proxy`), Envoy and others read it,
// so the RS needs no kernel module.
//
// How the header travels (engine.cc): it occupies the client's sequence numbers
// clientIsn+1 .. clientIsn+len in the RS's view, and every later client byte is shifted by
// len (seq_shift.h). The first client segment starting at clientIsn+1 (the ACK that completes
// the handshake, or the first data) carries it, prepended to its payload; so does every
// retransmission of that segment until the RS has acknowledged the header. Because the
// handshake's ACK carries it, the header goes out even when the client never sends first
// (SMTP/SSH-style servers that speak first): their accept() completes on it.
// The MSS the RS advertises is lowered by len, so that a full-sized first segment with the
// header still fits the path.
#pragma once

#include <cstdint>

namespace anylb::fullnat::ppv2 {

inline constexpr unsigned kHeaderLenV4 = 16 + 12;  // fixed part + IPv4 addresses and ports
inline constexpr unsigned kHeaderLenV6 = 16 + 36;  // fixed part + IPv6 addresses and ports
inline constexpr unsigned kMaxHeaderLen = kHeaderLenV6;

// Writes the header for a TCP connection over IPv4 from client to vip (raw addresses and ports
// in network order) into `out` (kMaxHeaderLen bytes); returns its length.
unsigned writeV4(uint8_t* out, uint32_t clientRaw, uint32_t vipRaw, uint16_t cportBe,
                 uint16_t vportBe);
// The same over IPv6 (16-byte addresses, network order). Also what a NAT64 session sends: the
// header names the IPv6 client and VIP whatever family the RS is reached over.
unsigned writeV6(uint8_t* out, const uint8_t* client16, const uint8_t* vip16, uint16_t cportBe,
                 uint16_t vportBe);

}  // namespace anylb::fullnat::ppv2
