// Test packets as bytes: a builder for Ethernet/IPv4|IPv6/TCP|UDP|ICMP|ICMPv6 frames with correct
// checksums (full computation, independent of the engine's incremental updates), and a checker
// that recomputes every checksum of a frame.
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace anylb::testing {

inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

struct L4Spec {
  uint8_t proto = 6;  // 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6 (addresses with ':' make an IPv6 packet)
  std::string src;
  std::string dst;
  uint16_t sport = 0;  // host order
  uint16_t dport = 0;
  uint8_t flags = 0;  // TCP
  uint32_t seq = 1000;
  uint32_t ack = 0;
  std::vector<uint8_t> options;  // TCP options (multiple of 4)
  std::vector<uint8_t> payload;
  uint8_t ttl = 64;
  uint16_t ipId = 0x1234;
  uint16_t window = 29200;
  bool udpNoChecksum = false;
  uint8_t icmpType = 3;  // ICMP: type, code, 4 bytes rest (e.g. next-hop MTU), quoted bytes
  uint8_t icmpCode = 4;
  uint32_t icmpRest = 0;
  // IPv6 extension headers before the L4 header, in order: (type, bytes); each entry's length
  // a multiple of 8 with its length byte set; its first byte (next header) is filled in.
  std::vector<std::pair<uint8_t, std::vector<uint8_t>>> ext6;
  uint32_t flowLabel = 0;
  uint8_t tos = 0;  // IPv4 type of service / IPv6 traffic class
};

inline bool isV6(const std::string& a) {
  return a.find(':') != std::string::npos;
}

inline uint32_t sumBytes(const uint8_t* p, size_t n, uint32_t s = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) s += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2 != 0) s += static_cast<uint32_t>(p[n - 1] << 8);
  return s;
}
inline uint16_t foldSum(uint32_t s) {
  while ((s >> 16) != 0) s = (s & 0xFFFF) + (s >> 16);
  return static_cast<uint16_t>(~s & 0xFFFF);
}

// Appends n bytes. Not vector::insert(end, first, last): GCC 12's libstdc++ reports
// -Warray-bounds false positives for it once inlined at -O2 (GCC bug 107852).
inline void appendBytes(std::vector<uint8_t>& to, const uint8_t* p, size_t n) {
  if (n == 0) return;
  const size_t at = to.size();
  to.resize(at + n);
  std::memcpy(to.data() + at, p, n);
}
inline void appendBytes(std::vector<uint8_t>& to, const std::vector<uint8_t>& from) {
  appendBytes(to, from.data(), from.size());
}
inline void put16(std::vector<uint8_t>& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}
inline uint16_t get16(const std::vector<uint8_t>& b, size_t off) {
  return static_cast<uint16_t>(b[off] << 8 | b[off + 1]);
}
inline void putAddr(std::vector<uint8_t>& b, size_t off, const std::string& a) {
  if (isV6(a)) {
    in6_addr x{};
    inet_pton(AF_INET6, a.c_str(), &x);
    if (off + 16 > b.size()) std::abort();  // an IPv6 address where 4 bytes were meant
    std::memcpy(&b[off], &x, 16);
    return;
  }
  in_addr x{};
  inet_pton(AF_INET, a.c_str(), &x);
  std::memcpy(&b[off], &x, 4);
}

// The IP packet (no Ethernet) of a spec, with correct checksums.
inline std::vector<uint8_t> ipPacket(const L4Spec& s) {
  std::vector<uint8_t> l4;
  if (s.proto == 6) {
    l4.assign(20 + s.options.size(), 0);
    put16(l4, 0, s.sport);
    put16(l4, 2, s.dport);
    for (int i = 0; i < 4; ++i) l4[4 + i] = static_cast<uint8_t>(s.seq >> (24 - 8 * i));
    for (int i = 0; i < 4; ++i) l4[8 + i] = static_cast<uint8_t>(s.ack >> (24 - 8 * i));
    l4[12] = static_cast<uint8_t>(((20 + s.options.size()) / 4) << 4);
    l4[13] = s.flags;
    put16(l4, 14, s.window);
    std::copy(s.options.begin(), s.options.end(), l4.begin() + 20);
  } else if (s.proto == 17) {
    l4.assign(8, 0);
    put16(l4, 0, s.sport);
    put16(l4, 2, s.dport);
    put16(l4, 4, static_cast<uint16_t>(8 + s.payload.size()));
  } else {
    l4.assign(8, 0);
    l4[0] = s.icmpType;
    l4[1] = s.icmpCode;
    for (int i = 0; i < 4; ++i) l4[4 + i] = static_cast<uint8_t>(s.icmpRest >> (24 - 8 * i));
  }
  appendBytes(l4, s.payload);
  if (isV6(s.src)) {
    std::vector<uint8_t> ip(40, 0);
    const uint32_t vtc = 6U << 28 | uint32_t{s.tos} << 20 | (s.flowLabel & 0xFFFFF);
    for (int i = 0; i < 4; ++i) ip[i] = static_cast<uint8_t>(vtc >> (24 - 8 * i));
    size_t extLen = 0;
    for (const auto& e : s.ext6) extLen += e.second.size();
    put16(ip, 4, static_cast<uint16_t>(extLen + l4.size()));
    ip[6] = s.ext6.empty() ? s.proto : s.ext6[0].first;
    ip[7] = s.ttl;
    putAddr(ip, 8, s.src);
    putAddr(ip, 24, s.dst);
    // The pseudo-header (RFC 8200 8.1) covers ICMPv6 too.
    uint32_t ph = sumBytes(&ip[8], 32) + s.proto + static_cast<uint32_t>(l4.size());
    const size_t ck = s.proto == 6 ? 16 : s.proto == 17 ? 6 : 2;
    if (!(s.proto == 17 && s.udpNoChecksum)) {
      uint16_t v = foldSum(sumBytes(l4.data(), l4.size(), ph));
      if (v == 0 && s.proto == 17) v = 0xFFFF;
      put16(l4, ck, v);
    }
    for (size_t i = 0; i < s.ext6.size(); ++i) {
      auto e = s.ext6[i].second;
      e[0] = i + 1 < s.ext6.size() ? s.ext6[i + 1].first : s.proto;
      appendBytes(ip, e);
    }
    appendBytes(ip, l4);
    return ip;
  }
  std::vector<uint8_t> ip(20, 0);
  ip[0] = 0x45;
  ip[1] = s.tos;
  put16(ip, 2, static_cast<uint16_t>(20 + l4.size()));
  put16(ip, 4, s.ipId);
  put16(ip, 6, 0x4000);  // DF
  ip[8] = s.ttl;
  ip[9] = s.proto;
  putAddr(ip, 12, s.src);
  putAddr(ip, 16, s.dst);
  put16(ip, 10, foldSum(sumBytes(ip.data(), 20)));
  if (s.proto == 1) {
    put16(l4, 2, foldSum(sumBytes(l4.data(), l4.size())));
  } else {
    uint32_t ph = sumBytes(&ip[12], 8) + s.proto + static_cast<uint32_t>(l4.size());
    const size_t ck = s.proto == 6 ? 16 : 6;
    if (!(s.proto == 17 && s.udpNoChecksum)) {
      uint16_t v = foldSum(sumBytes(l4.data(), l4.size(), ph));
      if (v == 0 && s.proto == 17) v = 0xFFFF;
      put16(l4, ck, v);
    }
  }
  appendBytes(ip, l4);
  return ip;
}

inline std::vector<uint8_t> frame(const std::vector<uint8_t>& ip) {
  std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00};
  if (!ip.empty() && (ip[0] >> 4) == 6) f[12] = 0x86, f[13] = 0xDD;
  appendBytes(f, ip);
  return f;
}
inline std::vector<uint8_t> frame(const L4Spec& s) {
  return frame(ipPacket(s));
}

// Every checksum of a frame recomputed in full: IP header, and TCP/UDP (with pseudo-header) or
// ICMP. Returns "" when all are right, else what is wrong.
inline std::string checksumProblems(const std::vector<uint8_t>& f) {
  if (f.size() < 34) return "short frame";
  const size_t ip = 14;
  if ((f[ip] >> 4) == 6) {
    if (f.size() < 54) return "short frame";
    size_t l4 = ip + 40;
    uint8_t next = f[ip + 6];
    while (next == 0 || next == 43 || next == 60) {  // hop-by-hop, routing, destination options
      next = f[l4];
      l4 += (f[l4 + 1] + 1U) * 8U;
    }
    const size_t l4len = ip + 40 + get16(f, ip + 4) - l4;
    const uint32_t ph = sumBytes(&f[ip + 8], 32) + next + static_cast<uint32_t>(l4len);
    if (foldSum(sumBytes(&f[l4], l4len, ph)) != 0) {
      return next == 6 ? "tcp checksum" : next == 17 ? "udp checksum" : "icmpv6 checksum";
    }
    return "";
  }
  const size_t ihl = (f[ip] & 0x0F) * 4U;
  const size_t total = get16(f, ip + 2);
  if (foldSum(sumBytes(&f[ip], ihl)) != 0) return "ip checksum";
  const uint8_t proto = f[ip + 9];
  const size_t l4 = ip + ihl;
  const size_t l4len = total - ihl;
  if (proto == 1) {
    if (foldSum(sumBytes(&f[l4], l4len)) != 0) return "icmp checksum";
    return "";
  }
  if (proto == 17 && get16(f, l4 + 6) == 0) return "";
  const uint32_t ph = sumBytes(&f[ip + 12], 8) + proto + static_cast<uint32_t>(l4len);
  if (foldSum(sumBytes(&f[l4], l4len, ph)) != 0)
    return proto == 6 ? "tcp checksum" : "udp checksum";
  return "";
}

// TCP options helpers (bytes).
inline std::vector<uint8_t> optMss(uint16_t mss) {
  return {2, 4, static_cast<uint8_t>(mss >> 8), static_cast<uint8_t>(mss)};
}
inline std::vector<uint8_t> optTs(uint32_t val, uint32_t ecr) {
  std::vector<uint8_t> o = {1, 1, 8, 10};
  for (int i = 0; i < 4; ++i) o.push_back(static_cast<uint8_t>(val >> (24 - 8 * i)));
  for (int i = 0; i < 4; ++i) o.push_back(static_cast<uint8_t>(ecr >> (24 - 8 * i)));
  return o;
}
inline std::vector<uint8_t> optToa(uint16_t port, const std::string& addr) {
  std::vector<uint8_t> o = {
      254, 8, static_cast<uint8_t>(port >> 8), static_cast<uint8_t>(port), 0, 0, 0, 0};
  putAddr(o, 4, addr);
  return o;
}
// TOA for an IPv6 client: kind 254, length 20, port, 16-byte address.
inline std::vector<uint8_t> optToa6(uint16_t port, const std::string& addr) {
  std::vector<uint8_t> o(20, 0);
  o[0] = 254;
  o[1] = 20;
  put16(o, 2, port);
  putAddr(o, 4, addr);
  return o;
}
inline std::vector<uint8_t> cat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  appendBytes(a, b);
  return a;
}

}  // namespace anylb::testing
