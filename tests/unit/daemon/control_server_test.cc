// The control API transport (docs/control-api.md) against real Unix-socket clients: answers,
// pipelining, every error code the transport produces, the size/time/client bounds, and the
// socket file's life. Small limits keep the whole file well under 5 s.
#include "daemon/control_server.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "test_client.h"

namespace anylb {
namespace {

using nlohmann::json;
using testing::Clock;
using testing::IoThread;
using testing::since;
using testing::TestClient;
using namespace std::chrono_literals;

constexpr size_t kBigAnswer = 2 * 1024 * 1024;  // far more than a socket buffer holds

// echo: the request; fail: ApiError (with the request's `errors`, if any); crash: a
// std::exception; big: an answer a stalled reader cannot take.
json handle(const std::string& cmd, const json& req) {
  if (cmd == "echo") return req;
  if (cmd == "fail") {
    throw ApiError{"not_found", "no such real server", req.value("errors", json(nullptr))};
  }
  if (cmd == "crash") throw std::runtime_error("handler bug");
  if (cmd == "big") return std::string(kBigAnswer, 'a');
  throw ApiError{"unknown_command", "unknown command '" + cmd + "'"};
}

ControlServer::Limits smallLimits() {
  ControlServer::Limits l;
  l.maxLine = 1024;
  l.maxClients = 3;
  l.requestMs = 300;
  l.idleMs = 600;
  l.writeMs = 300;
  return l;
}

class ControlServerTest : public ::testing::Test {
 protected:
  ControlServerTest() {
    std::string tmpl = "/tmp/anylb-ctl-srv-XXXXXX";
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/anylb.sock";
  }
  ~ControlServerTest() override {
    io_.run([this] {
      server_.reset();
      return 0;
    });
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Creates and starts the server on the io thread; returns start()'s answer.
  std::string start(ControlServer::Limits limits = smallLimits(), const std::string& path = {}) {
    return io_.run([&] {
      server_ =
          std::make_unique<ControlServer>(io_.io(), path.empty() ? path_ : path, handle, limits);
      return server_->start();
    });
  }

  ControlServer::Counters counters() {
    return io_.run([this] { return server_->counters(); });
  }
  size_t clients() {
    return io_.run([this] { return server_->clients(); });
  }
  // Waits until the server counts n clients (connect() returns before the server accepts).
  bool waitClients(size_t n, testing::milliseconds timeout = 1000ms) {
    const auto t0 = Clock::now();
    while (since(t0) < timeout) {
      if (clients() == n) return true;
      std::this_thread::sleep_for(2ms);
    }
    return false;
  }

  TestClient connect() { return TestClient::connectUnix(path_); }

  // One request on c, its answer parsed (null when none arrives within 1 s or it is not JSON).
  static json ask(TestClient& c, const std::string& line) {
    if (!c.send(line + "\n")) return nullptr;
    return parse(c.readLine(1000ms));
  }
  static json parse(const std::optional<std::string>& line) {
    if (!line) return nullptr;
    return json::parse(*line, nullptr, /*allow_exceptions=*/false);
  }
  static std::string errorCode(const json& answer) {
    if (!answer.is_object() || !answer.contains("error"))
      return "(no error: " + answer.dump() + ")";
    return answer["error"].value("code", "(no code)");
  }
  static bool ok(const json& answer) { return answer.is_object() && answer.value("ok", false); }
  // The answer's result when it is an object, else an empty object.
  static json result(const json& answer) {
    if (!ok(answer) || !answer.contains("result") || !answer["result"].is_object()) {
      return json::object();
    }
    return answer["result"];
  }

  IoThread io_;
  std::string dir_;
  std::string path_;
  std::unique_ptr<ControlServer> server_;
};

// ---- answers

TEST_F(ControlServerTest, AnswersARequestWithItsResult) {
  ASSERT_EQ(start(), "");
  auto c = connect();
  ASSERT_TRUE(c.connected());
  const auto line = c.send(R"({"cmd":"echo","x":[1,"two"]})"
                           "\n")
                        ? c.readLine(1000ms)
                        : std::nullopt;
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, R"({"ok":true,"result":{"cmd":"echo","x":[1,"two"]}})");
  const auto n = counters();
  EXPECT_EQ(n.connections, 1U);
  EXPECT_EQ(n.requests, 1U);
  EXPECT_EQ(n.errors, 0U);
}

TEST_F(ControlServerTest, AnswersPipelinedRequestsInOrder) {
  ASSERT_EQ(start(), "");
  auto c = connect();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.send(json{{"cmd", "echo"}, {"id", i}}.dump() + "\n"));
  }
  // Two in one write, and one split over two writes.
  ASSERT_TRUE(c.send(R"({"cmd":"echo","id":5})"
                     "\n"
                     R"({"cmd":"echo","id":6})"
                     "\n"
                     R"({"cmd":"ec)"));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(c.send(R"(ho","id":7})"
                     "\n"));
  for (int i = 0; i < 8; ++i) {
    const auto a = parse(c.readLine(1000ms));
    ASSERT_TRUE(a.is_object()) << "answer " << i;
    EXPECT_TRUE(ok(a));
    EXPECT_EQ(result(a).value("id", -1), i);
  }
  EXPECT_FALSE(c.readable(50ms)) << "one answer per request";
  EXPECT_EQ(counters().requests, 8U);
}

TEST_F(ControlServerTest, ManyRequestsInOneWrite) {
  ASSERT_EQ(start(), "");
  auto c = connect();
  std::string burst;
  for (int i = 0; i < 200; ++i) burst += json{{"cmd", "echo"}, {"id", i}}.dump() + "\n";
  ASSERT_TRUE(c.send(burst));
  for (int i = 0; i < 200; ++i) {
    const auto a = parse(c.readLine(1000ms));
    ASSERT_TRUE(a.is_object()) << "answer " << i;
    ASSERT_EQ(result(a).value("id", -1), i);
  }
}

// ---- error answers; the connection stays usable after each

TEST_F(ControlServerTest, MalformedRequestsAreBadRequest) {
  ASSERT_EQ(start(), "");
  auto c = connect();
  for (const char* bad :
       {R"({"cmd":"echo")", "not json", "", R"([{"cmd":"echo"}])", R"("echo")",
        R"({"command":"echo"})", R"({"cmd":5})", R"({"cmd":null})", R"({"cmd":["echo"]})"}) {
    const auto a = ask(c, bad);
    ASSERT_TRUE(a.is_object()) << bad;
    EXPECT_EQ(a.size(), 2U) << a.dump();
    EXPECT_EQ(errorCode(a), "bad_request") << bad;
    EXPECT_TRUE(a["error"]["message"].is_string());
    EXPECT_FALSE(a["error"].contains("errors")) << a.dump();
  }
  EXPECT_EQ(ok(ask(c, R"({"cmd":"echo"})")), true);
  const auto n = counters();
  EXPECT_EQ(n.requests, 10U);
  EXPECT_EQ(n.errors, 9U);
}

TEST_F(ControlServerTest, HandlerApiErrorIsAnsweredWithItsCodeMessageAndErrors) {
  ASSERT_EQ(start(), "");
  auto c = connect();
  auto a = ask(c, R"({"cmd":"fail"})");
  EXPECT_EQ(a, json::parse(R"({"ok":false,"error":{"code":"not_found",
                                "message":"no such real server"}})"));
  a = ask(c, R"({"cmd":"fail","errors":["a.toml:3:1: x: bad","a.toml:4:1: y: bad"]})");
  EXPECT_EQ(a, json::parse(R"({"ok":false,"error":{"code":"not_found",
                                "message":"no such real server",
                                "errors":["a.toml:3:1: x: bad","a.toml:4:1: y: bad"]}})"));
  a = ask(c, R"({"cmd":"nope"})");
  EXPECT_EQ(errorCode(a), "unknown_command");
  EXPECT_EQ(counters().errors, 3U);
}

TEST_F(ControlServerTest, HandlerExceptionIsInternalAndTheServerKeepsServing) {
  ASSERT_EQ(start(), "");
  auto c = connect();
  const auto a = ask(c, R"({"cmd":"crash"})");
  EXPECT_EQ(errorCode(a), "internal");
  EXPECT_EQ(a["error"].value("message", ""), "handler bug");
  EXPECT_EQ(result(ask(c, R"({"cmd":"echo","n":1})")).value("n", 0), 1);
  auto other = connect();
  EXPECT_EQ(result(ask(other, R"({"cmd":"echo","n":2})")).value("n", 0), 2);
}

// ---- size bound

TEST_F(ControlServerTest, LineOfExactlyMaxLineIsServed) {
  ASSERT_EQ(start(), "");
  auto c = connect();
  std::string req = R"({"cmd":"echo","pad":""})";
  req.insert(req.size() - 2, 1024 - req.size(), 'p');
  ASSERT_EQ(req.size(), 1024U);
  EXPECT_EQ(ok(ask(c, req)), true);
}

TEST_F(ControlServerTest, OverlongLineWithNewlineIsTooLargeAndCloses) {
  ASSERT_EQ(start(), "");
  auto c = connect();
  std::string req = R"({"cmd":"echo","pad":""})";
  req.insert(req.size() - 2, 1025 - req.size(), 'p');
  const auto a = ask(c, req);
  EXPECT_EQ(errorCode(a), "too_large");
  EXPECT_TRUE(c.waitClosed(500ms));
  EXPECT_EQ(counters().errors, 1U);
  EXPECT_TRUE(waitClients(0));
}

TEST_F(ControlServerTest, OverlongLineWithoutNewlineIsTooLargeAndCloses) {
  ASSERT_EQ(start(), "");
  auto c = connect();
  ASSERT_TRUE(c.send(std::string(1500, 'x')));
  EXPECT_EQ(errorCode(parse(c.readLine(1000ms))), "too_large");
  EXPECT_TRUE(c.waitClosed(500ms));
}

TEST_F(ControlServerTest, FloodWithoutNewlineIsCutOffEarly) {
  ASSERT_EQ(start(), "");
  auto c = connect();
  // Far more than maxLine: the server answers after a few KiB and closes; the rest is refused.
  const size_t sent = c.sendSome(std::string(4 * 1024 * 1024, '{'));
  EXPECT_LT(sent, 4U * 1024 * 1024);
  EXPECT_EQ(errorCode(parse(c.readLine(1000ms))), "too_large");
  EXPECT_TRUE(c.waitClosed(500ms));
  auto next = connect();
  EXPECT_EQ(ok(ask(next, R"({"cmd":"echo"})")), true);
}

TEST_F(ControlServerTest, LongSecondLineAfterAGoodOneIsTooLarge) {
  ASSERT_EQ(start(), "");
  auto c = connect();
  ASSERT_TRUE(c.send(R"({"cmd":"echo","id":1})"
                     "\n" +
                     std::string(1100, ' ')));
  EXPECT_EQ(result(parse(c.readLine(1000ms))).value("id", 0), 1);
  EXPECT_EQ(errorCode(parse(c.readLine(1000ms))), "too_large");
  EXPECT_TRUE(c.waitClosed(500ms));
}

// ---- client bound

TEST_F(ControlServerTest, ClientsOverTheLimitAreBusyUntilIdleOnesTimeOut) {
  ASSERT_EQ(start(), "");
  std::vector<TestClient> idle;
  idle.reserve(3);
  for (int i = 0; i < 3; ++i) idle.push_back(connect());
  ASSERT_TRUE(waitClients(3));
  const auto t0 = Clock::now();

  auto extra = connect();
  ASSERT_TRUE(extra.connected());
  const auto a = parse(extra.readLine(1000ms));
  EXPECT_EQ(errorCode(a), "busy");
  EXPECT_TRUE(extra.waitClosed(500ms));
  EXPECT_EQ(counters().busy, 1U);
  EXPECT_TRUE(waitClients(3)) << "the refused client no longer counts";

  // The idle ones are closed after idleMs (600 ms), then clients are served again.
  for (auto& c : idle) EXPECT_TRUE(c.waitClosed(1500ms));
  EXPECT_GE(since(t0), 450ms);
  EXPECT_TRUE(waitClients(0));
  auto next = connect();
  EXPECT_EQ(ok(ask(next, R"({"cmd":"echo"})")), true);
  const auto n = counters();
  EXPECT_EQ(n.busy, 1U);
  EXPECT_EQ(n.timeouts, 3U);
  EXPECT_EQ(n.connections, 5U);
  EXPECT_EQ(n.errors, 1U);
}

// ---- time bounds

TEST_F(ControlServerTest, HalfALineIsClosedAfterRequestMs) {
  auto limits = smallLimits();
  limits.idleMs = 3000;  // so a close at requestMs cannot be the idle timeout
  ASSERT_EQ(start(limits), "");
  auto c = connect();
  const auto t0 = Clock::now();
  ASSERT_TRUE(c.send(R"({"cmd":"ec)"));
  EXPECT_TRUE(c.waitClosed(2000ms));
  EXPECT_GE(since(t0), 250ms);
  EXPECT_LT(since(t0), 1500ms);
  EXPECT_EQ(counters().timeouts, 1U);
  EXPECT_TRUE(waitClients(0));
}

TEST_F(ControlServerTest, IdleAfterAnAnswerIsClosedAfterIdleMs) {
  auto limits = smallLimits();
  limits.requestMs = 3000;  // a close at ~idleMs cannot be the request timeout
  limits.idleMs = 400;
  ASSERT_EQ(start(limits), "");
  auto c = connect();
  EXPECT_EQ(ok(ask(c, R"({"cmd":"echo"})")), true);
  const auto t0 = Clock::now();  // a little after the server armed the idle timer
  EXPECT_TRUE(c.waitClosed(2000ms));
  EXPECT_GE(since(t0), 200ms);
  EXPECT_LT(since(t0), 1500ms);
}

TEST_F(ControlServerTest, ARequestSentSlowlyWithinRequestMsIsServed) {
  ASSERT_EQ(start(), "");
  auto c = connect();
  for (const char* part : {R"({"cmd")", R"(:"echo",)",
                           R"("slow":true})"
                           "\n"}) {
    ASSERT_TRUE(c.send(part));
    std::this_thread::sleep_for(60ms);
  }
  EXPECT_EQ(result(parse(c.readLine(1000ms))).value("slow", false), true);
}

TEST_F(ControlServerTest, StalledReaderIsClosedAfterWriteMsWithoutBlockingOthers) {
  auto limits = smallLimits();
  limits.writeMs = 500;
  limits.idleMs = 3000;  // only the write can time out here
  ASSERT_EQ(start(limits), "");
  auto stalled = connect();
  ASSERT_TRUE(stalled.send(R"({"cmd":"big"})"
                           "\n"));
  ASSERT_TRUE(stalled.readable(1000ms)) << "the answer started";
  const auto t0 = Clock::now();

  auto other = connect();
  EXPECT_EQ(result(ask(other, R"({"cmd":"echo","id":9})")).value("id", 0), 9);
  EXPECT_LT(since(t0), 400ms) << "served while the big answer is stuck";

  // The stalled client reads nothing until the server gave up on it.
  while (counters().timeouts == 0 && since(t0) < 3000ms) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(counters().timeouts, 1U);
  EXPECT_GE(since(t0), 350ms);
  size_t got = 0;
  EXPECT_TRUE(stalled.waitClosed(1000ms, &got));
  EXPECT_GT(got, 0U);
  EXPECT_LT(got, kBigAnswer) << "the answer was cut off";
  EXPECT_TRUE(waitClients(1));  // `other`, idle
  EXPECT_EQ(result(ask(other, R"({"cmd":"echo","id":10})")).value("id", 0), 10);
}

// ---- the socket file

TEST_F(ControlServerTest, SocketIsOwnerOnlyWhateverTheUmask) {
  const mode_t old = ::umask(0);
  const auto err = start();
  ::umask(old);
  ASSERT_EQ(err, "");
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600U);
}

TEST_F(ControlServerTest, StaleSocketIsReplaced) {
  {
    // A socket file nobody listens on, as a killed anylbd leaves it.
    auto stale = TestClient::connectUnix(path_);
    EXPECT_FALSE(stale.connected());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path_.c_str(), sizeof(sa.sun_path) - 1);
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)), 0);
    ::close(fd);
    ASSERT_TRUE(std::filesystem::exists(path_));
    EXPECT_FALSE(TestClient::connectUnix(path_).connected());
  }
  ASSERT_EQ(start(), "");
  auto c = connect();
  EXPECT_EQ(ok(ask(c, R"({"cmd":"echo"})")), true);
}

TEST_F(ControlServerTest, LiveSocketOfAnotherServerIsNotTaken) {
  // A second anylbd with the same control.socket must not unlink the first one's socket: the
  // first would keep forwarding with no control API, unreachable for anylbctl.
  ASSERT_EQ(start(), "");
  auto before = connect();
  EXPECT_EQ(ok(ask(before, R"({"cmd":"echo"})")), true);
  const auto err = io_.run([this] {
    ControlServer second(io_.io(), path_, handle, smallLimits());
    return second.start();  // ~second: stop() must not remove the first one's socket either
  });
  EXPECT_NE(err.find(path_), std::string::npos) << err;
  EXPECT_NE(err.find("listening"), std::string::npos) << err;
  // The first server still answers, on its open connection and on new ones.
  EXPECT_EQ(ok(ask(before, R"({"cmd":"echo"})")), true);
  auto after = connect();
  EXPECT_EQ(ok(ask(after, R"({"cmd":"echo"})")), true);
}

TEST_F(ControlServerTest, FileThatIsNotASocketIsNeitherDeletedNorReplaced) {
  std::ofstream(path_) << "operator's notes";
  const auto err = start();
  EXPECT_NE(err.find("not a socket"), std::string::npos) << err;
  std::ifstream in(path_);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "operator's notes");
  // An empty directory at the path is not removed either.
  std::filesystem::remove(path_);
  std::filesystem::create_directory(path_);
  EXPECT_NE(start().find("not a socket"), std::string::npos);
  EXPECT_TRUE(std::filesystem::is_directory(path_));
}

TEST_F(ControlServerTest, StopLeavesASocketThatReplacedOurs) {
  // Someone removed our socket and another server bound the path: stopping the first server
  // must not remove the second one's socket.
  ASSERT_EQ(start(), "");
  std::filesystem::remove(path_);
  auto second = io_.run([this] {
    auto s = std::make_unique<ControlServer>(io_.io(), path_, handle, smallLimits());
    EXPECT_EQ(s->start(), "");
    server_->stop();
    return s;
  });
  EXPECT_TRUE(std::filesystem::exists(path_));
  auto c = connect();
  EXPECT_EQ(ok(ask(c, R"({"cmd":"echo"})")), true);
  io_.run([&] {
    second.reset();
    return 0;
  });
}

TEST_F(ControlServerTest, CreatesMissingParentDirectories) {
  const std::string nested = dir_ + "/run/anylb/anylb.sock";
  ASSERT_EQ(start(smallLimits(), nested), "");
  auto c = TestClient::connectUnix(nested);
  EXPECT_EQ(ok(ask(c, R"({"cmd":"echo"})")), true);
}

TEST_F(ControlServerTest, UncreatablePathIsAnErrorNotAThrow) {
  const std::string file = dir_ + "/plain-file";
  std::ofstream(file) << "x";
  std::string err;
  EXPECT_NO_THROW(err = start(smallLimits(), file + "/sub/anylb.sock"));
  EXPECT_NE(err.find(file + "/sub/anylb.sock"), std::string::npos) << err;
}

TEST_F(ControlServerTest, OverlongPathIsAnErrorNotAThrow) {
  // sun_path holds 108 bytes: a longer control.socket must not take anylbd down.
  const std::string path = dir_ + "/" + std::string(120, 'd') + "/anylb.sock";
  std::string err = "(threw)";
  EXPECT_NO_THROW(err = start(smallLimits(), path));
  EXPECT_NE(err, "");
  EXPECT_NE(err.find("control socket"), std::string::npos) << err;
}

TEST_F(ControlServerTest, StopRemovesTheSocketAndEndsOpenConnections) {
  ASSERT_EQ(start(), "");
  auto c = connect();
  EXPECT_EQ(ok(ask(c, R"({"cmd":"echo"})")), true);
  io_.run([this] {
    server_->stop();
    return 0;
  });
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_FALSE(connect().connected());
  // The old connection is not served any more: it closes (at once if it was still finishing
  // its answer, else on its next request) without answering.
  c.send(R"({"cmd":"echo"})"
         "\n");
  size_t answered = 0;
  EXPECT_TRUE(c.waitClosed(500ms, &answered));
  EXPECT_EQ(answered, 0U);
}

TEST_F(ControlServerTest, RestartAfterStopServesAFullSetOfClients) {
  ASSERT_EQ(start(), "");
  std::vector<TestClient> open;
  open.reserve(3);
  for (int i = 0; i < 3; ++i) open.push_back(connect());
  ASSERT_TRUE(waitClients(3));
  const auto err = io_.run([this] {
    server_->stop();
    return server_->start();
  });
  ASSERT_EQ(err, "");
  // The connections of before the stop no longer count against maxClients.
  std::vector<TestClient> fresh;
  for (int i = 0; i < 3; ++i) {
    fresh.push_back(connect());
    EXPECT_EQ(ok(ask(fresh.back(), R"({"cmd":"echo"})")), true) << i;
  }
}

TEST_F(ControlServerTest, DestroyingTheServerWithOpenConnectionsIsClean) {
  auto limits = smallLimits();
  limits.idleMs = 3000;  // `idle` and `half` stay open until they send; `big` times out
  limits.requestMs = 3000;
  ASSERT_EQ(start(limits), "");
  auto idle = connect();
  auto half = connect();
  auto big = connect();
  ASSERT_TRUE(waitClients(3));
  ASSERT_TRUE(half.send(R"({"cmd":"echo",)"));
  ASSERT_TRUE(big.send(R"({"cmd":"big"})"
                       "\n"));
  ASSERT_TRUE(big.readable(1000ms));
  io_.run([this] {
    server_.reset();
    return 0;
  });
  EXPECT_FALSE(std::filesystem::exists(path_));
  // Whatever each connection was doing, it ends without touching the destroyed server.
  idle.send(R"({"cmd":"echo"})"
            "\n");
  half.send(R"("x":1})"
            "\n");
  EXPECT_TRUE(idle.waitClosed(1000ms));
  EXPECT_TRUE(half.waitClosed(1000ms));
  EXPECT_TRUE(big.waitClosed(1000ms));
}

}  // namespace
}  // namespace anylb
