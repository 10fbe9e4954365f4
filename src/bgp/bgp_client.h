// What the BGP controller needs from a BGP speaker. The real one drives gobgpd over its gRPC
// API (gobgp_client.h); controller tests use a fake. Every call has a deadline and returns an
// error message instead of throwing ("" = success).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/ip.h"

namespace anylb::bgp {

inline constexpr uint32_t kGracefulShutdown = 0xFFFF0000;  // community 65535:0 (RFC 8326)
// PathSpec::prepend of a listed path whose AS_PATH is not the local AS repeated (not ours to
// keep: it never equals a desired path, whose prepend the config limits to 1..10).
inline constexpr uint8_t kForeignAsPath = 0xFF;

struct GlobalSpec {
  uint32_t asn = 0;
  IpAddr routerId;
  int32_t listenPort = -1;  // -1: gobgpd does not listen; sessions are opened by us
};

struct PeerSpec {
  IpAddr address;
  uint32_t peerAs = 0;
  IpAddr localAddress;
  uint32_t holdTime = 9;
  uint32_t keepalive = 3;
};

struct PathSpec {
  Prefix prefix;
  IpAddr nextHop;                     // eBGP sessions rewrite it to the session's local address
  std::vector<uint32_t> communities;  // (ASN << 16) | value
  // Times the local AS is prepended to the AS path beyond the one prepend every eBGP export
  // makes: 0 for the node's own prefixes, > 0 for backup routes (a longer AS path loses to the
  // owner's). Read back from gobgpd as the length of the path's AS_SEQUENCE of the local AS,
  // kForeignAsPath when the path carries anything else.
  uint8_t prepend = 0;
  friend bool operator==(const PathSpec&, const PathSpec&) = default;
};

struct PeerStatus {
  IpAddr address;
  bool established = false;
  std::string state;  // "idle", "active", "established", ...
};

class BgpClient {
 public:
  virtual ~BgpClient() = default;
  virtual std::string startBgp(const GlobalSpec& g) = 0;
  virtual std::string addPeer(const PeerSpec& p) = 0;
  virtual std::string addPath(const PathSpec& p) = 0;
  virtual std::string deletePath(const PathSpec& p) = 0;
  // The paths this node originated (the global RIB's local paths).
  virtual std::string listPaths(std::vector<PathSpec>& out) = 0;
  virtual std::string listPeers(std::vector<PeerStatus>& out) = 0;
};

std::string communityString(uint32_t c);

}  // namespace anylb::bgp
