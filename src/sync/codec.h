// The wire format of session-sync datagrams (issue 16): nodes of a fleet send each other their
// sessions over UDP so that a node can translate a flow that ECMP moved to it exactly as the
// flow's owner did. This file is the codec only (no sockets, no threads): Builder packs records
// into one authenticated datagram, open() verifies and unpacks one, ReplayWindow (replay.h)
// refuses replays. docs/architecture.md, "Session sync: wire format", describes the bytes.
//
// Datagram: header (kHeaderLen bytes) | records | tag (kTagLen bytes). Every integer on the wire
// is big-endian; addresses and ports are copied as they are held (already network order).
//   magic "ALBS" (4) | version (1) | type (1) | node id (2) | epoch (8) | seq (8) | value (4) |
//   record count (2)
// The tag is HMAC-SHA256 over every byte before it, truncated to its first 16 bytes.
//
// Threads: every function may be called from any thread; Builder objects are not shared. The
// HMAC context is one per thread (thread_local), reused across datagrams and re-keyed only when
// the key changes, so sealing and opening allocate nothing per datagram.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "session/session.h"
#include "sync/key.h"
#include "sync/replay.h"

namespace anylb::sync {

inline constexpr size_t kMaxDatagram = 1400;  // fits 1500 MTU with IPv6+UDP headers
inline constexpr size_t kTagLen = 16;         // HMAC-SHA256 truncated to 128 bits
inline constexpr size_t kHeaderLen = 30;
inline constexpr uint8_t kVersion = 1;  // the only version this code speaks
inline constexpr std::array<uint8_t, 4> kMagic{'A', 'L', 'B', 'S'};

// kSessions carries records (value 0); kBulkRequest (value: request id) and kBulkDone (value:
// records sent in the bulk) carry none.
enum class MsgType : uint8_t { kSessions = 1, kBulkRequest = 2, kBulkDone = 3 };
enum class RecordKind : uint8_t { kUpsert = 1, kDelete = 2 };

// One session as it travels. Addresses: session::Addr (16 bytes network order; IPv4 in the
// first 4 bytes, rest zero). Ports network order. Encoded compactly: the client side (cip, vip)
// as IPv4 when family == 4, the RS side (rip, lip) as IPv4 when family == 4 or flags has
// session::kNat64 (NAT64: client side v6, RS side v4); else 16 bytes. A delete carries the whole
// record too, so that a receiver can check it names the session it holds (same RS and LIP).
struct SessionRecord {
  RecordKind kind = RecordKind::kUpsert;
  uint8_t proto = 0;   // IPPROTO_TCP / IPPROTO_UDP
  uint8_t family = 4;  // 4 or 6 (the client side's)
  uint8_t state = 0;   // session::TcpState as its number (< session::kTcpStateCount)
  uint8_t flags = 0;   // session::SessionFlags
  session::Addr cip{}, vip{}, rip{}, lip{};
  uint16_t cport = 0, vport = 0, rport = 0, lport = 0;
  uint32_t expiresInMs = 0;             // idle time left at the sender when sent
  uint32_t clientNext = 0, rsNext = 0;  // TCP tracking, host order (session.h)
  uint16_t clientWin = 0, rsWin = 0;
  uint8_t wscale = 0;
  friend bool operator==(const SessionRecord&, const SessionRecord&) = default;
};

struct Header {
  MsgType type = MsgType::kSessions;
  uint16_t nodeId = 0;  // sender
  uint64_t epoch = 0;   // sender's start (ns since the Unix epoch), new per restart
  uint64_t seq = 0;     // per datagram, from 1, per epoch
  uint32_t value = 0;   // kBulkDone: records sent in the bulk; kBulkRequest: request id; else 0
  friend bool operator==(const Header&, const Header&) = default;
};

// What open() accepts in a record: kind, proto (TCP or UDP), family (4 or 6), state
// (< kTcpStateCount), and kNat64 only with family 6. Builder::add refuses anything else, so one
// bad record cannot make a receiver drop the datagram's other records.
bool isValid(const SessionRecord& r);
// Bytes `r` takes on the wire: 46 (IPv4), 70 (NAT64), 94 (IPv6).
size_t encodedSize(const SessionRecord& r);

// Builds one datagram in an internal buffer (no allocation). Not thread-safe; one per sender.
class Builder {
 public:
  explicit Builder(MsgType type) : type_(type) {}
  // Returns false, and adds nothing, when the record would not fit in kMaxDatagram, when the
  // builder's type carries no records, or when !isValid(r). Any valid record fits in an empty
  // kSessions builder, so a false from an empty one means the record (or the type) is bad:
  // a caller that seals and retries on false must not retry on an empty builder.
  bool add(const SessionRecord& r);
  [[nodiscard]] uint16_t count() const { return count_; }
  [[nodiscard]] bool empty() const { return count_ == 0; }
  // Writes header + records + tag and returns the datagram (valid until the next add, seal or
  // clear). h.type is ignored: the builder's. Empty span only if OpenSSL fails (it does not
  // with a working libcrypto). Sealing again (another seq) reuses the records.
  std::span<const uint8_t> seal(const Key& key, const Header& h);
  void clear() {
    count_ = 0;
    len_ = kHeaderLen;
  }

 private:
  MsgType type_;
  uint16_t count_ = 0;
  size_t len_ = kHeaderLen;  // header + records written so far
  std::array<uint8_t, kMaxDatagram> buf_{};
};

enum class DecodeError : uint8_t {
  kNone,
  kShort,       // shorter than header + tag: not even a tag to check
  kBadMagic,    // tag valid but not "ALBS"
  kBadVersion,  // tag valid, a version this node does not speak (a newer peer: count it)
  kBadType,     // tag valid, unknown message type
  kBadLength,   // over kMaxDatagram, records not ending exactly at the tag, records in a type
                // that carries none
  kBadTag,      // forged, corrupted, or another fleet's key
  kBadRecord,   // tag valid, a record field out of range (see isValid)
};
const char* toString(DecodeError e);

// Verifies the tag FIRST (constant time: CRYPTO_memcmp), then parses every record; out is
// appended to ONLY if the whole datagram is valid (a bad record anywhere = nothing installed).
// Rejects: unknown version/type, length not matching the record count, record kind/family/
// proto/state out of range, trailing bytes. h is written once the tag verified and the header
// is one this node speaks (so on kNone, kBadRecord, and a kBadLength found after the tag), so
// such faults can be counted against h.nodeId; otherwise h is left as it was. Replay is the
// caller's: ReplayWindow::accept(h.epoch, h.seq) after kNone, before installing.
DecodeError open(std::span<const uint8_t> dgram, const Key& key, Header& h,
                 std::vector<SessionRecord>& out);

}  // namespace anylb::sync
