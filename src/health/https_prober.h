// keepalived's SSL_GET: an HTTP GET over TLS (Boost.Asio SSL on OpenSSL), checked like the http
// check (status ranges, body substring) plus keepalived's `digest`, the MD5 of the whole body.
// SNI carries check.sni (or the http_host's name); the server's certificate is not verified
// unless check.verifyCertificate (keepalived does not verify either): then the chain must lead
// to check.caFile (or the system's trust store) and name the SNI name or the RS address.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include "health/prober.h"

namespace anylb::health {

class HttpsProber final : public Prober {
 public:
  explicit HttpsProber(boost::asio::io_context& io) : io_(io) {}

  // check.kind must be https. Reasons: "status 200", "status 200, digest ok", "connect
  // timeout", "TLS handshake: <OpenSSL's reason>", "digest mismatch", "response timeout", ...
  void start(const Target& target, std::chrono::nanoseconds timeout, Callback done) override;

 private:
  // Built once per trust setting and shared by every probe that uses it (a probe may outlive
  // the prober). Null when it could not be built (a CA file that does not load).
  std::shared_ptr<boost::asio::ssl::context> context(const config::HealthCheck& check,
                                                     std::string& error);

  boost::asio::io_context& io_;
  std::shared_ptr<boost::asio::ssl::context> noVerify_;
  std::map<std::string, std::shared_ptr<boost::asio::ssl::context>> verifying_;  // by CA file
};

}  // namespace anylb::health
