// One datagram out, replies judged until one decides or the deadline passes: the transport of
// the udp and dns checks. The socket is connected, so the kernel hands it only datagrams from
// the RS's address and port, and an ICMP port (or host) unreachable for the probe surfaces as
// a receive error: the RS is down.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "health/prober.h"

namespace anylb::health {

enum class ReplyVerdict : uint8_t { kIgnore, kUp, kDown };
struct ReplyJudgement {
  ReplyVerdict verdict = ReplyVerdict::kIgnore;
  std::string reason;
};

struct UdpExchange {
  std::string payload;
  // Judges one received datagram (at most kMaxDatagram bytes of it).
  std::function<ReplyJudgement(std::string_view)> judge;
  // What the deadline means when nothing decided: up ("no ICMP error", keepalived's UDP_CHECK
  // without require_reply) or down ("no reply").
  bool upOnSilence = false;

  // Beyond this many ignored datagrams the probe fails: a flood of strays cannot keep the io
  // thread reading until the deadline.
  static constexpr int kMaxIgnored = 64;
  static constexpr size_t kMaxDatagram = 65536;
};

// Calls `done` once on the io thread, never from inside this call, by `timeout`.
void startUdpExchange(boost::asio::io_context& io, const Target& target,
                      std::chrono::nanoseconds timeout, UdpExchange exchange,
                      Prober::Callback done);

}  // namespace anylb::health
