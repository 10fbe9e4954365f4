// 1,000 targets probed every second against a farm of loopback listeners: every target comes
// up, no probe fails, and probes start on time (scheduling lag from HealthChecker::stats()).
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <deque>
#include <memory>
#include <thread>

#include "health/asio_prober.h"
#include "health/health_checker.h"

namespace anylb::health {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using std::chrono::seconds;

constexpr int kListeners = 50;  // half plain TCP, half HTTP
constexpr uint32_t kTargets = 1000;
constexpr auto kRunFor = seconds(9);

// Listeners on 127.0.0.1 served by their own thread. A TCP listener closes what it accepts; an
// HTTP listener reads the request and answers 200.
class ListenerFarm {
 public:
  ListenerFarm() {
    for (int i = 0; i < kListeners; ++i) {
      auto& a = acceptors_.emplace_back(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      accept(a, i % 2 == 1);
    }
    thread_ = std::thread([this] { io_.run(); });
  }
  ListenerFarm(const ListenerFarm&) = delete;
  ListenerFarm& operator=(const ListenerFarm&) = delete;
  ListenerFarm(ListenerFarm&&) = delete;
  ListenerFarm& operator=(ListenerFarm&&) = delete;
  ~ListenerFarm() {
    io_.stop();
    thread_.join();
  }

  [[nodiscard]] uint16_t port(size_t i) const { return acceptors_[i].local_endpoint().port(); }
  static bool isHttp(size_t i) { return i % 2 == 1; }

 private:
  struct Conn {
    explicit Conn(tcp::socket s) : socket(std::move(s)) {}
    tcp::socket socket;
    std::array<char, 1024> buf{};
    std::string request;
  };

  void accept(tcp::acceptor& a, bool http) {
    a.async_accept([this, &a, http](const boost::system::error_code& ec, tcp::socket s) {
      if (ec) return;
      if (http) serve(std::make_shared<Conn>(std::move(s)));
      accept(a, http);
    });
  }

  static void serve(const std::shared_ptr<Conn>& c) {
    c->socket.async_read_some(
        asio::buffer(c->buf), [c](const boost::system::error_code& ec, size_t n) {
          if (ec) return;
          c->request.append(c->buf.data(), n);
          if (c->request.find("\r\n\r\n") == std::string::npos) {
            serve(c);
            return;
          }
          static const std::string kResponse =
              "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
          asio::async_write(c->socket, asio::buffer(kResponse),
                            [c](const boost::system::error_code&, size_t) {});
        });
  }

  asio::io_context io_;
  std::deque<tcp::acceptor> acceptors_;
  std::thread thread_;
};

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

TEST(HealthScale, ThousandTargetsEverySecondStartOnTime) {
  ListenerFarm farm;
  asio::io_context io;
  HealthChecker checker(io, std::make_unique<AsioProber>(io));
  uint64_t changes = 0;
  checker.onChange([&](const Change&) { ++changes; });

  std::vector<Target> targets;
  for (uint32_t id = 0; id < kTargets; ++id) {
    const size_t listener = id % kListeners;
    Target t;
    t.rsId = id;
    t.service = "scale";
    t.address = *IpAddr::parse("127.0.0.1");
    t.port = farm.port(listener);
    t.check.kind =
        ListenerFarm::isHttp(listener) ? config::CheckKind::kHttp : config::CheckKind::kTcp;
    t.check.interval = config::Seconds(1.0);
    t.check.timeout = config::Seconds(0.5);
    t.check.rise = 2;
    t.check.fall = 3;
    t.check.jitter = 0.1;
    targets.push_back(std::move(t));
  }
  const double cpu0 = cpuSeconds();
  checker.setTargets(targets);
  io.run_for(kRunFor);
  const double cpu = cpuSeconds() - cpu0;

  const auto s = checker.stats();
  uint32_t up = 0;
  for (uint32_t id = 0; id < kTargets; ++id) up += checker.state(id) == State::kUp ? 1 : 0;
  std::printf(
      "[ scale    ] %u targets (half tcp, half http), interval 1 s, %lld s: %llu probes, "
      "%llu failed, %u up; lag p50 %.3f ms, p99 %.3f ms, max %.3f ms; control thread CPU "
      "%.2f s (%.1f us per probe)\n",
      kTargets, static_cast<long long>(kRunFor.count()), static_cast<unsigned long long>(s.probes),
      static_cast<unsigned long long>(s.failures), up, s.lagP50Ms, s.lagP99Ms, s.lagMaxMs, cpu,
      1e6 * cpu / static_cast<double>(s.probes));

  EXPECT_EQ(up, kTargets);
  EXPECT_EQ(changes, kTargets);  // each came up once and stayed up
  // Each target probes about once a second after a first probe within its first second.
  EXPECT_GE(s.probes, kTargets * (kRunFor.count() - 2));
  EXPECT_LE(s.probes, kTargets * (kRunFor.count() + 1));
  EXPECT_EQ(s.failures, 0U);
  EXPECT_LT(s.lagP99Ms, 100.0);
}

}  // namespace
}  // namespace anylb::health
