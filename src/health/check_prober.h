// The daemon's Prober: hands each probe to the prober of its check kind (tcp and http:
// AsioProber; https, misc, dns, udp, ping: one prober per file beside it).
#pragma once

#include <array>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "health/prober.h"

namespace anylb::health {

class CheckProber final : public Prober {
 public:
  explicit CheckProber(boost::asio::io_context& io);

  // A kind without a prober (none: never probed) fails from the io loop.
  void start(const Target& target, std::chrono::nanoseconds timeout, Callback done) override;

 private:
  boost::asio::io_context& io_;
  std::array<std::unique_ptr<Prober>, 8> byKind_;  // indexed by config::CheckKind
};

}  // namespace anylb::health
