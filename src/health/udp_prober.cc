#include "health/udp_prober.h"

#include "health/udp_exchange.h"

namespace anylb::health {

void UdpProber::start(const Target& target, std::chrono::nanoseconds timeout, Callback done) {
  UdpExchange ex;
  ex.payload = target.check.udpPayload;
  ex.upOnSilence = !target.check.requireReply && target.check.expectReply.empty();
  ex.judge = [expect = target.check.expectReply](std::string_view reply) {
    // The connected socket only receives from the RS, so any datagram is its answer.
    if (reply.substr(0, expect.size()) == expect) return ReplyJudgement{ReplyVerdict::kUp, "reply"};
    return ReplyJudgement{ReplyVerdict::kDown, "reply mismatch"};
  };
  startUdpExchange(io_, target, timeout, std::move(ex), std::move(done));
}

}  // namespace anylb::health
