// A UDP server on 127.0.0.1 for the udp and dns probers' tests: Boost.Asio on a thread of its
// own; each datagram received goes to a scripted behaviour that may send any number of
// datagrams back to the sender.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

namespace anylb::health::testing {

class UdpServer {
 public:
  using Send = std::function<void(const std::string&)>;
  using Behaviour = std::function<void(std::string_view request, const Send& send)>;

  explicit UdpServer(Behaviour behaviour)
      : behaviour_(std::move(behaviour)),
        socket_(io_, boost::asio::ip::udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)),
        work_(io_.get_executor()) {
    port_ = socket_.local_endpoint().port();
    receive();
    thread_ = std::thread([this] { io_.run(); });
  }
  UdpServer(const UdpServer&) = delete;
  UdpServer& operator=(const UdpServer&) = delete;
  UdpServer(UdpServer&&) = delete;
  UdpServer& operator=(UdpServer&&) = delete;
  ~UdpServer() {
    io_.stop();
    thread_.join();
  }

  [[nodiscard]] uint16_t port() const { return port_; }
  [[nodiscard]] int received() const { return received_; }

 private:
  void receive() {
    buf_.resize(65536);
    socket_.async_receive_from(
        boost::asio::buffer(buf_), peer_, [this](const boost::system::error_code& ec, size_t n) {
          if (ec) return;
          ++received_;
          const auto peer = peer_;
          behaviour_(std::string_view(buf_.data(), n), [this, peer](const std::string& d) {
            boost::system::error_code ignored;
            socket_.send_to(boost::asio::buffer(d), peer, 0, ignored);
          });
          receive();
        });
  }

  Behaviour behaviour_;
  boost::asio::io_context io_;
  boost::asio::ip::udp::socket socket_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::ip::udp::endpoint peer_;
  std::vector<char> buf_;
  uint16_t port_ = 0;
  std::atomic<int> received_{0};
  std::thread thread_;
};

// A UDP port nothing listens on (bound, then closed): the kernel answers port unreachable.
inline uint16_t closedUdpPort() {
  boost::asio::io_context io;
  boost::asio::ip::udp::socket s(
      io, boost::asio::ip::udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return s.local_endpoint().port();
}

}  // namespace anylb::health::testing
