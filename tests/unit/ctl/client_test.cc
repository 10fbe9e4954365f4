// The control API client against a tiny in-test Unix socket server: answers, silence, garbage,
// early close, oversize answers, no daemon at all. Sockets live in a fresh mkdtemp directory.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "ctl/client.h"
#include "ctl/command.h"
#include "fixtures.h"

namespace anylb::ctl {
namespace {

using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/anylbctl-test-XXXXXX";
    const char* made = ::mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

int listenAt(const std::string& path, bool listen = true) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  EXPECT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
  if (listen) {
    EXPECT_EQ(::listen(fd, 4), 0);
  }
  return fd;
}

std::string readLine(int fd) {
  std::string s;
  char c = 0;
  while (::recv(fd, &c, 1, 0) == 1) {
    s += c;
    if (c == '\n') break;
  }
  return s;
}

void sendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const auto n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Waits for the client to hang up (or 2 s), so a silent server outlives the client's timeout.
void waitForHangUp(int fd) {
  pollfd p{fd, POLLIN, 0};
  char buf[256];
  while (::poll(&p, 1, 2000) > 0 && ::recv(fd, buf, sizeof(buf), 0) > 0) {
  }
}

// Accepts one connection and hands it to `behaviour`, on its own thread.
class FakeDaemon {
 public:
  FakeDaemon(const std::string& path, std::function<void(int)> behaviour)
      : listenFd_(listenAt(path)), thread_([this, b = std::move(behaviour)] {
          pollfd p{listenFd_, POLLIN, 0};
          if (::poll(&p, 1, 2000) != 1) return;
          const int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
          if (fd < 0) return;
          b(fd);
          ::close(fd);
        }) {}
  FakeDaemon(const FakeDaemon&) = delete;
  FakeDaemon& operator=(const FakeDaemon&) = delete;
  FakeDaemon(FakeDaemon&&) = delete;
  FakeDaemon& operator=(FakeDaemon&&) = delete;
  ~FakeDaemon() {
    thread_.join();
    ::close(listenFd_);
  }

 private:
  int listenFd_;
  std::thread thread_;
};

TEST(Client, SendsOneLineAndReadsOneAnswerInPieces) {
  TempDir dir;
  const auto path = dir.file("anylb.sock");
  std::string received;
  {
    FakeDaemon d(path, [&](int fd) {
      received = readLine(fd);
      sendAll(fd, R"({"ok":true,)");
      std::this_thread::sleep_for(20ms);
      sendAll(fd, R"("result":{"x":1}})"
                  "\n"
                  R"({"ok":true})"
                  "\n");
    });
    UnixSocketTransport t(path);
    const auto r = t.call(R"({"cmd":"status"})");
    EXPECT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.line, R"({"ok":true,"result":{"x":1}})");
  }
  EXPECT_EQ(received, "{\"cmd\":\"status\"}\n");
}

TEST(Client, ListingEndToEndThroughTheSocket) {
  TempDir dir;
  const auto path = dir.file("anylb.sock");
  std::string received;
  Outcome o;
  {
    FakeDaemon d(path, [&](int fd) {
      received = readLine(fd);
      sendAll(fd,
              dumpJson(Json{{"ok", true}, {"result", Json::parse(test::kServicesResult)}}) + "\n");
    });
    o = runCli({"-s", path, "-L", "-n"});
  }
  EXPECT_EQ(received, "{\"cmd\":\"services\"}\n");
  EXPECT_EQ(o.exitCode, kExitOk) << o.err;
  EXPECT_EQ(o.out.rfind("IP Virtual Server version 1.2.1 (size=4096)\n", 0), 0U);
  EXPECT_NE(o.out.find("  -> 10.20.0.11:80                FullNat 3      2          1         \n"),
            std::string::npos);
}

TEST(Client, SocketPathFromTheConfigFileEvenWhenTheRestDoesNotValidate) {
  TempDir dir;
  const auto path = dir.file("from-config.sock");
  const auto cfg = dir.file("anylb.toml");
  std::ofstream(cfg) << "[node]\nname = 7\n\n[control]\nsocket = \"" << path << "\"\n";
  std::string received;
  Outcome o;
  {
    FakeDaemon d(path, [&](int fd) {
      received = readLine(fd);
      sendAll(fd,
              "{\"ok\":true,\"result\":{\"generation\":5,\"changed\":[],\"restart_needed\":[]}}\n");
    });
    o = runCli({"-c", cfg, "reload"});
  }
  EXPECT_EQ(received, "{\"cmd\":\"reload\"}\n");
  EXPECT_EQ(o.exitCode, kExitOk) << o.err;
  EXPECT_EQ(o.out, "reloaded: generation 5\nchanged: nothing\n");
}

TEST(Client, SilentDaemonTimesOut) {
  TempDir dir;
  const auto path = dir.file("anylb.sock");
  FakeDaemon d(path, [](int fd) {
    readLine(fd);
    waitForHangUp(fd);
  });
  UnixSocketTransport t(path, ClientLimits{200ms});
  const auto start = std::chrono::steady_clock::now();
  const auto r = t.call(R"({"cmd":"status"})");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.error, "anylbd at " + path + " did not answer within 200 ms");
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 1500ms);
}

TEST(Client, GarbageAnswerIsAClearError) {
  TempDir dir;
  const auto path = dir.file("anylb.sock");
  Outcome o;
  {
    FakeDaemon d(path, [](int fd) {
      readLine(fd);
      sendAll(fd, "HTTP/1.1 400 Bad Request\r\n");
    });
    o = runCli({"-s", path, "status"});
  }
  EXPECT_EQ(o.exitCode, kExitFailed);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err, "anylbctl: invalid answer from anylbd at " + path +
                       " (not a JSON object with \"ok\"): \"HTTP/1.1 400 Bad Request\\r\"\n");
}

TEST(Client, DaemonClosingWithoutAnswer) {
  TempDir dir;
  const auto path = dir.file("anylb.sock");
  FakeDaemon d(path, [](int fd) { readLine(fd); });
  UnixSocketTransport t(path);
  EXPECT_EQ(t.call("{}").error, "anylbd at " + path + " closed the connection without answering");
}

TEST(Client, DaemonClosingInTheMiddleOfTheAnswer) {
  TempDir dir;
  const auto path = dir.file("anylb.sock");
  FakeDaemon d(path, [](int fd) {
    readLine(fd);
    sendAll(fd, R"({"ok":tr)");
  });
  UnixSocketTransport t(path);
  EXPECT_EQ(t.call("{}").error, "anylbd at " + path +
                                    " closed the connection in the middle of its answer (8 "
                                    "bytes, no newline)");
}

TEST(Client, OversizeAnswerIsCutOff) {
  TempDir dir;
  const auto path = dir.file("anylb.sock");
  FakeDaemon d(path, [](int fd) {
    readLine(fd);
    sendAll(fd, std::string(5000, 'x'));
    waitForHangUp(fd);
  });
  UnixSocketTransport t(path, ClientLimits{1000ms, 1000});
  EXPECT_EQ(t.call("{}").error, "the answer of anylbd at " + path + " exceeds 1000 bytes");
}

TEST(Client, NoSocketMeansExit1NamingThePath) {
  TempDir dir;
  const auto path = dir.file("nothing-here.sock");
  const auto o = runCli({"-s", path, "status"});
  EXPECT_EQ(o.exitCode, kExitFailed);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err, "anylbctl: cannot reach anylbd at " + path +
                       ": No such file or directory (is anylbd running?)\n");
}

TEST(Client, SocketNobodyListensOn) {
  TempDir dir;
  const auto path = dir.file("stale.sock");
  const int fd = listenAt(path, /*listen=*/false);
  UnixSocketTransport t(path);
  EXPECT_EQ(t.call("{}").error,
            "cannot reach anylbd at " + path + ": Connection refused (is anylbd running?)");
  ::close(fd);
}

TEST(Client, SocketPathTooLong) {
  const std::string path = "/tmp/" + std::string(200, 'a');
  UnixSocketTransport t(path);
  EXPECT_EQ(t.call("{}").error,
            "cannot reach anylbd at " + path + ": the socket path must be 1..107 bytes");
}

TEST(Client, ErrorAnswerExits1WithCodeAndMessage) {
  TempDir dir;
  const auto path = dir.file("anylb.sock");
  std::string received;
  Outcome o;
  {
    FakeDaemon d(path, [&](int fd) {
      received = readLine(fd);
      sendAll(
          fd,
          R"({"ok":false,"error":{"code":"not_found","message":"no real server 10.20.0.99:80 in 10.100.0.10:80"}})"
          "\n");
    });
    o = runCli({"--socket", path, "weight", "10.100.0.10:80", "10.20.0.99:80", "2"});
  }
  EXPECT_EQ(
      received,
      R"({"cmd":"weight","service":"10.100.0.10:80","real_server":"10.20.0.99:80","weight":2})"
      "\n");
  EXPECT_EQ(o.exitCode, kExitFailed);
  EXPECT_EQ(o.err, "anylbctl: not_found: no real server 10.20.0.99:80 in 10.100.0.10:80\n");
}

}  // namespace
}  // namespace anylb::ctl
