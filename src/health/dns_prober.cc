#include "health/dns_prober.h"

#include <boost/asio/post.hpp>

#include "health/dns_message.h"
#include "health/udp_exchange.h"

namespace anylb::health {

void DnsProber::start(const Target& target, std::chrono::nanoseconds timeout, Callback done) {
  const auto id = static_cast<uint16_t>(rng_());
  auto query = buildDnsQuery(id, target.check.dnsName, target.check.dnsType);
  if (!query) {  // the config loader refuses such names
    boost::asio::post(io_, [done = std::move(done)] {
      done(ProbeResult{false, "dns_name is not a domain name"});
    });
    return;
  }
  UdpExchange ex;
  ex.payload = *query;
  ex.judge = [query = *query](std::string_view reply) {
    auto j = judgeDnsResponse(reply, query);
    switch (j.verdict) {
      case DnsVerdict::kNotOurs:
        return ReplyJudgement{ReplyVerdict::kIgnore, {}};
      case DnsVerdict::kUp:
        return ReplyJudgement{ReplyVerdict::kUp, std::move(j.reason)};
      case DnsVerdict::kDown:
        break;
    }
    return ReplyJudgement{ReplyVerdict::kDown, std::move(j.reason)};
  };
  startUdpExchange(io_, target, timeout, std::move(ex), std::move(done));
}

}  // namespace anylb::health
