// The engine's side of session sync (docs/architecture.md, "Session sync"): what goes out to
// the sync service (sessions created, changed, refreshed, bulk-synced) and how peers' sessions
// come in (installed as replicas in this worker's own table, so that a flow moved here by an
// ECMP change is translated exactly as its owner did). Worker thread only.
#include <netinet/in.h>

#include <algorithm>

#include "fullnat/worker.h"

namespace anylb::fullnat {

using session::Dir;
using session::Session;
using session::SessionTable;

namespace {
// The longest idle time a peer may give a replica: the longest timeout there is (a day).
constexpr uint32_t kMaxReplicaMs = 24U * 3600U * 1000U;
constexpr uint32_t kNoRs = UINT32_MAX;
// Flags a peer's update may add to a session this node handles itself: facts about the
// connection that only the other node may have seen.
constexpr uint8_t kMergeableFlags =
    session::kSynAckSeen | session::kRsSentData | session::kFinFromClient | session::kFinFromRs;

bool sameRsSide(const Session& a, const Session& b) {
  return a.lip == b.lip && a.lport == b.lport && a.rip == b.rip && a.rport == b.rport;
}
}  // namespace

void Worker::setSync(SyncRing* out, uint32_t refreshMs, uint32_t replicaLimit) {
  syncOut_ = out;
  // Rounded up: a session is re-sent at most every refreshMs (ticks are 1.024 s).
  refreshTicks_ = static_cast<uint16_t>(std::clamp<uint32_t>((refreshMs + 1023) >> 10, 1, 0x7FFF));
  replicaLimit_ = replicaLimit;
}

bool Worker::pushSync(const Session& s, SyncKind kind, uint16_t dest, uint64_t nowMs) {
  SyncEvent ev;
  ev.s = s;
  const int64_t left = static_cast<int64_t>(table_.deadlineOf(s)) - static_cast<int64_t>(nowMs);
  ev.expiresInMs = static_cast<uint32_t>(std::clamp<int64_t>(left, 0, kMaxReplicaMs));
  ev.dest = dest;
  ev.kind = kind;
  if (!syncOut_->push(ev)) {
    ++sync_.eventsLost;
    return false;
  }
  ++sync_.eventsOut;
  return true;
}

uint32_t Worker::resolveRsId(const Session& s) const {
  const int32_t svc = snap_->findService(s.proto, s.vip, s.vport);
  if (svc < 0) return kNoRs;
  const ServiceFwd& f = snap_->service(static_cast<uint32_t>(svc));
  for (const auto& rs : f.rs) {
    if (rs.addr == s.rip && rs.portBe == s.rport) return rs.rsId;
  }
  // keepalived's sorry server: its sessions count toward it here as on their owner.
  if (f.hasSorry && f.sorry.addr == s.rip && f.sorry.portBe == s.rport) return f.sorry.rsId;
  return kNoRs;
}

void Worker::syncPacketSlow(Session& s, uint64_t nowMs) {
  if ((s.sync & (session::kReplica | session::kAdopted)) == session::kReplica) {
    // The first packet of a peer's session through this node: it carries the flow now. It
    // counts toward its RS from here on (a mere replica does not: it is the peer's).
    countSession(s, -1);
    s.rsId = resolveRsId(s);
    countSession(s, +1);
    s.sync |= session::kAdopted;
    ++sync_.adopted;
  }
  const auto tick = static_cast<uint16_t>(nowMs >> 10);
  const bool due = (s.sync & session::kSyncDirty) != 0 ||
                   static_cast<uint16_t>(tick - s.syncTick) >= refreshTicks_;
  if (!due) return;
  s.sync &= static_cast<uint8_t>(~session::kSyncDirty);
  s.syncTick = tick;
  // A shifted session's sequence numbers differ per side by state the message does not carry.
  if ((s.flags & session::kShifted) != 0) {
    ++sync_.skippedShifted;
    return;
  }
  pushSync(s, SyncKind::kUpsert, 0, nowMs);
}

bool Worker::bulkStep(uint16_t dest, uint32_t& cursor, uint32_t buckets, uint64_t nowMs) {
  if (syncOut_ == nullptr) return true;
  table_.advance(nowMs);
  // Each bucket holds at most kSlotsPerBucket sessions (+1 for the end marker).
  if (!syncOut_->hasRoom(size_t{buckets} * SessionTable::kSlotsPerBucket + 1)) return false;
  if (cursor != SessionTable::kWalkDone) {
    cursor = table_.forEachStep(cursor, buckets, [&](uint32_t idx) {
      const Session& s = table_.at(idx);
      if ((s.flags & session::kShifted) != 0) return;
      if (pushSync(s, SyncKind::kUpsert, dest, nowMs)) ++sync_.bulkSent;
    });
    if (cursor != SessionTable::kWalkDone) return false;
  }
  SyncEvent end;
  end.kind = SyncKind::kBulkEnd;
  end.dest = dest;
  return syncOut_->push(end);
}

uint32_t Worker::applySync(SyncRing& in, uint64_t nowMs, uint32_t budget) {
  table_.advance(nowMs);
  uint32_t n = 0;
  SyncEvent ev;
  while (n < budget && in.pop(ev)) {
    ++n;
    const Session& r = ev.s;
    if ((r.proto != IPPROTO_TCP && r.proto != IPPROTO_UDP) || (r.family != 4 && r.family != 6) ||
        static_cast<unsigned>(r.state) >= session::kTcpStateCount) {
      ++sync_.invalid;
      continue;
    }
    const session::FlowKey key = SessionTable::inboundKey(r);
    const uint32_t idx = table_.find(table_.hash(key), Dir::kIn, key);
    if (ev.kind == SyncKind::kDelete) {
      // Only a replica this node does not carry: a flow that moved here stays until it idles.
      if (idx != SessionTable::kInvalid &&
          (table_.at(idx).sync & (session::kReplica | session::kAdopted)) == session::kReplica) {
        removeSession(idx);
        ++sync_.deleted;
      }
      continue;
    }
    if (ev.kind != SyncKind::kUpsert) {
      ++sync_.invalid;
      continue;
    }
    const uint64_t deadline = nowMs + std::min(ev.expiresInMs, kMaxReplicaMs);
    if (idx != SessionTable::kInvalid) {
      Session& cur = table_.at(idx);
      const bool mine = (cur.sync & session::kReplica) == 0;
      const bool carried = (cur.sync & session::kAdopted) != 0;
      if (!sameRsSide(cur, r)) {
        // The client reused its tuple for a new connection elsewhere; a session this node
        // created or carries wins over a peer's view of the same client tuple.
        if (mine || carried) {
          ++sync_.conflicts;
          continue;
        }
        removeSession(idx);
        ++sync_.replaced;
        installReplica(ev, nowMs);
        continue;
      }
      if (mine || carried) {
        cur.flags |= static_cast<uint8_t>(r.flags & kMergeableFlags);
      } else {
        setState(cur, r.state);
        cur.sync &= static_cast<uint8_t>(~session::kSyncDirty);  // the peer's news, not ours
        cur.flags = static_cast<uint8_t>(r.flags & ~session::kShifted);
        cur.clientNext = r.clientNext;
        cur.rsNext = r.rsNext;
        cur.clientWin = r.clientWin;
        cur.rsWin = r.rsWin;
        cur.wscale = r.wscale;
      }
      if (static_cast<int64_t>(deadline - table_.deadlineOf(cur)) > 0) table_.touch(idx, deadline);
      ++sync_.updated;
      continue;
    }
    installReplica(ev, nowMs);
  }
  return n;
}

void Worker::installReplica(const SyncEvent& ev, uint64_t nowMs) {
  const Session& r = ev.s;
  if (replicas_ >= replicaLimit_) {
    ++sync_.replicaFull;
    return;
  }
  const uint32_t idx = table_.allocate();
  if (idx == SessionTable::kInvalid) {
    ++sync_.replicaFull;
    return;
  }
  Session& s = table_.at(idx);
  s.cip = r.cip;
  s.vip = r.vip;
  s.rip = r.rip;
  s.lip = r.lip;
  s.cport = r.cport;
  s.vport = r.vport;
  s.rport = r.rport;
  s.lport = r.lport;
  s.proto = r.proto;
  s.family = r.family;
  s.state = r.state;
  s.flags = static_cast<uint8_t>(r.flags & ~session::kShifted);
  s.rsId = kNoRs;  // a replica counts toward no RS of this node until it carries a packet
  s.generation = static_cast<uint32_t>(snap_->generation());
  const int32_t svc = snap_->findService(r.proto, r.vip, r.vport);
  s.service = static_cast<uint16_t>(svc < 0 ? 0 : svc);
  s.packetsIn = s.packetsOut = 0;
  s.clientNext = r.clientNext;
  s.rsNext = r.rsNext;
  s.clientWin = r.clientWin;
  s.rsWin = r.rsWin;
  s.wscale = r.wscale;
  // The peer's sequence tracking is as old as its last message: each side's next segment
  // re-learns it (RST excepted) before the window checks run.
  s.sync = session::kReplica | session::kLooseClient | session::kLooseRs;
  s.syncTick = static_cast<uint16_t>(nowMs >> 10);
  s.expires = static_cast<uint32_t>(nowMs + std::min(ev.expiresInMs, kMaxReplicaMs));
  if (!table_.insert(idx)) {  // its reply key is one of this node's sessions already
    ++sync_.conflicts;
    return;
  }
  countSession(s, +1);
  ++replicas_;
  sync_.replicas = replicas_;
  ++sync_.installed;
}

}  // namespace anylb::fullnat
