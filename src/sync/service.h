// The session-sync service (docs/architecture.md, "Session sync"): one thread per node that
// moves the workers' session events to the fleet's other nodes and the peers' sessions into
// the workers, over one UDP socket on a node address.
//
// Out: each worker's events (sync/event.h) are batched per peer into datagrams (codec.h:
// HMAC-tagged, sequence-numbered per peer) and sent at least every loop (~1 ms), so a batch
// waits at most that long. An event goes to the session's holders: every peer (replicas = 0),
// or the `replicas` live peers that rank highest for the flow's hash (rendezvous hashing).
// Peers that hear nothing for 1 s get an empty datagram: their liveness and lag measure.
// In: a datagram is accepted only from a configured peer's address, with a valid tag, the
// node id that address belongs to, and a sequence number its replay window has not seen; then
// its records go to the worker that owns their LPORT (Worker::ownerOf), the one the replies
// of that session reach. Everything refused is counted by reason and never installed.
// Bulk sync: at start the node asks every peer for all the sessions it holds and reports
// ready() once each peer has answered (bulk done, with its record count matched) or the bulk
// timeout has passed; the node announces nothing before (bgp::Controller's gate). A peer's
// request makes every worker walk its table (Dataplane::startBulk), one request at a time,
// paced to the exception path's per-peer rate.
//
// Loss: no acknowledgements. A lost live event is repaired by the session's next change or
// refresh (refresh_seconds); a lost bulk datagram by the count check and a new request.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/ip.h"
#include "config/config.h"
#include "sync/codec.h"
#include "sync/event.h"

namespace anylb::sync {

// What the service needs of the dataplane (Dataplane implements it; tests use plain rings).
class Workers {
 public:
  virtual ~Workers() = default;
  [[nodiscard]] virtual uint16_t count() const = 0;
  [[nodiscard]] virtual EventRing* out(uint16_t w) const = 0;
  [[nodiscard]] virtual EventRing* in(uint16_t w) const = 0;
  // The worker whose ring takes a peer's session: the one that owns its LPORT (network order),
  // where that session's replies arrive.
  [[nodiscard]] virtual uint16_t ownerOf(uint16_t lportBe) const = 0;
  // Every worker sends its whole table to `dest`, then a kBulkEnd; false while one runs.
  virtual bool startBulk(uint16_t dest) = 0;
};

struct ServiceOptions {
  uint16_t nodeId = 0;
  IpAddr bind;
  uint16_t port = 8848;
  Key key;
  uint32_t replicas = 0;  // 0: every peer
  uint32_t bulkTimeoutMs = 8000;
  uint32_t bulkDatagramsPerSecond = 8000;  // under the exception path's peer rate (10 k/s)
  std::vector<config::SyncPeer> peers;
};

// Why a datagram was refused (counted per peer, or as `unknown_source`).
enum class RxDrop : uint8_t {
  kUnknownSource,  // not from a configured peer's address
  kMalformed,      // short, bad magic, length, type, record
  kBadVersion,
  kBadTag,      // forged, corrupted, another fleet's key
  kWrongNode,   // a valid tag, but the node id is not the one of that address
  kReplayed,    // an old epoch, a duplicate or a sequence number older than the window
  kInRingFull,  // records: the worker's ring was full
  kCount
};
inline constexpr unsigned kRxDropCount = static_cast<unsigned>(RxDrop::kCount);
const char* toString(RxDrop d);

class Service {
 public:
  Service(ServiceOptions o, Workers& workers);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Opens the socket (a failure is retried every second by the thread, and reported in
  // status) and starts the thread, which asks every peer for its sessions.
  void start();
  void stop();
  // A reload: peers added (asked for their sessions) or removed; the others keep their state.
  void setPeers(std::vector<config::SyncPeer> peers);
  // Every peer's bulk sync is complete, or timed out: the node may announce.
  [[nodiscard]] bool ready() const { return ready_.load(std::memory_order_acquire); }
  // anylbctl sync, the stats' `sync` member.
  [[nodiscard]] nlohmann::json statusJson() const;

  struct Totals {
    uint64_t txDatagrams = 0, txRecords = 0, txErrors = 0, txBytes = 0;
    uint64_t rxDatagrams = 0, rxRecords = 0, rxBytes = 0;
    uint64_t rxDrops[kRxDropCount] = {};
    uint64_t bulkServed = 0, bulkReceived = 0, bulkRetries = 0;
    uint64_t eventsOut = 0;  // taken from the workers' rings
  };
  [[nodiscard]] Totals totals() const;
  struct PeerView {
    uint16_t nodeId = 0;
    std::string address;
    bool live = false;
    int64_t lastRxAgoMs = -1;  // -1: never
    uint64_t txDatagrams = 0, txRecords = 0, rxDatagrams = 0, rxRecords = 0, rxGaps = 0;
    uint64_t rxDrops[kRxDropCount] = {};
    std::string bulk;  // "pending", "receiving", "done", "timed_out", "incomplete"
    uint32_t bulkRecords = 0;
  };
  [[nodiscard]] std::vector<PeerView> peers() const;

 private:
  struct Peer;
  void run();
  bool openSocket();
  void receive(uint64_t nowMs);
  void handle(const uint8_t* data, size_t len, const sockaddr_in& from, uint64_t nowMs);
  void drainWorkers(uint64_t nowMs);
  void route(const Event& ev, uint64_t nowMs);
  void addRecord(Peer& p, bool bulk, const SessionRecord& r, uint64_t nowMs);
  void sendBuilder(Peer& p, Builder& b, uint32_t value, uint64_t nowMs);
  void sendControl(Peer& p, MsgType t, uint32_t value, uint64_t nowMs);
  bool sendDatagram(Peer& p, std::span<const uint8_t> d, uint64_t nowMs);
  void timers(uint64_t nowMs);
  void applyPeerChanges(uint64_t nowMs);
  Peer* peerByAddress(const sockaddr_in& from);
  Peer* peerById(uint16_t id);
  [[nodiscard]] bool live(const Peer& p, uint64_t nowMs) const;

  ServiceOptions o_;
  Workers& workers_;
  int fd_ = -1;
  std::string socketError_;
  uint64_t epoch_ = 0;
  std::vector<std::unique_ptr<Peer>> peers_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;  // peers_ and counters: the thread per iteration, readers briefly
  std::unique_ptr<std::vector<config::SyncPeer>> pendingPeers_;  // under mu_
  uint64_t startMs_ = 0;
  // The bulk sync being served (peer node id, 0 = none) and the workers done with it.
  uint16_t serving_ = 0;
  uint32_t servingRequest_ = 0;
  uint32_t servingRecords_ = 0;
  uint16_t servingEnds_ = 0;
  std::deque<std::pair<uint16_t, uint32_t>> bulkQueue_;  // (peer, request id)
  std::vector<std::optional<Event>> held_;          // per worker: a bulk event waiting for a token
  std::vector<std::pair<uint64_t, Peer*>> ranked_;  // route(): the peers by score, scratch
  bool backlog_ = false;  // a worker's ring held more than one loop takes: poll without waiting
  double bulkTokens_ = 0;
  uint64_t bulkTokensMs_ = 0;
  Totals totals_;
  uint32_t nextRequestId_ = 1;
};

}  // namespace anylb::sync
