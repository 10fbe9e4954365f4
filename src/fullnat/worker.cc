// Worker lifecycle and the slower half of the packet path: creating sessions (scheduling,
// persistence, local address and port), state accounting, expiry and flushes.
#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "common/crc.h"
#include "fullnat/engine_internal.h"
#include "fullnat/ppv2.h"
#include "fullnat/worker.h"

#include <random>

namespace anylb::fullnat {

using session::Session;
using session::SessionTable;
using session::TcpState;

namespace {
// A worker's own persistence table when the node gives it none (persist_table.h): 2-way
// buckets of 64-byte slots, 4 MiB.
constexpr uint32_t kPersistSlots = 1U << 16;
constexpr unsigned kPortProbes = 64;  // LIP:LPORT candidates tried per new session

const char* const kDropNames[] = {
#define ANYLB_X(id, name, help) name,
    ANYLB_DROP_REASONS(ANYLB_X)
#undef ANYLB_X
};
const char* const kDropHelp[] = {
#define ANYLB_X(id, name, help) help,
    ANYLB_DROP_REASONS(ANYLB_X)
#undef ANYLB_X
};
}  // namespace

const char* dropReasonName(DropReason r) {
  return kDropNames[static_cast<unsigned>(r)];
}
const char* dropReasonHelp(DropReason r) {
  return kDropHelp[static_cast<unsigned>(r)];
}

Worker::Worker(uint16_t id, uint16_t workers, uint32_t sessionCapacity, const EngineOptions& opts)
    : id_(id),
      workers_(workers),
      opts_(opts),
      table_(sessionCapacity),
      persist_(opts.persistTable != nullptr ? opts.persistTable
                                            : std::make_shared<PersistTable>(kPersistSlots)),
      rsStats_(std::make_unique<RsStats[]>(kMaxRsStats)),
      rng_(std::random_device{}() ^ (uint64_t{id} << 32)),
      shift_(hugeArray<ShiftState>(table_.capacity())),
      cookies_(opts.cookieKey.k0 != 0 || opts.cookieKey.k1 != 0 ? opts.cookieKey
                                                                : SipKey{rng_(), rng_()}) {}

Worker::~Worker() {
  table_.forEach([this](uint32_t idx) {
    if ((table_.at(idx).flags & session::kShifted) != 0) releaseShift(idx);
  });
  for (uint16_t i = 0; i < generatedCount_; ++i) rte_pktmbuf_free(generated_[i]);
}

void Worker::setSnapshot(std::shared_ptr<const Snapshot> snap) {
  // Scheduler positions are per service of the new snapshot; counts are per stable rsId and
  // only ever grow in range, so sessions created under an older snapshot keep counting right.
  // lblc/lblcr entries start afresh too (docs/architecture.md, scheduling).
  sched_.assign(snap->services().size(), SchedulerState{});
  size_t maxRs = 0;
  for (size_t i = 0; i < snap->services().size(); ++i) {
    const auto& s = snap->service(static_cast<uint32_t>(i));
    maxRs = std::max(maxRs, s.rs.size());
    sched_[i].prepare(s.plan);
  }
  scratchActive_.assign(maxRs, 0);
  scratchInactive_.assign(maxRs, 0);
  scratchOverloaded_.assign(maxRs, 0);
  if (active_.size() < snap->rsIdLimit()) {
    active_.resize(snap->rsIdLimit(), 0);
    inactive_.resize(snap->rsIdLimit(), 0);
    overloaded_.resize(snap->rsIdLimit(), 0);
  }
  // Port cursors start at random places and survive snapshot changes: a node that restarts,
  // or walks the ports again after every health change, would otherwise reuse the very
  // LIP:LPORT -> RS tuples its last connections left in TIME_WAIT on the real servers, whose
  // new SYNs may then be answered with the old connection's ACK.
  const size_t lipCount = snap->lips(4).size() + snap->lips(6).size();
  while (portCursor_.size() < lipCount) {
    portCursor_.push_back(opts_.randomPortStart ? static_cast<uint32_t>(rng_()) : 0);
  }
  portCursor_.resize(lipCount);
  const auto& sp = snap->synProxy();
  gate_.setLimits({sp.autoSynRecv, sp.autoSynRate, sp.autoHoldSeconds * 1000U});
  snap_ = std::move(snap);
  // Thresholds may have changed: as IPVS does when an RS is edited, an RS without an upper
  // threshold now is not overloaded, and one with is judged afresh by its current sessions.
  for (uint32_t rsId = 0; rsId < overloaded_.size(); ++rsId) {
    if (overloaded_[rsId] != 0) unbindOverload(rsId);
    bindOverload(rsId);
  }
}

namespace {
// A worker's share of a node-wide threshold: ceil(threshold / workers), 64 bit.
uint64_t share(uint32_t threshold, uint16_t workers) {
  return (uint64_t{threshold} + workers - 1) / std::max<uint16_t>(workers, 1);
}
}  // namespace

void Worker::setOverload(uint32_t rsId, bool on) {
  overloaded_[rsId] = on ? 1 : 0;
  if (rsId < kMaxRsStats) rsStats_[rsId].overloaded = on ? 1 : 0;
}

void Worker::bindOverload(uint32_t rsId) {
  const auto ref = snap_->rsRef(rsId);
  if (ref.service < 0 || rsId >= overloaded_.size() || overloaded_[rsId] != 0) return;
  const RsFwd& rs =
      snap_->service(static_cast<uint32_t>(ref.service)).rs[static_cast<size_t>(ref.rs)];
  if (rs.upperThreshold == 0) return;
  const uint64_t total = uint64_t{active_[rsId]} + inactive_[rsId];
  if (total >= share(rs.upperThreshold, workers_)) setOverload(rsId, true);
}

void Worker::unbindOverload(uint32_t rsId) {
  if (rsId >= overloaded_.size() || overloaded_[rsId] == 0) return;
  const auto ref = snap_->rsRef(rsId);
  if (ref.service < 0) {  // the RS left the config: nothing to protect any more
    setOverload(rsId, false);
    return;
  }
  const RsFwd& rs =
      snap_->service(static_cast<uint32_t>(ref.service)).rs[static_cast<size_t>(ref.rs)];
  const uint64_t total = uint64_t{active_[rsId]} + inactive_[rsId];
  bool clear = true;  // no threshold any more
  if (rs.lowerThreshold != 0) {
    clear = total < share(rs.lowerThreshold, workers_);
  } else if (rs.upperThreshold != 0) {
    clear = total * 4 < share(rs.upperThreshold, workers_) * 3;
  }
  if (clear) setOverload(rsId, false);
}

uint32_t Worker::timeoutOf(const Session& s) const {
  const auto& t = snap_->timeouts();
  return s.proto == IPPROTO_UDP ? t.udpMs : t.ms[static_cast<unsigned>(s.state)];
}

void Worker::countSession(const Session& s, int delta) {
  if (s.state == TcpState::kSynRecv) {
    synRecv_ = static_cast<uint32_t>(static_cast<int64_t>(synRecv_) + delta);
    counters_.synRecvSessions = synRecv_;
  }
  if (s.rsId >= active_.size()) return;
  const bool established = s.state == TcpState::kEstablished;
  auto& counts = established ? active_ : inactive_;
  counts[s.rsId] = static_cast<uint32_t>(static_cast<int64_t>(counts[s.rsId]) + delta);
  if (s.rsId < kMaxRsStats) {
    auto& st = rsStats_[s.rsId];
    (established ? st.active : st.inactive) = counts[s.rsId];
  }
}

uint64_t Worker::listSessions(const SessionFilter& f, size_t limit, uint64_t nowMs,
                              std::vector<SessionInfo>& out) {
  uint64_t matched = 0;
  listSessionsStep(f, limit, nowMs, 0, table_.bucketCount(), out, matched);
  return matched;
}

uint32_t Worker::listSessionsStep(const SessionFilter& f, size_t limit, uint64_t nowMs,
                                  uint32_t cursor, uint32_t buckets, std::vector<SessionInfo>& out,
                                  uint64_t& matched) {
  // The filter in the sessions' own form (raw addresses, ports in network order): a session is
  // decoded only when it is listed, and not even read when nothing is filtered and the list is
  // full.
  const bool all = !f.vip && !f.client && !f.rs && f.vport == 0 && f.cport == 0 && f.rport == 0;
  const Addr vip = f.vip ? toAddr(*f.vip) : Addr{};
  const Addr client = f.client ? toAddr(*f.client) : Addr{};
  const Addr rs = f.rs ? toAddr(*f.rs) : Addr{};
  const uint16_t vport = rte_cpu_to_be_16(f.vport);
  const uint16_t cport = rte_cpu_to_be_16(f.cport);
  const uint16_t rport = rte_cpu_to_be_16(f.rport);
  auto addrOf = [](const session::Addr& a, uint8_t family) {
    if (family == 4) return IpAddr::v4(rte_be_to_cpu_32(a.v4Raw()));
    IpAddr ip;
    ip.family = Family::kV6;
    std::memcpy(ip.bytes.data(), a.b, 16);
    return ip;
  };
  return table_.forEachStep(cursor, buckets, [&](uint32_t idx) {
    if (!all) {
      const Session& s = table_.at(idx);
      if ((f.vip && !(s.vip == vip)) || (f.vport != 0 && s.vport != vport) ||
          (f.client && !(s.cip == client)) || (f.cport != 0 && s.cport != cport) ||
          (f.rs && !(s.rip == rs)) || (f.rport != 0 && s.rport != rport)) {
        return;
      }
    }
    ++matched;
    if (out.size() >= limit) return;
    const Session& s = table_.at(idx);
    SessionInfo i;
    i.proto = s.proto;
    i.state = s.state;
    i.client = addrOf(s.cip, s.family);
    i.vip = addrOf(s.vip, s.family);
    i.rs = addrOf(s.rip, (s.flags & session::kNat64) != 0 ? 4 : s.family);
    i.local = addrOf(s.lip, (s.flags & session::kNat64) != 0 ? 4 : s.family);
    i.cport = rte_be_to_cpu_16(s.cport);
    i.vport = rte_be_to_cpu_16(s.vport);
    i.rport = rte_be_to_cpu_16(s.rport);
    i.lport = rte_be_to_cpu_16(s.lport);
    const auto left = static_cast<int32_t>(s.expires - static_cast<uint32_t>(nowMs));
    i.expiresMs = left > 0 ? static_cast<uint32_t>(left) : 0;
    i.worker = id_;
    out.push_back(i);
  });
}

void Worker::setState(Session& s, TcpState st) {
  if (s.state == st) return;
  countSession(s, -1);
  s.state = st;
  countSession(s, +1);
  s.sync |= session::kSyncDirty;  // peers hear of it after this packet (syncAfterPacket)
}

int32_t Worker::schedule(uint32_t serviceIdx, const session::FlowKey& key, uint64_t nowMs) {
  const ServiceFwd& svc = snap_->service(serviceIdx);
  const size_t n = svc.rs.size();
  // Persistence template, keyed like IPVS's: (client address & netmask, VIP, VPORT, protocol).
  // Shared by the workers, so a client's connections on any worker find it. A template whose
  // RS is gone or has weight 0 is ignored (and overwritten below); one whose RS is overloaded
  // is followed, as IPVS follows it.
  PersistKey pk;
  const bool persistent = svc.persistenceMs != 0;
  const uint64_t expires = nowMs + svc.persistenceMs;
  auto validRs = [&](int64_t rsId) -> int32_t {
    if (rsId < 0) return -1;
    const auto ref = snap_->rsRef(static_cast<uint32_t>(rsId));
    if (ref.service != static_cast<int32_t>(serviceIdx)) return -1;
    return svc.rs[static_cast<size_t>(ref.rs)].weight > 0 ? ref.rs : -1;
  };
  if (persistent) {
    pk.client = key.src;
    const unsigned bits = svc.persistenceBits;
    for (unsigned i = 0; i < 16; ++i) {
      const unsigned keep = bits > i * 8 ? bits - i * 8 : 0;
      pk.client.b[i] &= keep >= 8 ? 0xFF : static_cast<uint8_t>(0xFF00U >> keep);
    }
    pk.vip = key.dst;
    pk.vportBe = key.dport;
    pk.proto = key.proto;
    pk.family = svc.family;
    if (const int32_t rs = validRs(persist_->lookup(pk, nowMs, expires)); rs >= 0) return rs;
  }
  SchedInput in;
  in.nowMs = nowMs;
  switch (svc.scheduler) {
    case config::Scheduler::kSh:
    case config::Scheduler::kMh: {
      // Fixed (not keyed) hashes: the same choice on every node of the fleet. IPVS hashes the
      // client address, and with sh-port / mh-port its port too.
      uint64_t w[2];
      std::memcpy(w, key.src.b, 16);
      uint32_t h = crc64(w[1], crc64(w[0], 0));
      if (svc.hashPort) h = crc32(key.sport, h);
      in.flowHash = h;
      break;
    }
    case config::Scheduler::kDh: {
      uint64_t w[2];
      std::memcpy(w, key.dst.b, 16);
      in.destHash = crc64(w[1], crc64(w[0], 0));
      break;
    }
    case config::Scheduler::kRr:
    case config::Scheduler::kWrr:
    case config::Scheduler::kFo:
      break;
    default:  // the connection-counting schedulers: this worker's counts (docs: scheduling)
      for (size_t i = 0; i < n; ++i) {
        scratchActive_[i] = activeConns(svc.rs[i].rsId);
        scratchInactive_[i] = inactiveConns(svc.rs[i].rsId);
      }
      in.active = {scratchActive_.data(), n};
      in.inactive = {scratchInactive_.data(), n};
      break;
  }
  if (svc.hasThresholds) {
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      scratchOverloaded_[i] = overloaded_[svc.rs[i].rsId];
      any |= scratchOverloaded_[i] != 0;
    }
    if (any) in.overloaded = {scratchOverloaded_.data(), n};
  }
  int32_t rs = sched_[serviceIdx].pick(svc.plan, in);
  if (rs >= 0 && persistent) {
    const auto r = persist_->store(pk, svc.rs[static_cast<size_t>(rs)].rsId, nowMs, expires);
    if (r.collision) ++counters_.persistCollisions;
    if (r.raced) ++counters_.persistRaces;
    // Another worker stored this client's template first: follow it, so both agree.
    if (const int32_t first = validRs(r.rsId); first >= 0) rs = first;
  }
  return rs;
}

bool Worker::allocateLocal(const RsFwd& rs, uint8_t proto, uint8_t family, Addr& lip,
                           uint16_t& lportBe) {
  // Ports owned by this worker: p % workers == id, so replies can be steered by LPORT. A port
  // is free toward this RS when the outbound key (RIP, RPORT, LIP, LPORT) is unused: the same
  // LIP:LPORT may serve different RS at once. Cursors make successive probes walk the space.
  const auto& lips = snap_->lips(family);
  if (lips.empty()) return false;
  const size_t cursorBase = family == 4 ? 0 : snap_->lips(4).size();  // portCursor_ layout
  // The worker's ports of [port_min, port_max]: the first one with port % workers == id, then
  // every workers-th (config validation leaves each worker one at least).
  const uint32_t lo = snap_->localPortMin();
  const uint32_t base = lo + (id_ + workers_ - lo % workers_) % workers_;
  if (base > snap_->localPortMax()) return false;
  const uint32_t count = (snap_->localPortMax() - base) / workers_ + 1;
  for (unsigned probe = 0; probe < kPortProbes; ++probe) {
    const uint32_t li = lipCursor_++ % lips.size();
    const uint32_t port = base + (portCursor_[cursorBase + li]++ % count) * workers_;
    const uint16_t be = rte_cpu_to_be_16(static_cast<uint16_t>(port));
    const session::FlowKey out{rs.addr, lips[li], rs.portBe, be, proto};
    if (table_.find(table_.hash(out), session::Dir::kOut, out) == SessionTable::kInvalid) {
      lip = lips[li];
      lportBe = be;
      return true;
    }
  }
  return false;
}

PacketVerdict Worker::newSession(Parsed& p, uint64_t nowMs) {
  const ServiceFwd& svc = snap_->service(static_cast<uint32_t>(p.service));
  // A client claiming one of our own addresses (a VIP, a LIP, an uplink address): spoofed or
  // looped, never a real client (the cheap prefix checks ran in parse()).
  if (snap_->isVip(p.key.src) ||
      (p.v6 ? snap_->isLip6(p.key.src.b) : snap_->isLip4(p.key.src.v4Raw())) ||
      snap_->isNodeAddress(p.key.src)) {
    return drop(DropReason::kMartianSource);
  }
  // keepalived's sorry_server: while the node says so, every new session goes there.
  const int32_t rsIdx =
      svc.sorryActive ? -1 : schedule(static_cast<uint32_t>(p.service), p.key, nowMs);
  if (rsIdx == SchedulerState::kOverloaded) return drop(DropReason::kRsOverloaded);
  if (rsIdx < 0 && !svc.sorryActive) return drop(DropReason::kNoRealServer);
  const RsFwd& rs = svc.sorryActive ? svc.sorry : svc.rs[static_cast<size_t>(rsIdx)];
  const uint32_t idx = table_.allocate();
  if (idx == SessionTable::kInvalid) return drop(DropReason::kSessionTableFull);
  Session& s = table_.at(idx);
  const uint8_t family = p.v6 ? 6 : 4;
  const uint8_t rsFamily = rs.ip.isV4() ? 4 : 6;  // 4 for an IPv6 client: NAT64
  if (!allocateLocal(rs, p.proto, rsFamily, s.lip, s.lport)) {
    table_.discard(idx);
    return drop(DropReason::kNoLocalPort);
  }
  s.cip = p.key.src;
  s.cport = p.key.sport;
  s.vip = p.key.dst;
  s.vport = p.key.dport;
  s.rip = rs.addr;
  s.rport = rs.portBe;
  s.rsId = rs.rsId;
  s.generation = static_cast<uint32_t>(snap_->generation());
  s.service = static_cast<uint16_t>(p.service);
  s.proto = p.proto;
  s.family = family;
  s.state = p.proto == IPPROTO_TCP ? TcpState::kSynRecv : TcpState::kNone;
  s.flags = 0;
  if (p.proto == IPPROTO_TCP && svc.clientAddress == config::ClientAddress::kToa) {
    s.flags = session::kToa;
  } else if (p.proto == IPPROTO_TCP &&
             svc.clientAddress == config::ClientAddress::kProxyProtocolV2) {
    s.flags = session::kPpv2;
    // clientIsn is set from the SYN (inbound()) or the cookie ACK (cookieAck()).
    const unsigned ppLen = family == 6 ? ppv2::kHeaderLenV6 : ppv2::kHeaderLenV4;
    shift_[idx] = ShiftState{0, 0, 0, static_cast<uint8_t>(ppLen), 0, 0, 0, nullptr};
  }
  if (rsFamily != family) s.flags |= session::kNat64;
  s.packetsIn = s.packetsOut = 0;
  s.clientNext = s.rsNext = 0;  // set by inbound()/outbound() from the SYN and the SYN-ACK
  s.clientWin = s.rsWin = 0;
  s.wscale = 0xFF;
  s.sync = syncOut_ != nullptr ? session::kSyncDirty : 0;
  s.syncTick = static_cast<uint16_t>(nowMs >> 10);
  s.expires = static_cast<uint32_t>(nowMs + timeoutOf(s));
  if (!table_.insert(idx)) return drop(DropReason::kSessionTableFull);  // cannot happen: checked
  countSession(s, +1);
  bindOverload(s.rsId);
  ++counters_.sessionsCreated;
  if (s.rsId < kMaxRsStats) ++rsStats_[s.rsId].conns;
  p.idx = idx;
  return PacketVerdict{Verdict::kForward, {}, 0};
}

namespace {
// The L4 checksum field of the TCP or UDP header at `l4`. DPDK's header structs are packed, so
// the field is read and written through memcpy, never through a uint16_t* (which GCC rightly
// flags with -Waddress-of-packed-member: the field may be unaligned in the frame).
uint8_t* l4ChecksumAt(uint8_t* l4, uint8_t proto) {
  return l4 +
         (proto == IPPROTO_TCP ? offsetof(rte_tcp_hdr, cksum) : offsetof(rte_udp_hdr, dgram_cksum));
}
uint16_t loadSum(const uint8_t* at) {
  uint16_t v;
  std::memcpy(&v, at, sizeof(v));
  return v;
}
void storeSum(uint8_t* at, uint16_t v) {
  std::memcpy(at, &v, sizeof(v));
}
}  // namespace

void Worker::finishChecksums(rte_mbuf* m, Parsed& p) {
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  if (p.v6) {  // no header checksum; UDP always has one (parse6() drops those without)
    uint8_t* l4sum = l4ChecksumAt(data + p.l4off, p.proto);
    if (opts_.txChecksumOffload) {
      m->l2_len = p.l3off;
      m->l3_len = p.l4off - p.l3off;  // extension headers included
      m->ol_flags |= RTE_MBUF_F_TX_IPV6 |
                     (p.proto == IPPROTO_TCP ? RTE_MBUF_F_TX_TCP_CKSUM : RTE_MBUF_F_TX_UDP_CKSUM);
      const auto* ip6 = reinterpret_cast<const rte_ipv6_hdr*>(data + p.l3off);
      storeSum(l4sum, csum::fold(detail::pseudoSum6(ip6, p.l4len, p.proto)));
      return;
    }
    uint16_t v = csum::update(loadSum(l4sum), p.l4Old, p.l4New);
    if (v == 0 && p.proto == IPPROTO_UDP) v = 0xFFFF;
    storeSum(l4sum, v);
    return;
  }
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + p.l3off);
  uint8_t* l4sum = nullptr;
  if (p.proto == IPPROTO_TCP || p.proto == IPPROTO_UDP) {
    l4sum = l4ChecksumAt(data + p.l4off, p.proto);
    // IPv4 UDP without checksum stays without.
    if (p.proto == IPPROTO_UDP && loadSum(l4sum) == 0) l4sum = nullptr;
  }
  if (opts_.txChecksumOffload) {
    m->l2_len = p.l3off;
    m->l3_len = p.l4off - p.l3off;
    m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
    ip->hdr_checksum = 0;
    if (l4sum != nullptr) {
      m->ol_flags |= p.proto == IPPROTO_TCP ? RTE_MBUF_F_TX_TCP_CKSUM : RTE_MBUF_F_TX_UDP_CKSUM;
      storeSum(l4sum, rte_ipv4_phdr_cksum(ip, m->ol_flags));
    }
    return;
  }
  ip->hdr_checksum = csum::update(ip->hdr_checksum, p.ipOld, p.ipNew);
  if (l4sum != nullptr) {
    uint16_t v = csum::update(loadSum(l4sum), p.l4Old, p.l4New);
    if (v == 0 && p.proto == IPPROTO_UDP) v = 0xFFFF;  // 0 means "no checksum" for UDP
    storeSum(l4sum, v);
  }
}

uint32_t Worker::expire(uint64_t nowMs, uint32_t budget) {
  const uint32_t n = table_.expire(nowMs, budget, [this](const Session& s) {
    countSession(s, -1);
    unbindOverload(s.rsId);
    if ((s.sync & session::kReplica) != 0) sync_.replicas = --replicas_;
    if ((s.flags & session::kShifted) == 0) return;
    const uint32_t idx = table_.indexOf(s);
    if ((s.flags & session::kSynProxy) != 0 && (s.flags & session::kSynAckSeen) == 0) {
      // The client was told the connection is open and the RS never answered: reset the
      // client rather than leave it waiting. The held segment, if any, carries the RST.
      ++counters_.synproxyRsTimeouts;
      rte_mbuf* m = shift_[idx].parked;
      shift_[idx].parked = nullptr;
      if (m == nullptr) m = freshFrame();
      if (m != nullptr) {
        if (generatedCount_ < generated_.size()) {
          writeRstToClient(m, sizeof(rte_ether_hdr), s);
          generated_[generatedCount_++] = m;
        } else {
          rte_pktmbuf_free(m);
        }
      }
    }
    releaseShift(idx);
  });
  counters_.sessionsExpired += n;
  return n;
}

rte_mbuf* Worker::freshFrame() {
  if (pool_ == nullptr) return nullptr;
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) return nullptr;
  auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, sizeof(rte_ether_hdr)));
  if (eth == nullptr) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  std::memset(eth, 0, sizeof(*eth));  // the dataplane sets both MACs when it forwards
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  return m;
}

uint16_t Worker::takeGenerated(rte_mbuf** out, uint16_t max) {
  const uint16_t n = std::min(max, generatedCount_);
  std::copy_n(generated_.begin(), n, out);
  std::copy(generated_.begin() + n, generated_.begin() + generatedCount_, generated_.begin());
  generatedCount_ = static_cast<uint16_t>(generatedCount_ - n);
  return n;
}

void Worker::releaseShift(uint32_t idx) {
  if (rte_mbuf* m = shift_[idx].parked; m != nullptr) {
    rte_pktmbuf_free(m);
    shift_[idx].parked = nullptr;
  }
}

void Worker::removeSession(uint32_t idx) {
  const Session& s = table_.at(idx);
  countSession(s, -1);
  unbindOverload(s.rsId);
  if ((s.sync & session::kReplica) != 0) sync_.replicas = --replicas_;
  if ((s.flags & session::kShifted) != 0) releaseShift(idx);
  table_.remove(idx);
}

std::string Worker::checkInvariants() const {
  std::string err = table_.checkInvariants();
  if (!err.empty()) return err;
  std::vector<uint32_t> act(active_.size(), 0);
  std::vector<uint32_t> inact(inactive_.size(), 0);
  std::string held;
  table_.forEachStep(0, table_.bucketCount(), [&](uint32_t idx) {
    const Session& s = table_.at(idx);
    // Only a SYN-proxied session still waiting for its RS may hold a client segment.
    const bool waiting =
        (s.flags & (session::kSynProxy | session::kSynAckSeen)) == session::kSynProxy;
    if ((s.flags & session::kShifted) != 0 && shift_[idx].parked != nullptr && !waiting) {
      held = "session " + std::to_string(idx) + " holds a segment but is not waiting for its RS";
    }
    if (s.rsId >= act.size()) return;
    ++(s.state == TcpState::kEstablished ? act : inact)[s.rsId];
  });
  if (!held.empty()) return held;
  for (size_t rs = 0; rs < act.size(); ++rs) {
    if (act[rs] != active_[rs] || inact[rs] != inactive_[rs]) {
      return "rsId " + std::to_string(rs) + ": active/inactive " + std::to_string(active_[rs]) +
             "/" + std::to_string(inactive_[rs]) + ", recount " + std::to_string(act[rs]) + "/" +
             std::to_string(inact[rs]);
    }
  }
  return {};
}

uint32_t Worker::flushRealServer(uint32_t rsId) {
  uint32_t n = 0;
  table_.forEach([&](uint32_t idx) {
    Session& s = table_.at(idx);
    if (s.rsId == rsId) {
      // Peers drop their replicas too; the flush is the owner's decision.
      if (syncOut_ != nullptr && (s.sync & session::kReplica) == 0) {
        pushSync(s, SyncKind::kDelete, 0, table_.nowMs());
      }
      removeSession(idx);
      ++n;
    }
  });
  return n;
}

}  // namespace anylb::fullnat
