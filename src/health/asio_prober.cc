#include "health/asio_prober.h"

#include <array>
#include <memory>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "health/http_response.h"
#include "health/probe_socket.h"

namespace anylb::health {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

// One probe in flight. Handlers hold a shared_ptr to it, so it lives until the last one ran;
// finish() closes the socket and cancels the timer, which makes every pending handler run
// (with operation_aborted) and release it.
class ProbeOp : public std::enable_shared_from_this<ProbeOp> {
 public:
  ProbeOp(asio::io_context& io, Prober::Callback done)
      : io_(io), socket_(io), timer_(io), done_(std::move(done)) {}

  void start(const Target& t, std::chrono::nanoseconds timeout) {
    const tcp::endpoint peer(toAsio(t.address), t.probePort());
    if (t.check.kind == config::CheckKind::kHttp) {
      http_.emplace(t.check.expectStatus, t.check.expectBody);
      request_ = httpRequest(t);
    }
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) self->finish(false, self->connected_ ? "response timeout" : "connect timeout");
    });
    if (auto err = openProbeSocket(socket_, peer.protocol(), t); !err.empty()) {
      failSoon(std::move(err));
      return;
    }
    socket_.async_connect(peer,
                          [self = shared_from_this()](const error_code& e) { self->onConnect(e); });
  }

 private:
  // A failure found inside start(): reported from the io loop, never from inside start().
  void failSoon(std::string reason) {
    asio::post(io_, [self = shared_from_this(), reason = std::move(reason)]() mutable {
      self->finish(false, std::move(reason));
    });
  }

  void onConnect(const error_code& ec) {
    if (finished_) return;
    if (ec) {
      finish(false, describe(ec));
      return;
    }
    connected_ = true;
    if (!http_) {
      finish(true, "connected");
      return;
    }
    asio::async_write(socket_, asio::buffer(request_),
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
    socket_.async_read_some(
        asio::buffer(buf_),
        [self = shared_from_this()](const error_code& e, size_t n) { self->onRead(e, n); });
  }

  void onRead(const error_code& ec, size_t n) {
    if (finished_) return;
    using V = HttpResponseCheck::Verdict;
    V v = V::kNeedMore;
    if (n > 0) v = http_->feed(std::string_view(buf_.data(), n));
    if (v == V::kNeedMore && ec == asio::error::eof) v = http_->finish();
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
    error_code ignored;
    socket_.close(ignored);
    Prober::Callback done = std::move(done_);
    done(ProbeResult{ok, std::move(reason)});
  }

  asio::io_context& io_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  Prober::Callback done_;
  std::optional<HttpResponseCheck> http_;
  std::string request_;
  std::array<char, 4096> buf_{};
  bool connected_ = false;
  bool finished_ = false;
};

}  // namespace

std::string describe(const error_code& ec) {
  namespace err = asio::error;
  if (ec == err::connection_refused) return "connection refused";
  if (ec == err::connection_reset || ec == err::broken_pipe) return "reset";
  if (ec == err::network_unreachable) return "network unreachable";
  if (ec == err::host_unreachable) return "host unreachable";
  if (ec == err::timed_out) return "connect timeout";
  return ec.message();
}

void AsioProber::start(const Target& target, std::chrono::nanoseconds timeout, Callback done) {
  std::make_shared<ProbeOp>(io_, std::move(done))->start(target, timeout);
}

}  // namespace anylb::health
