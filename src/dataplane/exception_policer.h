// Policing of the exception path: every frame the engine hands to the kernel (ARP, ICMP and
// anything else addressed to a node address) passes one token bucket of its class before it
// is written to the uplink's TAP. The TAP and the kernel behind it are shared by BGP, BFD,
// ARP, health-check replies and SSH; without policing a flood at a node address fills the
// TAP, the BFD and BGP packets of the ToRs are lost with the junk, and the ToRs withdraw the
// node.
//
// Classes, in order of importance (each has its own buckets, so a flood of one class never
// takes another's share):
//   kPeerControl  BGP (TCP, port 179 on either side) and BFD (UDP to 3784 single hop, TTL 255
//                 as RFC 5881 requires; UDP to 4784 multihop) between a configured peer and
//                 the local address it peers with. One bucket per peer: the source address can
//                 be spoofed, so a flood that forges one ToR's address starves only that ToR's
//                 sessions and never the other ToR's. Single-hop BFD from off the link cannot
//                 forge TTL 255 (every router on the way decrements it) and lands in kOther.
//                 Session-sync peers ([[sync.peer]]) are peers too: their UDP to the sync port
//                 on the sync address, one bucket each (a bulk sync is bursts of datagrams
//                 that must not be cut to kOther's rate).
//   kRealServer   anything else (not ICMP) from a configured real server's address: the replies
//                 to the node's health checks. Without its own bucket a flood at the node's
//                 address drops those replies, every RS is marked down and the VIP withdrawn
//                 (lab_exception_flood showed it). The set is the config's at start (a reload
//                 that adds an RS puts its replies in kOther until the next restart).
//   kArpIcmp      ARP, ICMP, ICMPv6 (Neighbor Discovery among it).
//
// IPv6 is classified the same way (the header at offset 14, its next header read directly: a
// frame with extension headers before TCP/UDP is kOther). The IPv6 peers are the uplinks'
// gateway6 talking to the node's address6 (BGP/BFD over IPv6 to the ToR), the IPv6 real
// servers the config's at start.
//   kOther        everything else (SSH, the floods).
//
// One ExceptionPolicer per worker, owned and used only by that worker's lcore: no locks, no
// allocation after construction. No DPDK: it reads plain frame bytes, so it is unit-tested
// alone.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace anylb::dataplane {

enum class ExceptionClass : uint8_t { kPeerControl, kRealServer, kArpIcmp, kOther, kCount };
inline constexpr unsigned kExceptionClassCount = static_cast<unsigned>(ExceptionClass::kCount);
const char* toString(ExceptionClass c);

// A token bucket in packets: `packetsPerSecond` sustained, `burst` at once after a quiet spell.
// Time is a 64-bit monotonic millisecond count (any origin); it never wraps in practice, and a
// step backwards (a clock reset) only restarts the refill from the new value.
class TokenBucket {
 public:
  TokenBucket() = default;
  // Starts full (a node that just started must answer ARP and open BGP at once).
  TokenBucket(uint32_t packetsPerSecond, uint32_t burst, uint64_t nowMs);
  // Takes one packet's token if there is one. Refills first from the time since the last call.
  bool take(uint64_t nowMs);
  [[nodiscard]] uint32_t rate() const { return rate_; }
  [[nodiscard]] uint32_t burst() const { return static_cast<uint32_t>(capacity_ / kScale); }

 private:
  // Tokens are counted in 1/1000 packet so that a 1-ms refill step of `rate` packets/s adds an
  // exact whole number (rate units): no rounding drift at any rate.
  static constexpr uint64_t kScale = 1000;
  uint64_t tokens_ = 0;    // scaled
  uint64_t capacity_ = 0;  // burst * kScale
  uint64_t lastMs_ = 0;
  uint32_t rate_ = 0;
};

struct PolicerRate {
  uint32_t packetsPerSecond = 0;
  uint32_t burst = 0;
};

// What the policer needs from the configuration (filled by the dataplane from config::Config).
struct ExceptionPolicerConfig {
  // The ToRs of both families (2 uplinks x 2) and up to 64 session-sync peers, with room to
  // spare: the IPv6 peers' buckets follow the IPv4 ones, so sync peers must not use them up.
  static constexpr size_t kMaxPeers = 80;
  static constexpr size_t kMaxRealServers = 4096;  // more: the rest count as kOther
  struct Peer {
    uint32_t peerRaw = 0;   // IPv4, network byte order (as in the IP header)
    uint32_t localRaw = 0;  // the node's address the peer talks to, network byte order
    // A session-sync peer (src/sync/): its UDP datagrams to this port (host order) are its
    // control traffic; 0 for a ToR.
    uint16_t syncPort = 0;
  };
  bool enabled = true;  // false: every frame passes (and nothing is counted as policed)
  PolicerRate peer;     // per peer
  PolicerRate realServer;
  PolicerRate arpIcmp;
  PolicerRate other;
  std::array<Peer, kMaxPeers> peers{};
  size_t peerCount = 0;  // peers beyond kMaxPeers are ignored (their traffic is kOther)
  std::array<uint32_t, kMaxRealServers> realServersRaw{};  // IPv4, network byte order
  size_t realServerCount = 0;
  using Addr6 = std::array<uint8_t, 16>;  // network byte order
  struct Peer6 {
    Addr6 peer{};
    Addr6 local{};
  };
  std::array<Peer6, kMaxPeers> peers6{};
  size_t peer6Count = 0;  // their buckets follow the IPv4 peers' (kMaxPeers in all)
  std::array<Addr6, kMaxRealServers> realServers6{};
  size_t realServer6Count = 0;
};

class ExceptionPolicer {
 public:
  ExceptionPolicer() = default;  // disabled until configured
  ExceptionPolicer(const ExceptionPolicerConfig& cfg, uint64_t nowMs);

  struct Decision {
    ExceptionClass cls = ExceptionClass::kOther;
    bool pass = true;
  };
  // The class of a kernel-bound Ethernet frame and whether its bucket lets it pass. `frame`
  // is what the engine already validated (IPv4 lengths and IHL, or an ARP ether type); a
  // frame too short for what the class needs is kOther.
  Decision admit(std::span<const uint8_t> frame, uint64_t nowMs);
  // Classification alone (no token taken). `peer` receives the peer's index for kPeerControl.
  [[nodiscard]] ExceptionClass classify(std::span<const uint8_t> frame, size_t& peer) const;
  [[nodiscard]] bool enabled() const { return enabled_; }

 private:
  bool enabled_ = false;
  [[nodiscard]] ExceptionClass classify6(std::span<const uint8_t> frame, size_t& peer) const;

  std::array<ExceptionPolicerConfig::Peer, ExceptionPolicerConfig::kMaxPeers> peers_{};
  size_t peerCount_ = 0;
  std::array<ExceptionPolicerConfig::Peer6, ExceptionPolicerConfig::kMaxPeers> peers6_{};
  size_t peer6Count_ = 0;  // bucket of IPv6 peer i: peerBuckets_[peerCount_ + i]
  std::array<ExceptionPolicerConfig::Addr6, ExceptionPolicerConfig::kMaxRealServers>
      realServers6_{};  // sorted
  size_t realServer6Count_ = 0;
  std::array<TokenBucket, ExceptionPolicerConfig::kMaxPeers> peerBuckets_{};
  std::array<uint32_t, ExceptionPolicerConfig::kMaxRealServers> realServers_{};  // sorted
  size_t realServerCount_ = 0;
  TokenBucket realServer_;
  TokenBucket arpIcmp_;
  TokenBucket other_;
};

}  // namespace anylb::dataplane
