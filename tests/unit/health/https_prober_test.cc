// SSL_GET against a real TLS server on 127.0.0.1 (Boost.Asio SSL with a self-signed
// certificate made by the test): status, digest, SNI, verification off and on, and hostile
// servers (not TLS, silent, truncated handshake, slowloris, huge headers).
#include "health/https_prober.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "hostile_server.h"
#include "probe_outcome.h"
#include "tls_server.h"

namespace anylb::health {
namespace {

using std::chrono::milliseconds;
using testing::expectOutcome;
using testing::HostileServer;
using testing::kProbeMargin;
using testing::Outcome;
using testing::sendAll;
using testing::TestCert;
using testing::TlsSession;
using testing::waitForClose;

constexpr auto kTimeout = milliseconds(1000);
// md5("hello"), as `printf hello | md5sum` and keepalived's genhash print it.
constexpr const char* kHelloMd5 = "5d41402abc4b2a76b9719d911017c592";

const TestCert& cert() {
  static const TestCert c = testing::makeSelfSignedCert(::testing::TempDir() + "https_test_" +
                                                        std::to_string(getpid()) + ".pem");
  return c;
}

Target httpsTarget(uint16_t port) {
  Target t;
  t.rsId = 1;
  t.service = "tls";
  t.address = *IpAddr::parse("127.0.0.1");
  t.port = port;
  t.check.kind = config::CheckKind::kHttps;
  t.check.httpPath = "/healthz";
  return t;
}

Outcome probe(const Target& t, std::chrono::nanoseconds timeout = kTimeout) {
  return testing::runProbe<HttpsProber>(t, timeout);
}

// A TLS server answering every request with `response`; records SNI and the request.
struct Recorded {
  std::mutex mu;
  std::optional<std::string> sni;
  std::string request;
};

HostileServer::Behaviour serveTls(std::string response, Recorded* rec = nullptr,
                                  bool abruptClose = false) {
  return [response = std::move(response), rec, abruptClose](int fd, const std::atomic<bool>&) {
    TlsSession s(fd, cert());
    if (!s.handshake()) return;
    const std::string req = s.readRequest();
    if (rec != nullptr) {
      const std::lock_guard lock(rec->mu);
      rec->sni = s.sni();
      rec->request = req;
    }
    s.send(response);
    s.close(abruptClose);
  };
}

TEST(HttpsProber, ValidResponsePassesWithSniAndRequest) {
  Recorded rec;
  HostileServer s(serveTls("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", &rec));
  Target t = httpsTarget(s.port());
  t.check.sni = "rs.test";
  expectOutcome(probe(t), true, "status 200", kTimeout + kProbeMargin);
  const std::lock_guard lock(rec.mu);
  EXPECT_EQ(rec.sni, "rs.test");
  EXPECT_EQ(rec.request, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(s.port()) +
                             "\r\nUser-Agent: anylb-health\r\nAccept: */*\r\nConnection: "
                             "close\r\n\r\n");
}

TEST(HttpsProber, SniFromTheHttpHostAndNeverAnAddress) {
  Recorded rec;
  HostileServer s(serveTls("HTTP/1.1 204 No Content\r\n\r\n", &rec));
  Target t = httpsTarget(s.port());
  t.check.httpHost = "www.rs.test:8443";
  expectOutcome(probe(t), true, "status 204", kTimeout + kProbeMargin);
  {
    const std::lock_guard lock(rec.mu);
    EXPECT_EQ(rec.sni, "www.rs.test");
  }
  t.check.httpHost = "127.0.0.1";
  expectOutcome(probe(t), true, "status 204", kTimeout + kProbeMargin);
  const std::lock_guard lock(rec.mu);
  EXPECT_FALSE(rec.sni);  // RFC 6066: no IP literals in SNI
}

TEST(HttpsProber, DigestOfTheWholeBody) {
  HostileServer s(serveTls("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
  Target t = httpsTarget(s.port());
  t.check.digest = kHelloMd5;
  expectOutcome(probe(t), true, "status 200, digest ok", kTimeout + kProbeMargin);
  t.check.digest = "00000000000000000000000000000000";
  expectOutcome(probe(t), false, "digest mismatch", kTimeout + kProbeMargin);
}

TEST(HttpsProber, DigestOfABodyEndedByAnAbruptClose) {
  // No length, no close_notify: the end of the TCP stream ends the body (as most servers do).
  HostileServer s(serveTls("HTTP/1.0 200 OK\r\n\r\nhello", nullptr, true));
  Target t = httpsTarget(s.port());
  t.check.digest = kHelloMd5;
  expectOutcome(probe(t), true, "status 200, digest ok", kTimeout + kProbeMargin);
}

TEST(HttpsProber, UnexpectedStatusFails) {
  HostileServer s(serveTls("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"));
  expectOutcome(probe(httpsTarget(s.port())), false, "status 503", kTimeout + kProbeMargin);
}

TEST(HttpsProber, VerificationAgainstTheCaFileAndTheName) {
  HostileServer s(serveTls("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  Target t = httpsTarget(s.port());
  t.check.verifyCertificate = true;
  t.check.caFile = cert().certFile;
  t.check.sni = "rs.test";
  expectOutcome(probe(t), true, "status 200", kTimeout + kProbeMargin);
  t.check.sni.clear();  // then the certificate must name the RS address: it does
  expectOutcome(probe(t), true, "status 200", kTimeout + kProbeMargin);
  t.check.sni = "other.test";
  expectOutcome(probe(t), false, "TLS handshake: certificate verify failed",
                kTimeout + kProbeMargin);
}

TEST(HttpsProber, VerificationAgainstTheSystemStoreRefusesASelfSignedCertificate) {
  HostileServer s(serveTls("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  Target t = httpsTarget(s.port());
  t.check.sni = "rs.test";
  expectOutcome(probe(t), true, "status 200", kTimeout + kProbeMargin);  // off by default
  t.check.verifyCertificate = true;
  expectOutcome(probe(t), false, "TLS handshake: certificate verify failed",
                kTimeout + kProbeMargin);
}

TEST(HttpsProber, UnreadableCaFileFailsEveryProbe) {
  Target t = httpsTarget(1);
  t.check.verifyCertificate = true;
  t.check.caFile = "/nonexistent/ca.pem";
  const Outcome o = probe(t);
  ASSERT_TRUE(o.result);
  EXPECT_FALSE(o.result->ok);
  EXPECT_EQ(o.result->reason.rfind("TLS setup: /nonexistent/ca.pem: ", 0), 0U) << o.result->reason;
}

TEST(HttpsProber, ClosedPortIsRefused) {
  uint16_t port = 0;
  {
    HostileServer s([](int, const std::atomic<bool>&) {});
    port = s.port();
  }
  expectOutcome(probe(httpsTarget(port)), false, "connection refused", kProbeMargin);
}

// --- hostile servers

TEST(HttpsProberHostile, PlainHttpServerFailsTheHandshake) {
  HostileServer s([](int fd, const std::atomic<bool>& stop) {
    char buf[512];
    (void)!read(fd, buf, sizeof(buf));  // the ClientHello
    sendAll(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    waitForClose(fd, stop);
  });
  const Outcome o = probe(httpsTarget(s.port()));
  ASSERT_TRUE(o.result);
  EXPECT_FALSE(o.result->ok);
  EXPECT_EQ(o.result->reason.rfind("TLS handshake: ", 0), 0U) << o.result->reason;
  EXPECT_LE(o.took, kProbeMargin);  // at once, not at the timeout
}

TEST(HttpsProberHostile, SilentServerTimesOutInTheHandshake) {
  HostileServer s([](int fd, const std::atomic<bool>& stop) { waitForClose(fd, stop); });
  const Outcome o = probe(httpsTarget(s.port()));
  expectOutcome(o, false, "TLS handshake timeout", kTimeout + kProbeMargin);
  EXPECT_GE(o.took, kTimeout);
}

TEST(HttpsProberHostile, TruncatedServerHelloThenSilence) {
  HostileServer s([](int fd, const std::atomic<bool>& stop) {
    char buf[512];
    (void)!read(fd, buf, sizeof(buf));
    // A handshake record announcing 16000 bytes, of which 10 come.
    sendAll(fd, std::string("\x16\x03\x03\x3e\x80\x02\x00\x00\x46\x03\x03\x00\x00\x00\x00", 15));
    waitForClose(fd, stop);
  });
  expectOutcome(probe(httpsTarget(s.port())), false, "TLS handshake timeout",
                kTimeout + kProbeMargin);
}

TEST(HttpsProberHostile, TruncatedServerHelloThenClose) {
  HostileServer s([](int fd, const std::atomic<bool>&) {
    char buf[512];
    (void)!read(fd, buf, sizeof(buf));
    sendAll(fd, std::string("\x16\x03\x03\x3e\x80\x02\x00\x00\x46\x03\x03\x00\x00\x00\x00", 15));
  });
  expectOutcome(probe(httpsTarget(s.port())), false, "TLS handshake: closed by the server",
                kProbeMargin);
}

TEST(HttpsProberHostile, SlowlorisAfterTheHandshakeTimesOut) {
  HostileServer s([](int fd, const std::atomic<bool>& stop) {
    TlsSession tls(fd, cert());
    if (!tls.handshake()) return;
    tls.readRequest();
    const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for (size_t i = 0; i < response.size() && !stop; ++i) {
      if (!tls.send(response.substr(i, 1))) return;
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  const Outcome o = probe(httpsTarget(s.port()));
  expectOutcome(o, false, "response timeout", kTimeout + kProbeMargin);
  EXPECT_GE(o.took, kTimeout);
}

TEST(HttpsProberHostile, EndlessHeadersFailAtTheBound) {
  HostileServer s([](int fd, const std::atomic<bool>& stop) {
    TlsSession tls(fd, cert());
    if (!tls.handshake()) return;
    tls.readRequest();
    tls.send("HTTP/1.1 200 OK\r\n");
    const std::string line = "X-Pad: " + std::string(1000, 'a') + "\r\n";
    for (int i = 0; i < 100 && !stop && tls.send(line); ++i) {
    }
  });
  expectOutcome(probe(httpsTarget(s.port()), std::chrono::seconds(2)), false, "headers too large",
                std::chrono::seconds(2));
}

TEST(HttpsProberHostile, GarbageAfterTheHandshakeFails) {
  HostileServer s([](int fd, const std::atomic<bool>& stop) {
    TlsSession tls(fd, cert());
    if (!tls.handshake()) return;
    tls.readRequest();
    tls.send(std::string("\x00\xff garbage \x01\x02", 13));
    waitForClose(fd, stop);
  });
  expectOutcome(probe(httpsTarget(s.port())), false, "invalid status line",
                kProbeMargin + kTimeout);
}

}  // namespace
}  // namespace anylb::health
