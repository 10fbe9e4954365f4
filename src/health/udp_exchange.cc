#include "health/udp_exchange.h"

#include <memory>
#include <vector>

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "health/probe_socket.h"

namespace anylb::health {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using boost::system::error_code;

class ExchangeOp : public std::enable_shared_from_this<ExchangeOp> {
 public:
  ExchangeOp(asio::io_context& io, UdpExchange ex, Prober::Callback done)
      : io_(io), socket_(io), timer_(io), ex_(std::move(ex)), done_(std::move(done)) {}

  void start(const Target& t, std::chrono::nanoseconds timeout) {
    const udp::endpoint peer(toAsio(t.address), t.probePort());
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec) return;
      if (self->ex_.upOnSilence) {
        self->finish(true, "no ICMP error");
      } else {
        self->finish(false, self->ignored_ > 0 ? "no matching reply" : "no reply");
      }
    });
    if (auto err = openProbeSocket(socket_, peer.protocol(), t); !err.empty()) {
      failSoon(std::move(err));
      return;
    }
    error_code ec;
    socket_.connect(peer, ec);  // UDP: no packet, only sets the peer
    if (ec) {
      failSoon(describe(ec));
      return;
    }
    socket_.async_send(asio::buffer(ex_.payload),
                       [self = shared_from_this()](const error_code& e, size_t) {
                         if (self->finished_) return;
                         if (e) {
                           self->finish(false, self->why(e));
                         } else {
                           self->receive();
                         }
                       });
  }

 private:
  void failSoon(std::string reason) {
    asio::post(io_, [self = shared_from_this(), reason = std::move(reason)]() mutable {
      self->finish(false, std::move(reason));
    });
  }

  std::string why(const error_code& e) const {
    if (e == asio::error::connection_refused) return "port unreachable";
    return describe(e);
  }

  void receive() {
    buf_.resize(UdpExchange::kMaxDatagram);
    socket_.async_receive(asio::buffer(buf_),
                          [self = shared_from_this()](const error_code& e, size_t n) {
                            if (self->finished_) return;
                            if (e) {
                              self->finish(false, self->why(e));
                              return;
                            }
                            auto j = self->ex_.judge(std::string_view(self->buf_.data(), n));
                            if (j.verdict != ReplyVerdict::kIgnore) {
                              self->finish(j.verdict == ReplyVerdict::kUp, std::move(j.reason));
                            } else if (++self->ignored_ > UdpExchange::kMaxIgnored) {
                              self->finish(false, "too many unexpected datagrams");
                            } else {
                              self->receive();
                            }
                          });
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
  udp::socket socket_;
  asio::steady_timer timer_;
  UdpExchange ex_;
  Prober::Callback done_;
  std::vector<char> buf_;
  int ignored_ = 0;
  bool finished_ = false;
};

}  // namespace

void startUdpExchange(asio::io_context& io, const Target& target, std::chrono::nanoseconds timeout,
                      UdpExchange exchange, Prober::Callback done) {
  std::make_shared<ExchangeOp>(io, std::move(exchange), std::move(done))->start(target, timeout);
}

}  // namespace anylb::health
