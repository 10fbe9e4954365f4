#include "health/https_prober.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "health/http_response.h"
#include "health/probe_socket.h"

namespace anylb::health {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using boost::system::error_code;

// The name sent as SNI and verified in the certificate: check.sni, else http_host without a
// port. Empty when neither is set or it is an IP literal (RFC 6066 3: SNI carries no
// addresses).
std::string serverName(const config::HealthCheck& c) {
  std::string name = c.sni;
  if (name.empty() && !c.httpHost.empty()) {
    name = c.httpHost;
    if (name.front() == '[') return {};  // "[v6]:port"
    if (const auto colon = name.rfind(':'); colon != std::string::npos) name.resize(colon);
  }
  if (IpAddr::parse(name)) return {};
  return name;
}

class HttpsOp : public std::enable_shared_from_this<HttpsOp> {
 public:
  HttpsOp(asio::io_context& io, std::shared_ptr<ssl::context> ctx, Prober::Callback done)
      : io_(io), ctx_(std::move(ctx)), stream_(io, *ctx_), timer_(io), done_(std::move(done)) {}

  void start(const Target& t, std::chrono::nanoseconds timeout) {
    const tcp::endpoint peer(toAsio(t.address), t.probePort());
    http_.emplace(t.check.expectStatus, t.check.expectBody, t.check.digest);
    request_ = httpRequest(t);
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec) return;
      const char* phase = self->phase_ == Phase::kConnect     ? "connect timeout"
                          : self->phase_ == Phase::kHandshake ? "TLS handshake timeout"
                                                              : "response timeout";
      self->finish(false, phase);
    });
    SSL* ssl = stream_.native_handle();
    const std::string name = serverName(t.check);
    if (!name.empty()) SSL_set_tlsext_host_name(ssl, name.c_str());
    if (t.check.verifyCertificate) {
      // The certificate must name the SNI name, or else the RS address.
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      if (!name.empty()) {
        SSL_set1_host(ssl, name.c_str());
      } else {
        X509_VERIFY_PARAM_set1_ip_asc(param, t.address.str().c_str());
      }
    }
    if (auto err = openProbeSocket(stream_.lowest_layer(), peer.protocol(), t); !err.empty()) {
      failSoon(std::move(err));
      return;
    }
    stream_.lowest_layer().async_connect(
        peer, [self = shared_from_this()](const error_code& e) { self->onConnect(e); });
  }

  void failSoon(std::string reason) {
    asio::post(io_, [self = shared_from_this(), reason = std::move(reason)]() mutable {
      self->finish(false, std::move(reason));
    });
  }

 private:
  enum class Phase : uint8_t { kConnect, kHandshake, kHttp };

  void onConnect(const error_code& ec) {
    if (finished_) return;
    if (ec) {
      finish(false, describe(ec));
      return;
    }
    phase_ = Phase::kHandshake;
    stream_.async_handshake(ssl::stream_base::client,
                            [self = shared_from_this()](const error_code& e) {
                              if (self->finished_) return;
                              if (e) {
                                self->finish(false, "TLS handshake: " + tlsReason(e));
                                return;
                              }
                              self->phase_ = Phase::kHttp;
                              self->write();
                            });
  }

  static std::string tlsReason(const error_code& e) {
    if (e == asio::error::eof || e == ssl::error::stream_truncated) return "closed by the server";
    if (e.category() == asio::error::get_ssl_category()) {
      // "certificate verify failed", "wrong version number", ... without OpenSSL's prefix.
      const char* reason = ERR_reason_error_string(static_cast<unsigned long>(e.value()));
      if (reason != nullptr) return reason;
    }
    return describe(e);
  }

  void write() {
    asio::async_write(stream_, asio::buffer(request_),
                      [self = shared_from_this()](const error_code& e, size_t) {
                        if (self->finished_) return;
                        if (e) {
                          self->finish(false, describe(e));
                        } else {
                          self->read();
                        }
                      });
  }

  void read() {
    stream_.async_read_some(
        asio::buffer(buf_),
        [self = shared_from_this()](const error_code& e, size_t n) { self->onRead(e, n); });
  }

  void onRead(const error_code& ec, size_t n) {
    if (finished_) return;
    using V = HttpResponseCheck::Verdict;
    V v = V::kNeedMore;
    if (n > 0) v = http_->feed(std::string_view(buf_.data(), n));
    // Many servers close without close_notify: that is the end of the body, as over TCP.
    const bool end = ec == asio::error::eof || ec == ssl::error::stream_truncated;
    if (v == V::kNeedMore && end) v = http_->finish();
    if (v == V::kNeedMore && ec) {
      finish(false, describe(ec));
      return;
    }
    if (v == V::kNeedMore) {
      read();
      return;
    }
    finish(v == V::kOk, http_->reason());
  }

  void finish(bool ok, std::string reason) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    // No TLS shutdown: it would wait on the server. Closing the socket ends every operation.
    error_code ignored;
    stream_.lowest_layer().close(ignored);
    Prober::Callback done = std::move(done_);
    done(ProbeResult{ok, std::move(reason)});
  }

  asio::io_context& io_;
  std::shared_ptr<ssl::context> ctx_;  // outlives stream_ (declared first)
  ssl::stream<tcp::socket> stream_;
  asio::steady_timer timer_;
  Prober::Callback done_;
  std::optional<HttpResponseCheck> http_;
  std::string request_;
  std::array<char, 16384> buf_{};  // one TLS record
  Phase phase_ = Phase::kConnect;
  bool finished_ = false;
};

}  // namespace

std::shared_ptr<ssl::context> HttpsProber::context(const config::HealthCheck& check,
                                                   std::string& error) {
  if (!check.verifyCertificate) {
    if (!noVerify_) {
      noVerify_ = std::make_shared<ssl::context>(ssl::context::tls_client);
      noVerify_->set_verify_mode(ssl::verify_none);
    }
    return noVerify_;
  }
  if (auto it = verifying_.find(check.caFile); it != verifying_.end()) return it->second;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  error_code ec;
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (!ec && check.caFile.empty()) ctx->set_default_verify_paths(ec);
  if (!ec && !check.caFile.empty()) ctx->load_verify_file(check.caFile, ec);
  if (ec) {
    // Not cached: a CA file that appears or is fixed later is picked up by the next probe.
    error = "TLS setup: " + (check.caFile.empty() ? "" : check.caFile + ": ") + ec.message();
    return nullptr;
  }
  verifying_.emplace(check.caFile, ctx);
  return ctx;
}

void HttpsProber::start(const Target& target, std::chrono::nanoseconds timeout, Callback done) {
  std::string error;
  auto ctx = context(target.check, error);
  if (!ctx) {
    asio::post(io_, [done = std::move(done), error = std::move(error)] {
      done(ProbeResult{false, error});
    });
    return;
  }
  std::make_shared<HttpsOp>(io_, std::move(ctx), std::move(done))->start(target, timeout);
}

}  // namespace anylb::health
