// keepalived's PING_CHECK: one ICMP (or ICMPv6) echo request, up on the matching echo reply
// (same identifier, sequence number and payload, from the RS address) by the timeout.
//
// Socket: an unprivileged ICMP datagram socket (SOCK_DGRAM, IPPROTO_ICMP) when the kernel
// allows it (net.ipv4.ping_group_range covers the daemon's group; systemd's default does),
// else a raw socket (needs CAP_NET_RAW, which anylbd has for DPDK anyway). The datagram
// socket is preferred because the kernel demultiplexes replies by identifier: each probe's
// socket sees only its own replies. A raw socket sees a copy of every ICMP packet from the RS
// (it is connected, so from no one else), so with many probes in flight each reply is read
// by every raw socket aimed at the same RS: the matching is done here, and strays are bounded.
#pragma once

#include <cstdint>
#include <random>

#include <boost/asio/io_context.hpp>

#include "health/prober.h"

namespace anylb::health {

class PingProber final : public Prober {
 public:
  explicit PingProber(boost::asio::io_context& io) : io_(io), rng_(std::random_device{}()) {}

  // Reasons: "echo reply", "no echo reply", "host unreachable", "socket: ...".
  void start(const Target& target, std::chrono::nanoseconds timeout, Callback done) override;

  // Which socket kind the last probe used: for logs and tests.
  enum class SocketKind : uint8_t { kNone, kDatagram, kRaw };
  [[nodiscard]] SocketKind lastSocketKind() const { return lastKind_; }

 private:
  boost::asio::io_context& io_;
  std::mt19937 rng_;
  uint16_t seq_ = 0;
  SocketKind lastKind_ = SocketKind::kNone;
};

}  // namespace anylb::health
