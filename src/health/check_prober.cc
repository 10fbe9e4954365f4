#include "health/check_prober.h"

#include <boost/asio/post.hpp>

#include "health/asio_prober.h"
#include "health/dns_prober.h"
#include "health/https_prober.h"
#include "health/misc_prober.h"
#include "health/ping_prober.h"
#include "health/udp_prober.h"

namespace anylb::health {

using config::CheckKind;

CheckProber::CheckProber(boost::asio::io_context& io) : io_(io) {
  static_assert(static_cast<size_t>(CheckKind::kPing) + 1 == std::tuple_size_v<decltype(byKind_)>,
                "a new CheckKind needs its prober here");
  byKind_[static_cast<size_t>(CheckKind::kTcp)] = std::make_unique<AsioProber>(io);
  byKind_[static_cast<size_t>(CheckKind::kHttp)] = std::make_unique<AsioProber>(io);
  byKind_[static_cast<size_t>(CheckKind::kHttps)] = std::make_unique<HttpsProber>(io);
  byKind_[static_cast<size_t>(CheckKind::kMisc)] = std::make_unique<MiscProber>(io);
  byKind_[static_cast<size_t>(CheckKind::kDns)] = std::make_unique<DnsProber>(io);
  byKind_[static_cast<size_t>(CheckKind::kUdp)] = std::make_unique<UdpProber>(io);
  byKind_[static_cast<size_t>(CheckKind::kPing)] = std::make_unique<PingProber>(io);
}

void CheckProber::start(const Target& target, std::chrono::nanoseconds timeout, Callback done) {
  const auto k = static_cast<size_t>(target.check.kind);
  if (k < byKind_.size() && byKind_[k]) {
    byKind_[k]->start(target, timeout, std::move(done));
    return;
  }
  boost::asio::post(io_, [done = std::move(done), kind = target.check.kind] {
    done(ProbeResult{false, std::string("no prober for check type ") + config::toString(kind)});
  });
}

}  // namespace anylb::health
