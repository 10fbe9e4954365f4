// One FULLNAT session: CIP:CPORT <-> VIP:VPORT on the client side, LIP:LPORT <-> RIP:RPORT on
// the real-server side. Reachable from its inbound key (proto, CIP, CPORT, VIP, VPORT) and its
// outbound key (proto, RIP, RPORT, LIP, LPORT). Owned by exactly one worker.
#pragma once

#include <cstdint>
#include <cstring>

namespace anylb::session {

// Address bytes in network order; IPv4 uses the first 4 bytes and zeroes the rest, so that one
// layout and one comparison serve both families.
struct Addr {
  uint8_t b[16];
  [[nodiscard]] uint32_t v4Raw() const {
    uint32_t v;
    std::memcpy(&v, b, 4);
    return v;
  }
  static Addr fromV4Raw(uint32_t raw) {
    Addr a{};
    std::memcpy(a.b, &raw, 4);
    return a;
  }
  friend bool operator==(const Addr& x, const Addr& y) { return std::memcmp(x.b, y.b, 16) == 0; }
};

enum class TcpState : uint8_t {
  kNone,         // UDP / ICMP sessions
  kSynRecv,      // client SYN forwarded to the RS
  kEstablished,  // handshake completed
  kFinWait,      // client sent FIN first
  kCloseWait,    // RS sent FIN first
  kLastAck,      // both sides sent FIN
  kTimeWait,     // final ACK after both FINs
  kClose,        // RST seen
};
inline constexpr unsigned kTcpStateCount = 8;
const char* toString(TcpState s);

enum SessionFlags : uint8_t {
  kSynAckSeen = 1U << 0,  // the RS answered the SYN
  kRsSentData = 1U << 1,  // the RS has sent payload: stop inserting TOA
  kFinFromClient = 1U << 2,
  kFinFromRs = 1U << 3,
  kToa = 1U << 4,  // the service inserts TOA
  // Sessions whose sequence numbers are shifted (fullnat/seq_shift.h): the worker's ShiftState
  // slot of the same index is in use.
  kPpv2 = 1U << 5,      // a Proxy Protocol v2 header precedes the client's bytes
  kSynProxy = 1U << 6,  // opened by the SYN proxy: our cookie ISN, not the RS's, toward the client
  kShifted = kPpv2 | kSynProxy,
  // NAT64: the client side (cip, vip; `family` 6) is IPv6, the RS side (lip, rip) IPv4.
  kNat64 = 1U << 7,
};

// Session sync (src/sync/, fullnat/sync_apply.cc): where a session came from and what its next
// packets must do.
enum SyncBits : uint8_t {
  kReplica = 1U << 0,      // installed from a peer's sync message, not created here
  kAdopted = 1U << 1,      // a replica that has since carried packets through this node
  kSyncDirty = 1U << 2,    // changed in a way peers must hear of (created, new state)
  kLooseClient = 1U << 3,  // the client's sequence tracking is stale: learn it from its next
  kLooseRs = 1U << 4,      // ... and the same for the RS's
};

// 128 bytes: two cache lines. The first line holds what the hot path reads for every packet
// (addresses and ports for the key compare and the rewrite); the second the bookkeeping.
struct alignas(64) Session {
  Addr cip;
  Addr vip;
  Addr rip;
  Addr lip;
  // --- second cache line
  uint16_t cport;  // all ports network order
  uint16_t vport;
  uint16_t rport;
  uint16_t lport;
  uint32_t expires;    // ms tick (wrapping; compare with int32 differences)
  uint32_t timerNext;  // timer wheel links (session indexes)
  uint32_t timerPrev;
  uint32_t timerTick;   // wheel tick the session is filed under
  uint32_t rsId;        // stable real-server id (snapshot.h), for per-RS counters
  uint32_t generation;  // snapshot generation that created it
  uint16_t service;     // service index in that snapshot
  uint8_t proto;        // IPPROTO_TCP / UDP
  uint8_t family;       // 4 or 6
  TcpState state;
  uint8_t flags;       // SessionFlags
  uint16_t syncTick;   // session sync: when it was last sent to peers (1024 ms ticks, wrapping)
  uint32_t packetsIn;  // client -> RS (wraps; for listings)
  uint32_t packetsOut;
  // TCP sequence tracking, enough to tell an endpoint's control segments from an off-path
  // attacker's (RFC 5961 for RST; in-window for FIN). Host order; compared wrap-safe.
  uint32_t clientNext;  // highest seq + len (+SYN/FIN) the client sent
  uint32_t rsNext;      // the same for the RS (valid once kSynAckSeen)
  uint16_t clientWin;   // last window the client advertised (unscaled field)
  uint16_t rsWin;
  uint8_t wscale;  // low nibble: client's shift, high: RS's; 0xF = not offered
  uint8_t sync;    // SyncBits
  uint8_t pad2[2];
};
static_assert(sizeof(Session) == 128, "a session is two cache lines");

}  // namespace anylb::session
