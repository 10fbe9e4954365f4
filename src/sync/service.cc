#include "sync/service.h"

#include <arpa/inet.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <system_error>

namespace anylb::sync {

namespace {

constexpr uint64_t kKeepaliveMs = 1000;    // an empty datagram to a peer we sent nothing to
constexpr uint64_t kLiveMs = 3000;         // a peer heard from within this is live
constexpr uint64_t kRetryMs = 1000;        // a bulk request not answered is sent again
constexpr unsigned kBulkTries = 3;         // requests per peer before "incomplete"
constexpr unsigned kRxPerLoop = 256;       // datagrams read per loop iteration
constexpr unsigned kEventsPerLoop = 4096;  // events taken per worker per loop iteration
constexpr double kBulkBurst = 256;         // datagrams

std::string errnoText(int e) {
  return std::error_code(e, std::generic_category()).message();
}

uint64_t steadyMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

SessionRecord toRecord(const Event& ev) {
  const session::Session& s = ev.s;
  SessionRecord r;
  r.kind = ev.kind == EventKind::kDelete ? RecordKind::kDelete : RecordKind::kUpsert;
  r.proto = s.proto;
  r.family = s.family;
  r.state = static_cast<uint8_t>(s.state);
  r.flags = s.flags;
  r.cip = s.cip;
  r.vip = s.vip;
  r.rip = s.rip;
  r.lip = s.lip;
  r.cport = s.cport;
  r.vport = s.vport;
  r.rport = s.rport;
  r.lport = s.lport;
  r.expiresInMs = ev.expiresInMs;
  r.clientNext = s.clientNext;
  r.rsNext = s.rsNext;
  r.clientWin = s.clientWin;
  r.rsWin = s.rsWin;
  r.wscale = s.wscale;
  return r;
}

Event toEvent(const SessionRecord& r) {
  Event ev;
  std::memset(&ev.s, 0, sizeof(ev.s));
  session::Session& s = ev.s;
  ev.kind = r.kind == RecordKind::kDelete ? EventKind::kDelete : EventKind::kUpsert;
  s.proto = r.proto;
  s.family = r.family;
  s.state = static_cast<session::TcpState>(r.state);
  s.flags = r.flags;
  s.cip = r.cip;
  s.vip = r.vip;
  s.rip = r.rip;
  s.lip = r.lip;
  s.cport = r.cport;
  s.vport = r.vport;
  s.rport = r.rport;
  s.lport = r.lport;
  ev.expiresInMs = r.expiresInMs;
  s.clientNext = r.clientNext;
  s.rsNext = r.rsNext;
  s.clientWin = r.clientWin;
  s.rsWin = r.rsWin;
  s.wscale = r.wscale;
  return ev;
}

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// The flow's hash for choosing its holders: the client side's tuple, the same on every node.
uint64_t flowHash(const session::Session& s) {
  uint64_t h = 0xCBF29CE484222325ULL;
  auto eat = [&](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ULL;
  };
  eat(s.cip.b, 16);
  eat(s.vip.b, 16);
  eat(reinterpret_cast<const uint8_t*>(&s.cport), 2);
  eat(reinterpret_cast<const uint8_t*>(&s.vport), 2);
  eat(&s.proto, 1);
  return h;
}

sockaddr_in sockaddrOf(const IpAddr& a, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  std::memcpy(&sa.sin_addr, a.bytes.data(), 4);
  return sa;
}

}  // namespace

const char* toString(RxDrop d) {
  switch (d) {
    case RxDrop::kUnknownSource:
      return "unknown_source";
    case RxDrop::kMalformed:
      return "malformed";
    case RxDrop::kBadVersion:
      return "bad_version";
    case RxDrop::kBadTag:
      return "bad_tag";
    case RxDrop::kWrongNode:
      return "wrong_node";
    case RxDrop::kReplayed:
      return "replayed";
    case RxDrop::kInRingFull:
      return "in_ring_full";
    case RxDrop::kCount:
      break;
  }
  return "?";
}

enum class BulkIn : uint8_t { kPending, kReceiving, kDone, kTimedOut, kIncomplete };

const char* toString(BulkIn b) {
  switch (b) {
    case BulkIn::kPending:
      return "pending";
    case BulkIn::kReceiving:
      return "receiving";
    case BulkIn::kDone:
      return "done";
    case BulkIn::kTimedOut:
      return "timed_out";
    case BulkIn::kIncomplete:
      return "incomplete";
  }
  return "?";
}

struct Service::Peer {
  config::SyncPeer cfg;
  sockaddr_in addr{};
  ReplayWindow window;
  uint64_t epochAccepted = 0;  // datagrams accepted in window.epoch()
  Builder live{MsgType::kSessions};
  Builder bulk{MsgType::kSessions};
  uint64_t seq = 0;  // last sent
  uint64_t lastRxMs = 0;
  uint64_t lastTxMs = 0;
  uint64_t liveSinceMs = 0;  // when the live batch got its first record
  uint64_t txDatagrams = 0, txRecords = 0, rxDatagrams = 0, rxRecords = 0;
  uint64_t rxDrops[kRxDropCount] = {};
  // Our bulk request to this peer.
  BulkIn bulkIn = BulkIn::kPending;
  uint32_t requestId = 0;
  uint64_t requestedMs = 0;
  uint64_t firstRequestMs = 0;  // the bulk timeout counts from here (start, or a reload's add)
  uint64_t bulkActivityMs = 0;
  uint32_t bulkRecords = 0;
  unsigned tries = 0;
  // The last bulk we served to this peer (a lost "done" is sent again on a repeated request).
  uint32_t servedId = 0;
  uint64_t servedEpoch = 0;  // the peer's incarnation that asked for it
  uint32_t servedRecords = 0;
  int lastTxErrno = 0;
};

Service::Service(ServiceOptions o, Workers& workers) : o_(std::move(o)), workers_(workers) {
  epoch_ = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  // Request ids differ between incarnations too (a peer also tells them apart by epoch).
  nextRequestId_ = static_cast<uint32_t>(epoch_ / 1000) | 1U;
  for (const auto& pc : o_.peers) {
    auto p = std::make_unique<Peer>();
    p->cfg = pc;
    p->addr = sockaddrOf(pc.address, o_.port);
    peers_.push_back(std::move(p));
  }
}

Service::~Service() {
  stop();
}

bool Service::openSocket() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    socketError_ = std::string("socket: ") + errnoText(errno);
    return false;
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // A bulk sync arrives as bursts: a large receive buffer (forced past rmem_max when root).
  const int buf = 8 << 20;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  }
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  }
  const sockaddr_in sa = sockaddrOf(o_.bind, o_.port);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
    const std::string err =
        "bind " + o_.bind.str() + ":" + std::to_string(o_.port) + ": " + errnoText(errno);
    ::close(fd);
    if (err != socketError_) spdlog::warn("sync: {} (retrying every second)", err);
    socketError_ = err;
    return false;
  }
  if (!socketError_.empty()) spdlog::info("sync: socket open on {}:{}", o_.bind.str(), o_.port);
  socketError_.clear();
  fd_ = fd;
  return true;
}

void Service::start() {
  if (thread_.joinable()) return;
  stop_ = false;
  startMs_ = steadyMs();
  if (peers_.empty()) ready_ = true;
  spdlog::info(
      "sync: node {} on {}:{}, {} peer(s), replicas {}, asking every peer for its "
      "sessions before announcing (at most {} ms)",
      o_.nodeId, o_.bind.str(), o_.port, peers_.size(),
      o_.replicas == 0 ? std::string("all") : std::to_string(o_.replicas), o_.bulkTimeoutMs);
  thread_ = std::thread([this] { run(); });
}

void Service::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Service::setPeers(std::vector<config::SyncPeer> peers) {
  std::lock_guard lock(mu_);
  pendingPeers_ = std::make_unique<std::vector<config::SyncPeer>>(std::move(peers));
}

void Service::applyPeerChanges(uint64_t nowMs) {
  if (!pendingPeers_) return;
  std::vector<std::unique_ptr<Peer>> next;
  for (const auto& pc : *pendingPeers_) {
    auto it = std::find_if(peers_.begin(), peers_.end(), [&](const auto& p) {
      return p && p->cfg.nodeId == pc.nodeId && p->cfg.address == pc.address;
    });
    if (it != peers_.end()) {
      (*it)->cfg = pc;  // LIP prefixes may change
      next.push_back(std::move(*it));
      continue;
    }
    auto p = std::make_unique<Peer>();
    p->cfg = pc;
    p->addr = sockaddrOf(pc.address, o_.port);
    // A new peer is asked for its sessions, but the node, already announcing, does not wait.
    p->bulkIn = BulkIn::kPending;
    p->requestId = nextRequestId_++;
    p->requestedMs = nowMs;
    p->firstRequestMs = nowMs;
    p->tries = 1;
    spdlog::info("sync: peer {} ({}) added", pc.nodeId, pc.address.str());
    next.push_back(std::move(p));
  }
  for (const auto& p : peers_) {
    if (p) spdlog::info("sync: peer {} ({}) removed", p->cfg.nodeId, p->cfg.address.str());
  }
  peers_ = std::move(next);
  for (auto& p : peers_) {
    if (p->tries == 1 && p->bulkIn == BulkIn::kPending && p->requestedMs == nowMs) {
      sendControl(*p, MsgType::kBulkRequest, p->requestId, nowMs);
    }
  }
  pendingPeers_.reset();
}

Service::Peer* Service::peerByAddress(const sockaddr_in& from) {
  for (auto& p : peers_) {
    if (p->addr.sin_addr.s_addr == from.sin_addr.s_addr) return p.get();
  }
  return nullptr;
}

Service::Peer* Service::peerById(uint16_t id) {
  for (auto& p : peers_) {
    if (p->cfg.nodeId == id) return p.get();
  }
  return nullptr;
}

bool Service::live(const Peer& p, uint64_t nowMs) const {
  return p.lastRxMs != 0 && nowMs - p.lastRxMs < kLiveMs;
}

void Service::run() {
  uint64_t lastOpenTry = 0;
  {
    std::lock_guard lock(mu_);
    const uint64_t now = steadyMs();
    if (openSocket()) lastOpenTry = now;
    for (auto& p : peers_) {
      p->requestId = nextRequestId_++;
      p->requestedMs = now;
      p->firstRequestMs = now;
      p->tries = 1;
      sendControl(*p, MsgType::kBulkRequest, p->requestId, now);
    }
  }
  while (!stop_.load(std::memory_order_relaxed)) {
    if (fd_ >= 0) {
      // No wait while the workers' rings hold more than one loop takes.
      pollfd pfd{fd_, POLLIN, 0};
      ::poll(&pfd, 1, backlog_ ? 0 : 1);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const uint64_t now = steadyMs();
    std::lock_guard lock(mu_);
    if (fd_ < 0 && now - lastOpenTry >= 1000) {
      lastOpenTry = now;
      openSocket();
    }
    applyPeerChanges(now);
    receive(now);
    drainWorkers(now);
    timers(now);
  }
}

void Service::receive(uint64_t nowMs) {
  if (fd_ < 0) return;
  uint8_t buf[2048];
  for (unsigned i = 0; i < kRxPerLoop; ++i) {
    sockaddr_in from{};
    socklen_t fl = sizeof(from);
    const ssize_t n =
        ::recvfrom(fd_, buf, sizeof(buf), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fl);
    if (n < 0) break;
    totals_.rxBytes += static_cast<uint64_t>(n);
    handle(buf, static_cast<size_t>(n), from, nowMs);
  }
}

void Service::handle(const uint8_t* data, size_t len, const sockaddr_in& from, uint64_t nowMs) {
  Peer* p = peerByAddress(from);
  if (p == nullptr) {
    ++totals_.rxDrops[static_cast<unsigned>(RxDrop::kUnknownSource)];
    return;
  }
  auto drop = [&](RxDrop d) {
    ++p->rxDrops[static_cast<unsigned>(d)];
    ++totals_.rxDrops[static_cast<unsigned>(d)];
  };
  Header h;
  static thread_local std::vector<SessionRecord> recs;
  recs.clear();
  switch (open({data, len}, o_.key, h, recs)) {
    case DecodeError::kNone:
      break;
    case DecodeError::kBadTag:
      return drop(RxDrop::kBadTag);
    case DecodeError::kBadVersion:
      return drop(RxDrop::kBadVersion);
    default:
      return drop(RxDrop::kMalformed);
  }
  if (h.nodeId != p->cfg.nodeId) return drop(RxDrop::kWrongNode);
  const uint64_t epochBefore = p->window.epoch();
  if (p->window.accept(h.epoch, h.seq) != ReplayWindow::Result::kAccepted) {
    return drop(RxDrop::kReplayed);
  }
  if (p->window.epoch() != epochBefore) p->epochAccepted = 0;
  ++p->epochAccepted;
  p->lastRxMs = nowMs;
  ++p->rxDatagrams;
  ++totals_.rxDatagrams;
  switch (h.type) {
    case MsgType::kSessions: {
      for (const auto& r : recs) {
        const Event ev = toEvent(r);
        EventRing* ring = workers_.in(workers_.ownerOf(r.lport));
        if (ring == nullptr || !ring->push(ev)) {
          drop(RxDrop::kInRingFull);
          continue;
        }
        ++p->rxRecords;
        ++totals_.rxRecords;
      }
      if (h.value != 0 && h.value == p->requestId &&
          (p->bulkIn == BulkIn::kPending || p->bulkIn == BulkIn::kReceiving)) {
        p->bulkIn = BulkIn::kReceiving;
        p->bulkRecords += static_cast<uint32_t>(recs.size());
        p->bulkActivityMs = nowMs;
      }
      break;
    }
    case MsgType::kBulkRequest: {
      const std::pair<uint16_t, uint32_t> req{p->cfg.nodeId, h.value};
      // The same request of the same incarnation again: our "done" was lost. A restarted peer
      // (new epoch) may reuse an id: it gets a new bulk sync.
      if (p->servedId == h.value && p->servedEpoch == h.epoch && h.value != 0) {
        sendControl(*p, MsgType::kBulkDone, p->servedRecords, nowMs);  // the last one was lost
      } else if ((serving_ != req.first || servingRequest_ != req.second) &&
                 std::find(bulkQueue_.begin(), bulkQueue_.end(), req) == bulkQueue_.end()) {
        bulkQueue_.push_back(req);
      }
      break;
    }
    case MsgType::kBulkDone:
      if (p->bulkIn == BulkIn::kPending || p->bulkIn == BulkIn::kReceiving) {
        p->bulkActivityMs = nowMs;
        if (h.value == p->bulkRecords) {
          p->bulkIn = BulkIn::kDone;
          ++totals_.bulkReceived;
          spdlog::info("sync: bulk sync from peer {} complete: {} sessions in {} ms", p->cfg.nodeId,
                       p->bulkRecords, nowMs - p->requestedMs);
        } else if (p->tries >= kBulkTries) {
          p->bulkIn = BulkIn::kIncomplete;
          spdlog::warn("sync: bulk sync from peer {} incomplete after {} tries: {} of {} sessions",
                       p->cfg.nodeId, p->tries, p->bulkRecords, h.value);
        } else {
          // Datagrams were lost (or this answers an older request): ask again.
          ++p->tries;
          ++totals_.bulkRetries;
          p->requestId = nextRequestId_++;
          p->requestedMs = nowMs;
          p->bulkRecords = 0;
          p->bulkIn = BulkIn::kPending;
          sendControl(*p, MsgType::kBulkRequest, p->requestId, nowMs);
        }
      }
      break;
  }
}

void Service::sendBuilder(Peer& p, Builder& b, uint32_t value, uint64_t nowMs) {
  Header h;
  h.nodeId = o_.nodeId;
  h.epoch = epoch_;
  h.seq = ++p.seq;
  h.value = value;
  const uint16_t n = b.count();
  if (sendDatagram(p, b.seal(o_.key, h), nowMs)) {
    p.txRecords += n;
    totals_.txRecords += n;
  }
  b.clear();
}

void Service::sendControl(Peer& p, MsgType t, uint32_t value, uint64_t nowMs) {
  Builder b(t);
  sendBuilder(p, b, value, nowMs);
}

bool Service::sendDatagram(Peer& p, std::span<const uint8_t> d, uint64_t nowMs) {
  p.lastTxMs = nowMs;
  if (fd_ < 0 || d.empty()) {
    ++totals_.txErrors;
    return false;
  }
  const ssize_t n = ::sendto(fd_, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&p.addr),
                             sizeof(p.addr));
  if (n != static_cast<ssize_t>(d.size())) {
    ++totals_.txErrors;
    const int err = errno;
    if (err != p.lastTxErrno) {
      spdlog::warn("sync: send to peer {} ({}) failed: {}", p.cfg.nodeId, p.cfg.address.str(),
                   errnoText(err));
      p.lastTxErrno = err;
    }
    return false;
  }
  if (p.lastTxErrno != 0) {
    spdlog::info("sync: sending to peer {} works again", p.cfg.nodeId);
    p.lastTxErrno = 0;
  }
  ++p.txDatagrams;
  ++totals_.txDatagrams;
  totals_.txBytes += d.size();
  return true;
}

void Service::addRecord(Peer& p, bool bulk, const SessionRecord& r, uint64_t nowMs) {
  Builder& b = bulk ? p.bulk : p.live;
  if (!bulk && b.empty()) p.liveSinceMs = nowMs;
  if (b.add(r)) return;
  if (b.empty()) return;  // a record the codec refuses (isValid): never sent
  sendBuilder(p, b, bulk ? servingRequest_ : 0, nowMs);
  if (!bulk) p.liveSinceMs = nowMs;
  b.add(r);
}

void Service::route(const Event& ev, uint64_t nowMs) {
  const SessionRecord r = toRecord(ev);
  if (o_.replicas == 0 || o_.replicas >= peers_.size()) {
    for (auto& p : peers_) addRecord(*p, false, r, nowMs);
    return;
  }
  // Rendezvous hashing over the live peers (all of them while none is known to be live): the
  // `replicas` highest scores hold the flow, on every node alike.
  const uint64_t fh = flowHash(ev.s);
  auto& ranked = ranked_;  // reused: no allocation per event once it has grown
  ranked.clear();
  bool anyLive = false;
  for (auto& p : peers_) anyLive = anyLive || live(*p, nowMs);
  for (auto& p : peers_) {
    if (anyLive && !live(*p, nowMs)) continue;
    ranked.emplace_back(mix64(fh ^ (uint64_t{p->cfg.nodeId} * 0x9E3779B97F4A7C15ULL)), p.get());
  }
  const size_t k = std::min<size_t>(o_.replicas, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(k), ranked.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; i < k; ++i) addRecord(*ranked[i].second, false, r, nowMs);
}

void Service::drainWorkers(uint64_t nowMs) {
  // Bulk datagrams are paced (a token per datagram) to stay under the peer's exception-path
  // rate at the receiver; live ones are not.
  bulkTokens_ = std::min(kBulkBurst, bulkTokens_ + static_cast<double>(nowMs - bulkTokensMs_) *
                                                       o_.bulkDatagramsPerSecond / 1000.0);
  bulkTokensMs_ = nowMs;
  Peer* target = serving_ != 0 ? peerById(serving_) : nullptr;
  held_.resize(workers_.count());
  backlog_ = false;
  for (uint16_t w = 0; w < workers_.count(); ++w) {
    EventRing* ring = workers_.out(w);
    if (ring == nullptr) continue;
    for (unsigned i = 0; i < kEventsPerLoop; ++i) {
      if (i + 1 == kEventsPerLoop) backlog_ = true;  // the ring may hold more
      Event ev;
      if (held_[w]) {
        ev = *held_[w];
        held_[w].reset();
      } else if (ring->pop(ev)) {
        ++totals_.eventsOut;
      } else {
        break;
      }
      if (ev.kind == EventKind::kBulkEnd) {
        if (ev.dest == serving_) ++servingEnds_;
        continue;
      }
      if (ev.dest == 0) {
        route(ev, nowMs);
        continue;
      }
      if (target == nullptr || ev.dest != serving_) continue;  // a peer removed meanwhile
      const SessionRecord r = toRecord(ev);
      if (!target->bulk.add(r)) {
        if (target->bulk.empty()) continue;  // refused by the codec: never sent
        if (bulkTokens_ < 1) {
          held_[w] = ev;  // this worker's events wait (in order) for the next token
          break;
        }
        bulkTokens_ -= 1;
        sendBuilder(*target, target->bulk, servingRequest_, nowMs);
        if (!target->bulk.add(r)) continue;
      }
      ++servingRecords_;
    }
  }
  // A batch leaves when full or once its first record is 1 ms old: under load datagrams stay
  // full (a flush every loop would shrink them as the loop wakes per received datagram).
  for (auto& p : peers_) {
    if (!p->live.empty() && nowMs - p->liveSinceMs >= 1) sendBuilder(*p, p->live, 0, nowMs);
  }
  if (target != nullptr && !target->bulk.empty() && servingEnds_ >= workers_.count()) {
    sendBuilder(*target, target->bulk, servingRequest_, nowMs);
  }
}

void Service::timers(uint64_t nowMs) {
  // Serving: the next queued request once the workers are free; "done" once every worker's
  // part is sent.
  if (serving_ != 0 && servingEnds_ >= workers_.count()) {
    if (Peer* p = peerById(serving_); p != nullptr) {
      if (!p->bulk.empty()) sendBuilder(*p, p->bulk, servingRequest_, nowMs);
      sendControl(*p, MsgType::kBulkDone, servingRecords_, nowMs);
      p->servedId = servingRequest_;
      p->servedEpoch = p->window.epoch();
      p->servedRecords = servingRecords_;
      spdlog::info("sync: bulk sync to peer {} sent: {} sessions", serving_, servingRecords_);
    }
    ++totals_.bulkServed;
    serving_ = 0;
  }
  while (serving_ == 0 && !bulkQueue_.empty()) {
    const auto [peer, id] = bulkQueue_.front();
    if (peerById(peer) == nullptr) {
      bulkQueue_.pop_front();
      continue;
    }
    if (!workers_.startBulk(peer)) break;
    bulkQueue_.pop_front();
    serving_ = peer;
    servingRequest_ = id;
    servingRecords_ = 0;
    servingEnds_ = 0;
  }
  bool allSettled = true;
  for (auto& p : peers_) {
    if (nowMs - p->lastTxMs >= kKeepaliveMs) sendControl(*p, MsgType::kSessions, 0, nowMs);
    if (p->bulkIn == BulkIn::kPending || p->bulkIn == BulkIn::kReceiving) {
      const uint64_t asked = nowMs - p->firstRequestMs;
      // A request may be lost (the peer's socket not open yet): asked again well within the
      // timeout.
      const uint64_t retryMs = std::clamp<uint64_t>(o_.bulkTimeoutMs / 4, 10, kRetryMs);
      if (p->bulkIn == BulkIn::kReceiving) {
        if (nowMs - p->bulkActivityMs >= o_.bulkTimeoutMs) {
          p->bulkIn = BulkIn::kIncomplete;  // silent mid-transfer
          spdlog::warn("sync: bulk sync from peer {} stalled: {} sessions received", p->cfg.nodeId,
                       p->bulkRecords);
        }
      } else if (p->lastRxMs == 0 && asked >= o_.bulkTimeoutMs) {
        p->bulkIn = BulkIn::kTimedOut;  // never heard of: down, or not started yet
        spdlog::info("sync: peer {} did not answer in {} ms: announcing without its sessions",
                     p->cfg.nodeId, o_.bulkTimeoutMs);
      } else if (asked >= 3ULL * o_.bulkTimeoutMs) {
        // Heard from, but never serving us (queued behind others' bulk syncs, or it refuses
        // ours) for three timeouts: announce with what we have.
        p->bulkIn = BulkIn::kIncomplete;
        spdlog::warn(
            "sync: peer {} is up but sent no bulk sync in {} ms: announcing without "
            "its sessions",
            p->cfg.nodeId, asked);
      } else if (nowMs - p->requestedMs >= retryMs) {
        p->requestedMs = nowMs;
        sendControl(*p, MsgType::kBulkRequest, p->requestId, nowMs);
      }
    }
    allSettled = allSettled && p->bulkIn != BulkIn::kPending && p->bulkIn != BulkIn::kReceiving;
  }
  if (allSettled && !ready_.load(std::memory_order_relaxed)) {
    spdlog::info("sync: ready after {} ms: the node may announce", nowMs - startMs_);
    ready_.store(true, std::memory_order_release);
  }
}

Service::Totals Service::totals() const {
  std::lock_guard lock(mu_);
  return totals_;
}

std::vector<Service::PeerView> Service::peers() const {
  std::lock_guard lock(mu_);
  const uint64_t now = steadyMs();
  std::vector<PeerView> out;
  for (const auto& p : peers_) {
    PeerView v;
    v.nodeId = static_cast<uint16_t>(p->cfg.nodeId);
    v.address = p->cfg.address.str();
    v.live = live(*p, now);
    v.lastRxAgoMs = p->lastRxMs == 0 ? -1 : static_cast<int64_t>(now - p->lastRxMs);
    v.txDatagrams = p->txDatagrams;
    v.txRecords = p->txRecords;
    v.rxDatagrams = p->rxDatagrams;
    v.rxRecords = p->rxRecords;
    const uint64_t hi = p->window.highest();
    v.rxGaps = hi > p->epochAccepted ? hi - p->epochAccepted : 0;
    std::copy(std::begin(p->rxDrops), std::end(p->rxDrops), std::begin(v.rxDrops));
    v.bulk = toString(p->bulkIn);
    v.bulkRecords = p->bulkRecords;
    out.push_back(std::move(v));
  }
  return out;
}

nlohmann::json Service::statusJson() const {
  nlohmann::json j;
  j["node_id"] = o_.nodeId;
  j["address"] = o_.bind.str();
  j["port"] = o_.port;
  j["ready"] = ready();
  j["replicas"] = o_.replicas;
  size_t queued = 0;
  for (uint16_t w = 0; w < workers_.count(); ++w) {
    if (const EventRing* r = workers_.out(w)) queued += r->size();
  }
  j["events_queued"] = queued;
  const Totals t = totals();
  {
    std::lock_guard lock(mu_);
    j["socket_error"] = socketError_;
    j["serving_bulk_to"] = serving_;
  }
  j["tx"] = {{"datagrams", t.txDatagrams},
             {"records", t.txRecords},
             {"bytes", t.txBytes},
             {"errors", t.txErrors}};
  nlohmann::json drops;
  for (unsigned d = 0; d < kRxDropCount; ++d)
    drops[toString(static_cast<RxDrop>(d))] = t.rxDrops[d];
  j["rx"] = {{"datagrams", t.rxDatagrams},
             {"records", t.rxRecords},
             {"bytes", t.rxBytes},
             {"dropped", drops}};
  j["bulk"] = {{"served", t.bulkServed}, {"received", t.bulkReceived}, {"retries", t.bulkRetries}};
  nlohmann::json ps = nlohmann::json::array();
  for (const auto& v : peers()) {
    nlohmann::json pd;
    for (unsigned d = 0; d < kRxDropCount; ++d) pd[toString(static_cast<RxDrop>(d))] = v.rxDrops[d];
    ps.push_back({{"node_id", v.nodeId},
                  {"address", v.address},
                  {"live", v.live},
                  {"last_rx_ms_ago", v.lastRxAgoMs},
                  {"tx_datagrams", v.txDatagrams},
                  {"tx_records", v.txRecords},
                  {"rx_datagrams", v.rxDatagrams},
                  {"rx_records", v.rxRecords},
                  {"rx_gaps", v.rxGaps},
                  {"rx_dropped", pd},
                  {"bulk", v.bulk},
                  {"bulk_records", v.bulkRecords}});
  }
  j["peers"] = ps;
  return j;
}

}  // namespace anylb::sync
