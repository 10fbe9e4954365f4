// The BGP controller: what this node announces, kept in line with what gobgpd announces.
//
// Desired paths, recomputed every tick from the node's state:
//  - each LIP prefix while the dataplane is alive (replies from the real servers must come back
//    to the node that owns the session), drained or not;
//  - each VIP /32 as its VipState says: healthy = dataplane alive and every service on the VIP
//    has min_healthy healthy RS; rise, hold-down and drain (GRACEFUL_SHUTDOWN) from VipState.
// The configured communities go on every path; draining VIPs also carry 65535:0. The next hop is
// left unspecified (0.0.0.0, or :: for IPv6): gobgpd sends each ToR its own session address,
// i.e. the uplink's address (IPv4 session) or address6 (IPv6 session).
//
// Backup routes (issue 16, session sync): each LIP prefix of the fleet's other nodes
// (`backupLips`) is announced too, under the same condition as our own LIPs (dataplane alive),
// with the local AS prepended `backupPrepend` extra times. The ToRs prefer the owner's shorter
// AS path while it announces; when the owner is gone they route its LIPs to the backups, and
// replies of the flows that moved to us (whose sessions we hold from the sync) come back to us.
// A prefix that is also one of our own LIPs is never a backup (own wins); duplicates count once.
// A reload that removes a backup prefix withdraws it at once: unlike an own LIP, no session of
// ours depends on it.
//
// The announce gate (setAnnounceGate): while closed, nothing at all is announced (no VIP, no
// own LIP, no backup LIP) and whatever was is withdrawn. A node that starts closes it until it
// holds its peers' sessions (bulk sync), so that it attracts neither their flows nor their
// replies before it can translate them. VIPs see "not healthy" while the gate is closed: their
// rise time counts from the tick that first sees the gate open (a VIP is announced rise after
// the opening, never earlier), and closing the gate over an announced VIP is a withdrawal like
// any other (it starts the hold-down). LIPs are announced on the first tick after the opening.
// Open by default: a node without session sync never touches it.
//
// Both families in one controller, one path per prefix: IPv4 prefixes go out on the IPv4
// sessions, IPv6 ones on the IPv6 sessions (each peer carries the one AFI/SAFI of its address
// family). Drain works per node, per VIP and per family (setFamilyDrain).
//
// The speaker is attached with a fresh client after every (re)start of gobgpd; attach()
// configures it from scratch (StartBgp, one AddPeer per uplink), and the next tick reconciles:
// gobgpd's local paths are listed and compared by prefix with the desired ones, missing or
// changed ones are added (an add replaces the old path of the same prefix), stray ones deleted.
// Reconcile runs whenever the desired set changes or a call failed, and every `reconcileMs`
// anyway. Failed calls are counted and logged once per change of the error.
//
// Control thread only; every BgpClient call is bounded by the client's deadline.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bgp/bgp_client.h"
#include "bgp/vip_state.h"
#include "common/ip.h"

namespace anylb::bgp {

struct ControllerOptions {
  GlobalSpec global;
  std::vector<PeerSpec> peers;
  std::vector<Prefix> lips;  // both families
  std::vector<IpAddr> vips;  // distinct VIP addresses, both families; vipHealthy[] follows them
  std::vector<uint32_t> communities;
  // The other nodes' LIP prefixes (both families), announced as backup routes.
  std::vector<Prefix> backupLips;
  // Extra prepends of the local AS on backup routes (PathSpec::prepend). The config allows
  // 1..10; the controller uses what it is given (0 would tie with the owner's path: ECMP).
  uint8_t backupPrepend = 3;
  uint64_t riseMs = 5000;
  uint64_t holdDownMs = 10000;
  uint64_t drainMs = 30000;
  uint64_t reconcileMs = 5000;
  uint64_t peerPollMs = 1000;
};

class Controller {
 public:
  explicit Controller(ControllerOptions o);

  // A freshly started gobgpd: configure it. Returns "" or the first error (the caller restarts
  // gobgpd then). nullptr: the speaker is down; nothing is called until the next attach.
  std::string attach(BgpClient* client, uint64_t nowMs);
  [[nodiscard]] bool attached() const { return client_ != nullptr; }

  void tick(uint64_t nowMs, bool dataplaneAlive, const std::vector<bool>& vipHealthy);

  // Called from tick() on every change of a VIP's announcement (after its log line): the hook
  // of keepalived's quorum_up / quorum_down. It must not call back into the controller.
  using VipChange = std::function<void(const IpAddr& vip, VipAnnounce from, VipAnnounce to)>;
  void onVipChange(VipChange cb) { onVipChange_ = std::move(cb); }

  // Drain every VIP (GRACEFUL_SHUTDOWN for drainMs, then withdrawn) or undrain.
  void setDrain(bool on, uint64_t nowMs);
  // Drain or undrain one VIP (the node's drain still covers it). False: not a VIP of ours.
  bool setVipDrain(const IpAddr& vip, bool on, uint64_t nowMs);
  // Drain or undrain every VIP of one family (IPv6 maintenance, say): the other family's VIPs
  // and every LIP stay as they are.
  void setFamilyDrain(Family f, bool on, uint64_t nowMs);
  [[nodiscard]] bool familyDrained(Family f) const { return familyDrain_[index(f)]; }
  // Every VIP of a drained family is withdrawn, and gobgpd announces none of them any more.
  [[nodiscard]] bool familyDrainComplete(Family f) const;
  [[nodiscard]] std::vector<IpAddr> drainedVips() const;
  // A reload: VIPs added or removed (the others keep their state), timers, communities, LIPs.
  // LIPs that are no longer configured stay announced until the restart: sessions on them
  // still need their replies.
  void reconfigure(ControllerOptions o, uint64_t nowMs);
  [[nodiscard]] bool draining() const { return draining_; }
  // Draining, and gobgpd no longer announces any VIP (or is down).
  [[nodiscard]] bool drainComplete() const;

  // Open (the default) or close the announce gate (see above). Takes effect at the next tick.
  void setAnnounceGate(bool open);
  [[nodiscard]] bool announceGateOpen() const { return gateOpen_; }

  // Best effort on the way out: delete every path this node announces.
  void withdrawAll();

  [[nodiscard]] std::vector<PathSpec> desired() const;
  [[nodiscard]] VipAnnounce vipState(size_t i) const { return vips_[i].current(); }
  // The BGP session to this peer is established (as of the last poll).
  [[nodiscard]] bool peerEstablished(const IpAddr& peer) const;
  // The status object of the `bgp` member of the stats (docs/operations.md).
  [[nodiscard]] nlohmann::json statusJson() const;

  struct Counters {
    uint64_t apiErrors = 0;
    uint64_t pathsAdded = 0;
    uint64_t pathsDeleted = 0;
    uint64_t reconciles = 0;
    uint64_t peerChanges = 0;
  };
  [[nodiscard]] const Counters& counters() const { return counters_; }

 private:
  static size_t index(Family f) { return f == Family::kV4 ? 0 : 1; }
  // What VipState i is told: drained by the node, by its family or one by one.
  [[nodiscard]] bool vipDrained(size_t i) const {
    return draining_ || vipDrain_[i] || familyDrain_[index(o_.vips[i].family)];
  }
  // Normalizes o's prefixes to their networks (gobgpd reports them so) and drops backup
  // prefixes that are own LIPs or repeated.
  static void normalize(ControllerOptions& o);
  void reconcile(uint64_t nowMs);
  void pollPeers();
  // Records the outcome of one kind of call; logs on a change. True on success.
  bool outcome(const char* op, const std::string& err);

  ControllerOptions o_;
  BgpClient* client_ = nullptr;
  std::vector<VipState> vips_;
  std::vector<bool> vipDrain_;  // drained one by one (control API)
  std::vector<bool> vipHealthy_;
  bool dataplaneAlive_ = false;
  bool draining_ = false;
  bool gateOpen_ = true;
  std::array<bool, 2> familyDrain_{};  // [IPv4, IPv6]
  bool dirty_ = true;                  // reconcile at the next tick
  std::vector<PathSpec> announced_;    // what gobgpd had after the last good reconcile
  bool announcedKnown_ = false;
  uint64_t nextReconcile_ = 0;
  uint64_t nextPeerPoll_ = 0;
  std::map<std::string, PeerStatus> peers_;    // by address
  std::map<std::string, std::string> errors_;  // op -> last error ("" = fine)
  Counters counters_;
  VipChange onVipChange_;
};

}  // namespace anylb::bgp
