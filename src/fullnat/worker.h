// One dataplane worker's FULLNAT engine: its session table, scheduler state, counters, and the
// burst function that translates packets. Everything here is owned by the worker's thread.
// The hot path (processBurst) is in engine.cc; ICMP error translation in icmp.cc.
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/huge_alloc.h"
#include "common/ip.h"
#include "common/relaxed_counter.h"
#include "common/siphash.h"
#include "fullnat/persist_table.h"
#include "fullnat/seq_shift.h"
#include "fullnat/snapshot.h"
#include "fullnat/synproxy.h"
#include "fullnat/verdict.h"
#include "session/session_table.h"
#include "sync/event.h"
#include "toa/tcp_options.h"

namespace anylb::fullnat {

namespace detail {
struct Parsed;
}  // namespace detail

// Written by the worker only, read by the control thread (stats, metrics): relaxed
// single-writer counters (common/relaxed_counter.h), no locked instruction per packet.
struct alignas(64) WorkerCounters {
  RelaxedCounter rxPackets;
  RelaxedCounter forwarded;
  RelaxedCounter toKernel;
  RelaxedCounter redirected;
  RelaxedCounter dropped;
  std::array<RelaxedCounter, kDropReasonCount> drops{};
  RelaxedCounter sessionsCreated;
  RelaxedCounter sessionsExpired;
  RelaxedCounter sessionsReused;  // SYN on a TIME_WAIT/CLOSE session: rescheduled
  RelaxedCounter toaInserted;
  RelaxedCounter toaNoRoom;         // forwarded without TOA: option space full
  RelaxedCounter toaForgedRemoved;  // client-sent TOA options overwritten
  RelaxedCounter timestampsStripped;
  RelaxedCounter mssClamped;
  RelaxedCounter icmpTranslated;
  // The RS answered a new session's SYN with an older connection's ACK (its TIME_WAIT from
  // before a restart, or a connection this node lost): RST to the RS, which clears it
  RelaxedCounter staleRsResets;
  // SYN proxy (synproxy.h) and Proxy Protocol v2 (ppv2.h)
  RelaxedCounter synproxyCookiesSent;  // cookie SYN-ACKs to clients
  RelaxedCounter synproxyAccepted;     // valid cookie ACKs: sessions opened toward an RS
  RelaxedCounter synproxyRsRefused;    // the RS answered the SYN with RST: RST to the client
  RelaxedCounter synproxyRsTimeouts;   // the RS did not answer in rs_timeout_ms: RST to the client
  RelaxedCounter synproxyEngaged;      // syn_proxy = "auto": times the worker engaged ...
  RelaxedCounter synproxyDisengaged;   // ... and disengaged
  RelaxedGauge32 synproxyActive;       // 1 while "auto" services are proxied on this worker
  RelaxedGauge32 synRecvSessions;      // sessions in SYN_RECV now
  RelaxedCounter ppv2Headers;          // Proxy Protocol v2 headers sent (retransmissions too)
  // Persistence templates (persist_table.h): live templates of other clients overwritten by
  // this worker, and templates not stored because another worker held the slot that instant.
  RelaxedCounter persistCollisions;
  RelaxedCounter persistRaces;
};

struct EngineOptions {
  // The TX port computes IP and L4 checksums (RTE_ETH_TX_OFFLOAD_*_CKSUM): set the mbuf
  // flags and pseudo-header sums instead of updating checksums in software.
  bool txChecksumOffload = false;
  // Start each LIP's port cursor at a random place (the dataplane does; tests and benchmarks
  // want the deterministic first port).
  bool randomPortStart = false;
  // The node's SYN-cookie master secret (synproxy.h), the same for every worker; all zero: a
  // random one of the worker's own.
  SipKey cookieKey{};
  // The node's persistence templates, shared by its workers (persist_table.h); null: the
  // worker keeps a table of its own (a one-worker engine: tests, benchmarks, the fuzzer).
  std::shared_ptr<PersistTable> persistTable{};
};

// Per real server (by rsId), per worker: totals since start plus the current session counts.
// A fixed array of relaxed single-writer counters, so the control thread may read it while the
// worker writes (a listing may be off by the packets of that instant, never garbage).
struct RsStats {
  RelaxedCounter conns;  // sessions created
  RelaxedCounter inPackets;
  RelaxedCounter outPackets;
  RelaxedCounter inBytes;  // IP bytes, client -> RS
  RelaxedCounter outBytes;
  RelaxedGauge32 active;  // sessions in ESTABLISHED
  RelaxedGauge32 inactive;
  RelaxedGauge32 overloaded;  // 1: over its upper threshold on this worker (IPVS's OVERLOAD)
};
inline constexpr uint32_t kMaxRsStats = 16384;  // rsIds beyond are forwarded but not counted

// One session as listings show it (anylbctl sessions).
struct SessionInfo {
  uint8_t proto = 0;
  session::TcpState state = session::TcpState::kNone;
  IpAddr client, vip, local, rs;
  uint16_t cport = 0, vport = 0, lport = 0, rport = 0;  // host order
  uint32_t expiresMs = 0;                               // from now
  uint16_t worker = 0;
};

// Which sessions a listing wants: unset members match everything; port 0 matches any port.
struct SessionFilter {
  std::optional<IpAddr> vip, client, rs;
  uint16_t vport = 0, cport = 0, rport = 0;
};

// --- session sync (src/sync/, sync_apply.cc): what a worker exchanges with the sync service.
using SyncKind = sync::EventKind;
using SyncEvent = sync::Event;
using SyncRing = sync::EventRing;
struct alignas(64) SyncCounters {
  RelaxedCounter eventsOut;       // events handed to the sync service
  RelaxedCounter eventsLost;      // ... not handed over: the ring was full (a refresh repairs)
  RelaxedCounter installed;       // peers' sessions installed as replicas
  RelaxedCounter updated;         // ... merged into a session held already
  RelaxedCounter replaced;        // a replica whose tuple moved (a reused client tuple)
  RelaxedCounter conflicts;       // a peer's session clashing with one of this node's: refused
  RelaxedCounter replicaFull;     // refused: replica share or table full
  RelaxedCounter invalid;         // refused: fields out of range
  RelaxedCounter deleted;         // removed on a peer's delete
  RelaxedCounter adopted;         // replicas that carried a packet through this node
  RelaxedCounter skippedShifted;  // SYN-proxied / PPv2 sessions: not synced (not covered)
  RelaxedCounter bulkSent;        // sessions sent in bulk syncs
  RelaxedGauge32 replicas;        // replicas in the table now (adopted ones included)
};

class Worker {
 public:
  static constexpr uint16_t kMaxBurst = 64;
  // Packets between reading a session's index candidate (and prefetching it) and translating
  // it (engine.cc, processBurst).
  static constexpr uint16_t kLookAhead = 8;

  Worker(uint16_t id, uint16_t workers, uint32_t sessionCapacity, const EngineOptions& opts = {});
  // Gives back the mbufs it holds (SYN-proxied first segments, generated packets not taken).
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Worker thread: switch to a new snapshot between bursts. Existing sessions keep their
  // translation; per-RS state is re-mapped by rsId.
  void setSnapshot(std::shared_ptr<const Snapshot> snap);

  // Translates up to kMaxBurst packets in place and returns how many it handled (the caller
  // passes the rest again). out[i] tells what to do with pkts[i]; dropped packets are NOT
  // freed here (the caller owns all mbufs).
  // `nowMs` is the dataplane clock (common/tsc_clock.h): 64-bit, monotonic.
  // The SYN proxy may answer with another mbuf than it was given (a held client segment, a
  // SYN in place of data it holds): pkts[i] is then replaced, and the one given is held or
  // freed here. The caller acts on pkts[i] as it is on return.
  uint16_t processBurst(rte_mbuf** pkts, uint16_t n, uint64_t nowMs, PacketVerdict* out);

  // Expires idle sessions; call once per loop iteration. Returns how many expired.
  uint32_t expire(uint64_t nowMs, uint32_t budget = 256);

  // Packets the worker made outside a burst (expire(): a RST to a SYN-proxied client whose RS
  // never answered), to be forwarded like kForward verdicts; the caller owns them after this.
  // Returns how many were written to `out` (at most `max`).
  uint16_t takeGenerated(rte_mbuf** out, uint16_t max);

  // Tests and the fuzz target: the session table's invariants (SessionTable::checkInvariants)
  // plus the per-RS active/inactive counts against a recount. Walks everything.
  [[nodiscard]] std::string checkInvariants() const;

  // Removes every session of real server `rsId` (on_rs_down / on_rs_removed = "flush").
  uint32_t flushRealServer(uint32_t rsId);

  // Worker thread: one step of a session listing (anylbctl sessions), so that a listing of a
  // large table never holds up the packet loop: walks `buckets` index buckets from `cursor`
  // (start at 0), appends matching sessions to `out` while it holds fewer than `limit`, and
  // adds every match to `matched` (the walk goes on past `limit`, so `matched` is the exact
  // count). Returns the next cursor, or kListDone. Sessions created or removed between steps
  // may or may not be listed; none is listed twice (SessionTable::forEachStep).
  static constexpr uint32_t kListDone = session::SessionTable::kWalkDone;
  uint32_t listSessionsStep(const SessionFilter& f, size_t limit, uint64_t nowMs, uint32_t cursor,
                            uint32_t buckets, std::vector<SessionInfo>& out, uint64_t& matched);
  // Worker thread: the whole listing in one call (tests, benchmarks); returns how many matched.
  uint64_t listSessions(const SessionFilter& f, size_t limit, uint64_t nowMs,
                        std::vector<SessionInfo>& out);
  // Any thread: the per-RS counters (kMaxRsStats entries).
  [[nodiscard]] const RsStats* rsStats() const { return rsStats_.get(); }

  [[nodiscard]] uint16_t id() const { return id_; }
  [[nodiscard]] const WorkerCounters& counters() const { return counters_; }
  [[nodiscard]] const session::SessionTable& sessions() const { return table_; }
  [[nodiscard]] uint32_t activeConns(uint32_t rsId) const {
    return rsId < active_.size() ? active_[rsId] : 0;
  }
  [[nodiscard]] uint32_t inactiveConns(uint32_t rsId) const {
    return rsId < inactive_.size() ? inactive_[rsId] : 0;
  }
  // Any thread: the persistence templates this worker uses (shared by the node's workers).
  [[nodiscard]] const PersistTable& persistTable() const { return *persist_; }

  // The worker that owns local port `lportBe` (network order): replies are steered by it.
  static uint16_t ownerOf(uint16_t lportBe, uint16_t workers);

  // --- session sync (sync_apply.cc). Worker thread unless said otherwise.
  // Turns sync on (out != nullptr) or off: sessions created or changed here, and long-lived
  // ones every `refreshMs` (on a packet), go to `out`; peers' sessions may take up to
  // `replicaLimit` entries of the table.
  void setSync(SyncRing* out, uint32_t refreshMs, uint32_t replicaLimit);
  // Installs or merges up to `budget` peers' sessions from `in`; returns how many were taken.
  uint32_t applySync(SyncRing& in, uint64_t nowMs, uint32_t budget);
  // One step of a bulk sync to peer `dest`: every session of `buckets` index buckets from
  // `cursor` goes to `out` (the step waits while the ring lacks room for a step's worth).
  // Returns true once the whole table was sent and the kBulkEnd marker queued.
  bool bulkStep(uint16_t dest, uint32_t& cursor, uint32_t buckets, uint64_t nowMs);
  // Any thread.
  [[nodiscard]] const SyncCounters& syncCounters() const { return sync_; }

 private:
  using Parsed = detail::Parsed;
  bool parse(rte_mbuf* m, Parsed& p, PacketVerdict& v);
  bool parse6(rte_mbuf* m, Parsed& p, PacketVerdict& v);  // engine6.cc
  PacketVerdict inbound(rte_mbuf*& m, Parsed& p, uint64_t nowMs);
  PacketVerdict outbound(rte_mbuf*& m, Parsed& p, uint64_t nowMs);
  // SYN proxy stages (engine_synproxy.cc).
  PacketVerdict cookieSynAck(rte_mbuf* m, Parsed& p, uint64_t nowMs);
  PacketVerdict cookieAck(rte_mbuf*& m, Parsed& p, uint64_t nowMs);
  PacketVerdict proxyWaiting(rte_mbuf*& m, Parsed& p, session::Session& s);
  PacketVerdict proxyRsAnswer(rte_mbuf*& m, Parsed& p, uint64_t nowMs);
  bool writeSynToRs(rte_mbuf* m, uint16_t l3off, const session::Session& s);
  void writeRstToClient(rte_mbuf* m, uint16_t l3off, const session::Session& s);
  // The RS answered our SYN with the ACK of an older connection on the same tuple: `m` becomes
  // the RST that clears it (engine.cc).
  PacketVerdict resetStaleRs(rte_mbuf* m, const Parsed& p);
  // Sequence shift and Proxy Protocol v2 on a segment of a shifted session (engine_synproxy.cc).
  bool shiftToRs(rte_mbuf* m, Parsed& p, session::Session& s);  // false: no room for PPv2
  void shiftToClient(rte_mbuf* m, Parsed& p, session::Session& s);
  bool insertPpv2(rte_mbuf* m, Parsed& p, const session::Session& s);
  // Every removal of a session goes through here: frees what a shifted session holds.
  void removeSession(uint32_t idx);
  void releaseShift(uint32_t idx);
  // An mbuf from pool_ holding an Ethernet header (type IPv4, MACs zero), or nullptr.
  rte_mbuf* freshFrame();
  PacketVerdict newSession(Parsed& p, uint64_t nowMs);
  PacketVerdict icmp(rte_mbuf* m, Parsed& p);
  PacketVerdict icmp6(rte_mbuf* m, Parsed& p);  // engine6.cc
  // Both families' ICMP errors (icmp.cc): the session the quoted packet belongs to (`key`, its
  // reply direction), or kInvalid with `miss` set (redirect to the owner or the next worker,
  // or icmp_no_session); and the quoted TCP sequence number of a shifted session back into
  // the receiving endpoint's space (sums of the old and new words for the checksum update).
  uint32_t icmpSession(rte_mbuf* m, const session::FlowKey& key, bool toLip, PacketVerdict& miss);
  void unshiftQuotedSeq(uint8_t* ql4, uint32_t idx, bool toLip, uint32_t& sumOld, uint32_t& sumNew);
  // NAT64 (engine6.cc): the IPv6 header becomes IPv4 toward the RS, and back toward the client
  // (false: no headroom for the longer header).
  void nat64ToRs(rte_mbuf* m, Parsed& p, const session::Session& s);
  bool nat64ToClient(rte_mbuf* m, Parsed& p, const session::Session& s);
  // ICMP errors of NAT64 session `idx` across families (icmp_nat64.cc).
  PacketVerdict icmpNat64ToClient(rte_mbuf* m, Parsed& p, uint32_t idx);
  PacketVerdict icmpNat64ToRs(rte_mbuf* m, Parsed& p, uint32_t idx);
  [[nodiscard]] uint32_t timeoutOf(const session::Session& s) const;
  // After a packet translated session `s`: a replica becomes adopted; a created, changed or
  // due session goes to the sync service. One compare when nothing is due.
  void syncAfterPacket(session::Session& s, uint64_t nowMs) {
    if (syncOut_ == nullptr) return;
    if ((s.sync & session::kSyncDirty) == 0 &&
        (s.sync & (session::kReplica | session::kAdopted)) != session::kReplica &&
        static_cast<uint16_t>(static_cast<uint16_t>(nowMs >> 10) - s.syncTick) < refreshTicks_) {
      return;
    }
    syncPacketSlow(s, nowMs);
  }
  void syncPacketSlow(session::Session& s, uint64_t nowMs);
  bool pushSync(const session::Session& s, SyncKind kind, uint16_t dest, uint64_t nowMs);
  void installReplica(const SyncEvent& ev, uint64_t nowMs);
  [[nodiscard]] uint32_t resolveRsId(const session::Session& s) const;
  bool allocateLocal(const RsFwd& rs, uint8_t proto, uint8_t family, Addr& lip, uint16_t& lportBe);
  // An RS index of the service, SchedulerState::kNone or kOverloaded.
  int32_t schedule(uint32_t serviceIdx, const session::FlowKey& key, uint64_t nowMs);
  // IPVS's overload flag per rsId: set when a session is bound to the RS and its sessions on
  // this worker reach the worker's share of upper_threshold; cleared when one ends and they
  // are below the share of lower_threshold (3/4 of the upper share without one).
  void bindOverload(uint32_t rsId);
  void unbindOverload(uint32_t rsId);
  void setOverload(uint32_t rsId, bool on);
  void setState(session::Session& s, session::TcpState st);
  void countSession(const session::Session& s, int delta);
  bool insertToa(rte_mbuf* m, Parsed& p, const session::Session& s);
  // The TOA option's length for a session: by the client's family (toa/tcp_options.h).
  static unsigned toaLen(const session::Session& s) {
    return s.family == 6 ? toa::kToaLenV6 : toa::kToaLenV4;
  }
  void finishChecksums(rte_mbuf* m, Parsed& p);
  PacketVerdict drop(DropReason r) {
    ++counters_.drops[static_cast<unsigned>(r)];
    return PacketVerdict{Verdict::kDrop, r, 0};
  }

  uint16_t id_;
  uint16_t workers_;
  EngineOptions opts_;
  std::shared_ptr<const Snapshot> snap_;
  session::SessionTable table_;
  std::vector<SchedulerState> sched_;  // per service of snap_
  std::vector<uint32_t> active_;       // per rsId, sessions in ESTABLISHED
  std::vector<uint32_t> inactive_;     // per rsId, other states
  std::vector<uint8_t> overloaded_;    // per rsId, IPVS's OVERLOAD flag
  std::shared_ptr<PersistTable> persist_;
  uint32_t lipCursor_ = 0;
  std::vector<uint32_t> portCursor_;     // per LIP (v4 list, then v6 list)
  std::vector<uint32_t> scratchActive_;  // lc/wlc: per-RS counts of the service being scheduled
  std::vector<uint32_t> scratchInactive_;
  std::vector<uint8_t> scratchOverloaded_;
  WorkerCounters counters_;
  std::unique_ptr<RsStats[]> rsStats_;
  std::mt19937_64 rng_;          // control-plane-rate randomness (port cursors), not per packet
  HugeArray<ShiftState> shift_;  // per session index; touched only by shifted sessions
  synproxy::CookieJar cookies_;
  synproxy::FloodGate gate_;
  uint32_t synRecv_ = 0;  // sessions in SYN_RECV (the gate's measure)
  std::array<rte_mbuf*, 64> generated_{};
  uint16_t generatedCount_ = 0;
  rte_mempool* pool_ = nullptr;  // where generated packets come from: the last burst's pool
  // Session sync
  SyncRing* syncOut_ = nullptr;
  uint16_t refreshTicks_ = 10;  // 1024 ms ticks
  uint32_t replicaLimit_ = 0;
  uint32_t replicas_ = 0;
  SyncCounters sync_;
};

}  // namespace anylb::fullnat
