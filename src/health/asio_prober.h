// The real prober: TCP connect, or HTTP GET over a fresh connection, with Boost.Asio on the
// control thread's io_context. Never blocks; each probe owns its socket and deadline timer and
// ends by its deadline however the server behaves (silent, trickling, flooding, resetting).
#pragma once

#include <boost/asio/io_context.hpp>

#include "health/prober.h"

namespace anylb::health {

class AsioProber final : public Prober {
 public:
  explicit AsioProber(boost::asio::io_context& io) : io_(io) {}

  // tcp: passes when the connection is established ("connected"), then closes it.
  // http: sends "GET <httpPath> HTTP/1.1" with Host (httpHost, or the address and a non-80
  // port), Connection: close; passes when the status is in expectStatus and, if expectBody is
  // set, the body contains it (HttpResponseCheck). Binds to target.source first when it is set.
  void start(const Target& target, std::chrono::nanoseconds timeout, Callback done) override;

 private:
  boost::asio::io_context& io_;
};

}  // namespace anylb::health
