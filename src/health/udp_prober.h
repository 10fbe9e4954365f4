// keepalived's UDP_CHECK: sends check.udpPayload to the RS. An ICMP port unreachable in reply
// means down. With check.requireReply (or an expectReply) a reply must arrive in time and
// start with check.expectReply; without, silence until the timeout means up (as keepalived:
// UDP has no handshake to wait for, so such a probe always takes its whole timeout).
#pragma once

#include <boost/asio/io_context.hpp>

#include "health/prober.h"

namespace anylb::health {

class UdpProber final : public Prober {
 public:
  explicit UdpProber(boost::asio::io_context& io) : io_(io) {}

  // Reasons: "reply", "no ICMP error", "port unreachable", "no reply", "reply mismatch".
  void start(const Target& target, std::chrono::nanoseconds timeout, Callback done) override;

 private:
  boost::asio::io_context& io_;
};

}  // namespace anylb::health
