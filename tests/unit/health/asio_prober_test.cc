// The real prober against hostile servers on 127.0.0.1: every probe ends, with the right
// verdict and reason, within its timeout plus a small margin.
#include "health/asio_prober.h"

#include <gtest/gtest.h>

#include <fcntl.h>

#include <cerrno>
#include <optional>
#include <system_error>

#include "hostile_server.h"

namespace anylb::health {
namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;
using testing::HostileServer;
using testing::readRequest;
using testing::sendAll;
using testing::waitForClose;

constexpr auto kTimeout = milliseconds(500);
// Scheduling slack on a loaded 2-core machine under ASan; a hang would take far longer.
constexpr auto kMargin = milliseconds(300);
// Tests whose point is the verdict (or that it comes before the timeout, not at it) probe with
// this timeout and expect the verdict within half of it: their time bound then holds on a
// machine loaded far beyond make test's -j2 (BodySubstringMatchAndMismatch missed 800 ms once
// at a load average of 15).
constexpr auto kVerdictTimeout = std::chrono::seconds(10);
constexpr auto kEarly = kVerdictTimeout / 2;

Target httpTarget(uint16_t port, std::string expectBody = "") {
  Target t;
  t.rsId = 1;
  t.service = "web";
  t.address = *IpAddr::parse("127.0.0.1");
  t.port = port;
  t.check.kind = config::CheckKind::kHttp;
  t.check.httpPath = "/healthz";
  t.check.expectBody = std::move(expectBody);
  return t;
}

Target tcpTarget(uint16_t port) {
  Target t = httpTarget(port);
  t.check.kind = config::CheckKind::kTcp;
  return t;
}

struct Outcome {
  std::optional<ProbeResult> result;
  Steady::duration took{};
  bool loopDrained = false;  // nothing of the probe left in the io_context afterwards
};

Outcome probe(const Target& t, Steady::duration timeout = kTimeout) {
  boost::asio::io_context io;
  Outcome o;
  const auto start = Steady::now();
  {
    AsioProber prober(io);
    prober.start(t, timeout, [&](ProbeResult r) {
      EXPECT_FALSE(o.result) << "called back twice";
      o.result = std::move(r);
      o.took = Steady::now() - start;
    });
  }  // the probe outlives its prober
  io.run_for(timeout + std::chrono::seconds(3));
  o.loopDrained = io.stopped();
  return o;
}

// A port nothing listens on: bound, then closed.
uint16_t closedPort() {
  HostileServer s([](int, const std::atomic<bool>&) {});
  return s.port();
}

void expectOutcome(const Outcome& o, bool ok, const std::string& reason,
                   Steady::duration within = kTimeout + kMargin) {
  ASSERT_TRUE(o.result) << "no result";
  EXPECT_EQ(o.result->ok, ok);
  EXPECT_EQ(o.result->reason, reason);
  EXPECT_LE(o.took, within);
  EXPECT_TRUE(o.loopDrained);
}

TEST(AsioProberHttp, CorrectResponsePasses) {
  std::string request;
  HostileServer s([&](int fd, const std::atomic<bool>&) {
    request = readRequest(fd);
    sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  expectOutcome(probe(httpTarget(s.port()), kVerdictTimeout), true, "status 200", kEarly);
  EXPECT_EQ(request,
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(s.port()) +
                "\r\nUser-Agent: anylb-health\r\nAccept: */*\r\nConnection: close\r\n\r\n");
}

TEST(AsioProberHttp, HostHeaderFromTheCheck) {
  std::string request;
  HostileServer s([&](int fd, const std::atomic<bool>&) {
    request = readRequest(fd);
    sendAll(fd, "HTTP/1.1 200 OK\r\n\r\n");
  });
  Target t = httpTarget(s.port());
  t.check.httpHost = "www.example.test";
  expectOutcome(probe(t, kVerdictTimeout), true, "status 200", kEarly);
  EXPECT_NE(request.find("\r\nHost: www.example.test\r\n"), std::string::npos) << request;
}

TEST(AsioProberHttp, CheckPortOverridesTheRsPort) {
  HostileServer s([&](int fd, const std::atomic<bool>&) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 200 OK\r\n\r\n");
  });
  Target t = httpTarget(closedPort());
  t.check.port = s.port();
  expectOutcome(probe(t, kVerdictTimeout), true, "status 200", kEarly);
}

TEST(AsioProberHttp, SilentServerTimesOut) {
  HostileServer s([](int fd, const std::atomic<bool>& stop) { waitForClose(fd, stop); });
  const Outcome o = probe(httpTarget(s.port()));
  expectOutcome(o, false, "response timeout");
  EXPECT_GE(o.took, kTimeout);
}

TEST(AsioProberHttp, PartialStatusLineTimesOut) {
  HostileServer s([](int fd, const std::atomic<bool>& stop) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 20");
    waitForClose(fd, stop);
  });
  expectOutcome(probe(httpTarget(s.port())), false, "response timeout");
}

TEST(AsioProberHttp, PartialStatusLineThenCloseFailsAtOnce) {
  HostileServer s([](int fd, const std::atomic<bool>&) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 20");
  });
  expectOutcome(probe(httpTarget(s.port()), kVerdictTimeout), false, "no status line", kEarly);
}

TEST(AsioProberHttp, EmptyResponseFailsAtOnce) {
  HostileServer s([](int fd, const std::atomic<bool>&) { readRequest(fd); });
  expectOutcome(probe(httpTarget(s.port()), kVerdictTimeout), false, "no status line", kEarly);
}

TEST(AsioProberHttp, HugeHeadersFailWithoutWaitingForTheTimeout) {
  HostileServer s([](int fd, const std::atomic<bool>& stop) {
    readRequest(fd);
    timeval tv{0, 100000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sendAll(fd, "HTTP/1.1 200 OK\r\n");
    const std::string line = "X-Pad: " + std::string(1000, 'a') + "\r\n";
    while (!stop && sendAll(fd, line)) {
    }
  });
  expectOutcome(probe(httpTarget(s.port()), std::chrono::seconds(2)), false, "headers too large",
                kMargin);
}

TEST(AsioProberHttp, SlowlorisTrickleTimesOut) {
  HostileServer s([](int fd, const std::atomic<bool>& stop) {
    readRequest(fd);
    const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for (size_t i = 0; i < response.size() && !stop; ++i) {
      if (!sendAll(fd, response.substr(i, 1))) return;
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  const Outcome o = probe(httpTarget(s.port()));
  expectOutcome(o, false, "response timeout");
  EXPECT_GE(o.took, kTimeout);
}

TEST(AsioProberHttp, InvalidStatusLineFailsAtOnce) {
  HostileServer s([](int fd, const std::atomic<bool>& stop) {
    sendAll(fd, "SSH-2.0-OpenSSH_9.2p1\r\n");
    waitForClose(fd, stop);
  });
  expectOutcome(probe(httpTarget(s.port()), std::chrono::seconds(2)), false, "invalid status line",
                kMargin);
}

TEST(AsioProberHttp, UnexpectedStatusFails) {
  HostileServer s([](int fd, const std::atomic<bool>& stop) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    waitForClose(fd, stop);  // keep-alive despite Connection: close: the status decides
  });
  expectOutcome(probe(httpTarget(s.port()), kVerdictTimeout), false, "status 503", kEarly);
}

TEST(AsioProberHttp, BodySubstringMatchAndMismatch) {
  const auto serve = [](std::string body) {
    return [body = std::move(body)](int fd, const std::atomic<bool>&) {
      readRequest(fd);
      sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body);
    };
  };
  {
    HostileServer s(serve(std::string(3000, '.') + "status: healthy\n"));
    expectOutcome(probe(httpTarget(s.port(), "status: healthy"), kVerdictTimeout), true,
                  "status 200", kEarly);
  }
  {
    HostileServer s(serve("status: draining\n"));
    expectOutcome(probe(httpTarget(s.port(), "status: healthy"), kVerdictTimeout), false,
                  "body mismatch", kEarly);
  }
}

TEST(AsioProberHttp, ConnectionRefused) {
  expectOutcome(probe(httpTarget(closedPort()), kVerdictTimeout), false, "connection refused",
                kEarly);
}

TEST(AsioProberHttp, ResetBeforeTheResponse) {
  HostileServer s([](int fd, const std::atomic<bool>&) {
    readRequest(fd);
    const linger l{1, 0};  // close() sends RST
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  });
  expectOutcome(probe(httpTarget(s.port()), kVerdictTimeout), false, "reset", kEarly);
}

TEST(AsioProberHttp, ProbesLeaveFromTheSourceAddress) {
  HostileServer s([](int fd, const std::atomic<bool>&) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 200 OK\r\n\r\n");
  });
  Target t = httpTarget(s.port());
  t.source = *IpAddr::parse("127.0.0.2");
  expectOutcome(probe(t, kVerdictTimeout), true, "status 200", kEarly);
  EXPECT_EQ(s.peerAddress(), "127.0.0.2");
}

TEST(AsioProberHttp, UnusableSourceFailsTheProbe) {
  Target t = httpTarget(closedPort());
  t.source = *IpAddr::parse("192.0.2.1");  // TEST-NET-1: not an address of this host
  const Outcome o = probe(t);
  ASSERT_TRUE(o.result);
  EXPECT_FALSE(o.result->ok);
  EXPECT_EQ(o.result->reason.rfind("bind 192.0.2.1: ", 0), 0U) << o.result->reason;
  t.source = *IpAddr::parse("::1");
  const Outcome o6 = probe(t);
  ASSERT_TRUE(o6.result);
  EXPECT_EQ(o6.result->reason, "source address ::1 is of another family");
}

TEST(AsioProberTcp, OpenPortPasses) {
  HostileServer s([](int, const std::atomic<bool>&) {});
  expectOutcome(probe(tcpTarget(s.port()), kVerdictTimeout), true, "connected", kEarly);
}

TEST(AsioProberTcp, ClosedPortIsRefused) {
  expectOutcome(probe(tcpTarget(closedPort()), kVerdictTimeout), false, "connection refused",
                kEarly);
}

TEST(AsioProberTcp, UnansweredSynTimesOut) {
  // A listener nobody accepts from, with its accept queue (backlog 0: one connection) full:
  // the kernel drops further SYNs, so a connect never completes, as with a black-holed RS.
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  auto* sa = reinterpret_cast<sockaddr*>(&a);
  ASSERT_EQ(bind(listener, sa, sizeof(a)), 0);
  ASSERT_EQ(listen(listener, 0), 0);
  ASSERT_EQ(getsockname(listener, sa, &len), 0);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    fillers.push_back(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    // In progress (EINPROGRESS) or queued: either way it takes the listener's queue.
    const int rc = connect(fillers.back(), sa, sizeof(a));
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS)
        << std::error_code(errno, std::generic_category()).message();
  }
  std::this_thread::sleep_for(milliseconds(50));
  const Outcome o = probe(tcpTarget(ntohs(a.sin_port)));
  expectOutcome(o, false, "connect timeout");
  EXPECT_GE(o.took, kTimeout);
  for (const int fd : fillers) close(fd);
  close(listener);
}

}  // namespace
}  // namespace anylb::health
