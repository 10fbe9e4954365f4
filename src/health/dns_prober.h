// keepalived's DNS_CHECK: one query over UDP for check.dnsName of type check.dnsType, with a
// random ID. Up on a response with the same ID and question, RCODE NOERROR and at least one
// answer of that type; down on any other response to the query, an ICMP unreachable, or no
// response by the timeout. Datagrams that are not a response to the query (another ID or
// question) are ignored, as a resolver ignores them. Over UDP only, as keepalived.
#pragma once

#include <random>

#include <boost/asio/io_context.hpp>

#include "health/prober.h"

namespace anylb::health {

class DnsProber final : public Prober {
 public:
  explicit DnsProber(boost::asio::io_context& io) : io_(io), rng_(std::random_device{}()) {}

  // Reasons: "1 answer", "rcode NXDOMAIN", "no answer", "port unreachable", "no reply", ...
  void start(const Target& target, std::chrono::nanoseconds timeout, Callback done) override;

 private:
  boost::asio::io_context& io_;
  std::mt19937 rng_;  // query IDs: unpredictable enough for a health check on a trusted path
};

}  // namespace anylb::health
