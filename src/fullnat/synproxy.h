// SYN proxy: anylb answers a client's SYN itself with a SYN cookie and keeps no state until a
// valid ACK comes back, so a flood of spoofed SYNs never reaches the session table, the LIP
// ports or the real servers. The engine stages (engine.cc) use these pieces:
//
// Cookie (the ISN of our SYN-ACK), 32 bits:
//   data = the client's MSS (index into kMssTable, 3 bits), SACK-permitted (1 bit) and window
//   scale (4 bits, 15 = not offered): the options the connection to the RS is opened with
//   H = SipHash-2-4(key of the 64 s time bucket; CIP, VIP, CPORT, VPORT, client ISN, data)
//   cookie = (H & 0xFFFFFF00) | data
// The data byte is in clear but authenticated: an ACK that changes it fails like any other.
// A cookie is accepted in the bucket it was made in and the next one (64 to 128 s): an ACK
// must match 24 bits of H, so a blind guess succeeds with probability 2^-24 and creates one
// session. Bucket keys derive from a per-node master secret (getrandom at start; the fleet needs
// none: ECMP keeps a flow on one node), so keys rotate every bucket without coordination.
// Lost by proxying: TCP timestamps (no room in the cookie: not offered, RTTM/PAWS unused on
// proxied connections, as with Linux's cookies without timestamps), a client MSS between the
// table's steps (rounded down), TCP Fast Open data on the SYN (dropped; the client resends).
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <optional>

#include "common/siphash.h"

namespace anylb::fullnat::synproxy {

inline constexpr std::array<uint16_t, 8> kMssTable = {536,  1220, 1300, 1360,
                                                      1400, 1440, 1460, 8960};
inline constexpr uint8_t kNoWscale = 0x0F;
inline constexpr unsigned kBucketShift = 16;  // 65.536 s per cookie time bucket

struct CookieOptions {
  uint16_t mss = 536;          // a kMssTable value
  uint8_t wscale = kNoWscale;  // 0..14, or kNoWscale
  bool sackOk = false;
  friend bool operator==(const CookieOptions&, const CookieOptions&) = default;
};

// What a client's SYN offered, rounded to what the cookie can carry.
CookieOptions optionsFromSyn(const uint8_t* opts, unsigned len);
uint8_t encodeOptions(const CookieOptions& o);
CookieOptions decodeOptions(uint8_t data);

// The connection a cookie is bound to: IPv4 addresses raw (network order), ports network
// order, the client's ISN host order.
struct CookieTuple {
  uint32_t cip;
  uint32_t vip;
  uint16_t cport;
  uint16_t vport;
  uint32_t clientIsn;
};

// Makes and checks cookies. One per worker (the keys of the last two buckets are cached; two
// SipHash runs per bucket change); all workers of a node share the master secret.
class CookieJar {
 public:
  explicit CookieJar(const SipKey& master) : master_(master) {}
  uint32_t make(const CookieTuple& t, const CookieOptions& o, uint64_t nowMs);
  // The options the cookie carries, or nullopt for a forged, mistaken or expired cookie.
  std::optional<CookieOptions> check(const CookieTuple& t, uint32_t cookie, uint64_t nowMs);

 private:
  uint32_t mac(const CookieTuple& t, uint8_t data, uint64_t bucket);
  const SipKey& keyFor(uint64_t bucket);

  SipKey master_;
  std::array<uint64_t, 2> cachedBucket_{~uint64_t{0}, ~uint64_t{0}};
  std::array<SipKey, 2> cachedKey_{};
};

// syn_proxy = "auto", per worker: engaged while the worker's SYN_RECV sessions or the rate of
// SYNs to "auto" services exceed their thresholds; disengaged once both stayed below half of
// them for `holdMs`. The half-open count engages at the burst that passes it; the rate and the
// disengagement are decided once per second.
class FloodGate {
 public:
  struct Limits {
    uint32_t synRecv = 4096;
    uint32_t synRate = 10000;
    uint32_t holdMs = 10000;
  };
  void setLimits(const Limits& l) { limits_ = l; }
  void countSyn() { ++syns_; }
  // Call per burst; returns +1 when it engaged, -1 when it disengaged, else 0.
  int tick(uint64_t nowMs, uint32_t synRecvSessions);
  [[nodiscard]] bool engaged() const { return engaged_; }
  [[nodiscard]] uint32_t lastRate() const { return lastRate_; }

 private:
  Limits limits_;
  bool engaged_ = false;
  uint64_t windowStart_ = 0;
  uint64_t calmSince_ = 0;  // when both measures last fell below half their thresholds
  uint32_t syns_ = 0;
  uint32_t lastRate_ = 0;
};

// A fresh TCP/IPv4 segment without payload in `m`, after the Ethernet header at `l3off` (kept
// as it is: the dataplane sets the MACs when it forwards): IP header of 20 bytes (TTL 64, DF),
// TCP header with `opts` (a multiple of 4 bytes), both checksums computed in full. Frees any
// chained segments. Addresses raw (network order), ports network order, seq/ack host order.
// Returns false when the first segment has no room (it always has: 40 + 40 bytes).
struct SegmentSpec {
  uint32_t src;
  uint32_t dst;
  uint16_t sport;
  uint16_t dport;
  uint32_t seq;
  uint32_t ack;
  uint8_t flags;
  uint16_t window;
  const uint8_t* opts = nullptr;
  unsigned optLen = 0;
};
bool writeSegment(rte_mbuf* m, uint16_t l3off, const SegmentSpec& s);
// The same for IPv6 (hop limit 64, no extension headers), for a bare RST: no ACK, window 0, no
// options. Addresses are 16 bytes, network order.
bool writeRst6(rte_mbuf* m, uint16_t l3off, const uint8_t* src, const uint8_t* dst, uint16_t sport,
               uint16_t dport, uint32_t seq);

// The option block of a SYN or SYN-ACK that offers `o` (MSS, SACK-permitted, window scale;
// NOP-padded to 12 bytes at most). Returns its length.
unsigned synOptions(const CookieOptions& o, uint8_t* out);

}  // namespace anylb::fullnat::synproxy
