// The per-session sequence shift that the SYN proxy and Proxy Protocol v2 share: once anylb has
// answered a client's SYN itself (its own ISN, not the RS's) or inserted bytes the client never
// sent (a PPv2 header), every later segment of the connection has its sequence number,
// acknowledgement number and SACK blocks moved, in each direction, for the rest of the
// connection. Session::flags kShifted says a session has a ShiftState; the worker keeps one
// slot per session index (Worker::shift_), touched only by shifted sessions.
//
//   client -> RS: seq + ppLen (except the segment that carries the header, see ppv2.h),
//                 ack and SACK - outDelta
//   RS -> client: seq + outDelta, ack and SACK mapped back over the header (ppAckToClient)
#pragma once

#include <rte_byteorder.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include <cstdint>
#include <cstring>

#include "common/checksum.h"

namespace anylb::fullnat {

enum ShiftFlags : uint8_t {
  kShiftProxied = 1U << 0,       // the SYN proxy answered the client (outDelta in use)
  kShiftHeaderAcked = 1U << 1,   // PPv2: the RS acknowledged the whole header
  kShiftRsWindow = 1U << 2,      // rescale the RS's windows toward the client (see below)
  kShiftClientWindow = 1U << 3,  // rescale the client's windows toward the RS
};

// 24 bytes per session slot. Host byte order.
struct ShiftState {
  uint32_t outDelta;   // our cookie ISN minus the RS's ISN (SYN proxy), else 0
  uint32_t proxyIsn;   // SYN proxy: the ISN of the cookie SYN-ACK the client saw
  uint32_t clientIsn;  // the client's ISN: PPv2's header occupies clientIsn+1 .. +ppLen
  uint8_t ppLen;       // PPv2 header bytes (0: none)
  uint8_t flags;       // ShiftFlags
  // Window scaling seen from each end when the SYN proxy answered the client: the client reads
  // the RS's windows with `clientSeesRsShift` (what our SYN-ACK offered), the RS sends them
  // with `rsShift`; and the other way round. Low nibble / high nibble, 0 = unscaled.
  uint8_t rsWindowShifts;      // low: RS sends with; high: client reads with
  uint8_t clientWindowShifts;  // low: client sends with; high: RS reads with
  rte_mbuf* parked;            // SYN proxy: the client's first data, held until the RS answers
};
static_assert(sizeof(ShiftState) == 24);

// Wrap-safe sequence difference.
inline int32_t seqDiff(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b);
}

// An acknowledgement (or SACK edge) the RS sent, in the client's sequence space: the PPv2
// header the client never sent is taken out; an acknowledgement inside the header acknowledges
// nothing of the client's.
inline uint32_t ppAckToClient(uint32_t ack, const ShiftState& st) {
  const int32_t d = seqDiff(ack, st.clientIsn + 1);
  if (d <= 0) return ack;
  if (d <= st.ppLen) return st.clientIsn + 1;
  return ack - st.ppLen;
}

// Rewrites seq (+seqAdd) and, when the ACK flag is set, ack (mapAck) of a TCP header, and every
// SACK block edge (mapAck) in its options. Adds the old and new partial sums of what changed to
// sumOld / sumNew (incremental checksum, RFC 1624). Options must be valid (parse() checked).
template <typename MapAck>
inline void shiftSeqAck(rte_tcp_hdr* th, unsigned hdrLen, uint32_t seqAdd, MapAck&& mapAck,
                        uint32_t& sumOld, uint32_t& sumNew) {
  sumOld += csum::partial(&th->sent_seq, 8);
  th->sent_seq = rte_cpu_to_be_32(rte_be_to_cpu_32(th->sent_seq) + seqAdd);
  if ((th->tcp_flags & RTE_TCP_ACK_FLAG) != 0) {
    th->recv_ack = rte_cpu_to_be_32(mapAck(rte_be_to_cpu_32(th->recv_ack)));
  }
  sumNew += csum::partial(&th->sent_seq, 8);
  auto* o = reinterpret_cast<uint8_t*>(th + 1);
  const unsigned len = hdrLen - sizeof(rte_tcp_hdr);
  for (unsigned i = 0; i < len;) {
    const uint8_t kind = o[i];
    if (kind == 0) break;
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= len) break;
    const uint8_t olen = o[i + 1];
    if (olen < 2 || i + olen > len) break;
    if (kind == 5 && olen >= 10) {  // SACK: (olen - 2) / 8 blocks of two edges
      // The option starts at an even or odd offset; sum it from the even byte before it so
      // that old and new partial sums line up with the checksum's 16-bit words.
      const unsigned from = i & ~1U;
      const unsigned to = i + olen;
      sumOld += csum::partial(o + from, to - from);
      for (unsigned e = i + 2; e + 4 <= to; e += 4) {
        uint32_t v;
        std::memcpy(&v, o + e, 4);
        v = rte_cpu_to_be_32(mapAck(rte_be_to_cpu_32(v)));
        std::memcpy(o + e, &v, 4);
      }
      sumNew += csum::partial(o + from, to - from);
    }
    i += olen;
  }
}

// Rescales a window field advertised with shift `from` for a receiver that reads it with shift
// `to` (RFC 7323), saturating at 65535. Used when the SYN proxy offered the client a window
// scale other than the RS's, or the RS declined scaling the client was promised.
inline void rescaleWindow(rte_tcp_hdr* th, unsigned from, unsigned to, uint32_t& sumOld,
                          uint32_t& sumNew) {
  const uint64_t bytes = uint64_t{rte_be_to_cpu_16(th->rx_win)} << from;
  uint64_t field = bytes >> to;
  if (field > 0xFFFF) field = 0xFFFF;
  if (field == 0 && bytes != 0) field = 1;  // never turn an open window into a closed one
  sumOld += th->rx_win;
  th->rx_win = rte_cpu_to_be_16(static_cast<uint16_t>(field));
  sumNew += th->rx_win;
}

}  // namespace anylb::fullnat
