// BFD (RFC 5880, single hop over UDP per RFC 5881) toward each ToR, so that a node that dies
// or freezes leaves the ToRs' ECMP sets within a few hundred milliseconds instead of the BGP
// hold time. The BGP sessions ride the exception path through the dataplane: when anylbd is
// killed, nothing can carry a FIN or NOTIFICATION to the ToRs any more, and only BFD's
// silence tells them fast. The ToRs tie their BGP sessions to the BFD sessions (FRR:
// `neighbor X bfd`).
//
// Asynchronous mode only: no echo, no demand mode, no authentication. While a session is not
// Up it sends at 1 s (RFC 5880 6.8.3); once Up it switches to the configured interval with a
// Poll Sequence. Packets leave from the uplink's address (source port 49152..65535, TTL 255)
// and are accepted only with TTL 255 (RFC 5881 GTSM), so they cross the exception path like
// the BGP sessions and share their fate. An IPv6 BGP session gets its own BFD session over
// IPv6 (RFC 5881: UDP 3784, hop limit 255 sent and required), from the uplink's address6.
//
// BfdSession is the protocol state machine on an injected clock (tested in simulated time);
// BfdAgent runs the sessions on a thread of their own, so a busy control thread cannot make
// the ToRs drop a healthy node.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/ip.h"

namespace anylb::bgp {

enum class BfdState : uint8_t { kAdminDown = 0, kDown = 1, kInit = 2, kUp = 3 };
const char* toString(BfdState s);

// The 24-byte mandatory section of a BFD control packet (RFC 5880 4.1).
struct BfdPacket {
  uint8_t diag = 0;
  BfdState state = BfdState::kDown;
  bool poll = false;
  bool final = false;
  uint8_t detectMult = 3;
  uint32_t myDiscr = 0;
  uint32_t yourDiscr = 0;
  uint32_t desiredMinTxUs = 0;
  uint32_t requiredMinRxUs = 0;
  uint32_t requiredMinEchoRxUs = 0;

  static constexpr size_t kSize = 24;
  void encode(uint8_t* out) const;
  // Checks RFC 5880 6.8.6's generic rules (version, length, multiplier, discriminators, no
  // multipoint, no authentication); returns why not, or "".
  static std::string decode(std::span<const uint8_t> in, BfdPacket& out);
};

class BfdSession {
 public:
  BfdSession(uint32_t localDiscr, uint32_t intervalUs, uint8_t multiplier);

  // A received packet (already decoded). Returns true if a Final must be sent at once.
  bool receive(const BfdPacket& p, uint64_t nowUs);
  // Time-driven work: detection timeout. Call often (at least every transmit interval).
  void poll(uint64_t nowUs);
  // The next packet to send (and when the one after it is due, jittered 75..100 %).
  BfdPacket nextPacket(uint64_t nowUs, bool final = false);
  [[nodiscard]] bool txDue(uint64_t nowUs) const { return nowUs >= nextTxUs_; }
  // 0 <= jitter < 1 (from the agent's random source): 0.75 + 0.25 * jitter of the interval.
  void scheduleTx(uint64_t nowUs, double jitter);

  [[nodiscard]] BfdState state() const { return state_; }
  [[nodiscard]] uint8_t diag() const { return diag_; }
  [[nodiscard]] uint32_t localDiscr() const { return localDiscr_; }
  [[nodiscard]] uint32_t remoteDiscr() const { return remoteDiscr_; }
  [[nodiscard]] uint64_t detectTimeUs() const;
  [[nodiscard]] uint64_t txIntervalUs() const;
  [[nodiscard]] bool pollPending() const { return pollPending_; }

 private:
  void setState(BfdState s, uint8_t diag);

  uint32_t localDiscr_;
  uint32_t fastUs_;
  uint8_t mult_;
  BfdState state_ = BfdState::kDown;
  uint8_t diag_ = 0;
  uint32_t desiredMinTxUs_ = 1'000'000;  // 1 s until Up
  uint32_t remoteDiscr_ = 0;
  BfdState remoteState_ = BfdState::kDown;
  uint32_t remoteMinRxUs_ = 1;
  uint32_t remoteDesiredMinTxUs_ = 0;
  uint8_t remoteMult_ = 0;
  bool pollPending_ = false;
  uint64_t lastRxUs_ = 0;
  bool heard_ = false;
  uint64_t nextTxUs_ = 0;
  uint64_t lastTxUs_ = 0;
  bool lastTxValid_ = false;
};

inline constexpr uint16_t kBfdControlPort = 3784;  // RFC 5881 (single hop, IPv4 and IPv6)

// One session toward a ToR, in the family of its addresses (both of one family).
struct BfdPeerConfig {
  std::string name;  // the uplink's ("/v6" appended for its IPv6 session)
  IpAddr local;
  IpAddr peer;
  // RFC 5881's port on both ends in production; tests on one loopback address use two.
  uint16_t localPort = kBfdControlPort;
  uint16_t peerPort = kBfdControlPort;
};

class BfdAgent {
 public:
  BfdAgent(std::vector<BfdPeerConfig> peers, uint32_t intervalMs, uint8_t multiplier);
  ~BfdAgent();
  BfdAgent(const BfdAgent&) = delete;
  BfdAgent& operator=(const BfdAgent&) = delete;

  // Starts the thread; sockets that cannot be opened yet are retried every second.
  void start();
  // A peer's session runs only while enabled (the agent enables it while the BGP session to
  // that ToR is established). Disabling an active session sends AdminDown, which the ToR does
  // not count as a failure (RFC 5882 3.2), and then keeps quiet.
  void setEnabled(size_t peer, bool on);
  void stop();
  // One object per peer (config order), for the `bfd` member of the BGP status.
  [[nodiscard]] nlohmann::json statusJson() const;
  // Per peer (config order): the session is Up.
  [[nodiscard]] std::vector<bool> up() const;

 private:
  struct Peer;
  void run();

  std::vector<std::unique_ptr<Peer>> peers_;
  uint32_t intervalUs_;
  uint8_t mult_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;  // guards the peers' state as seen by statusJson()/up()
};

}  // namespace anylb::bgp
