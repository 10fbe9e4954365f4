// Blocking POSIX clients for the daemon's servers, and an io_context on a thread of its own.
// Every wait has a deadline, so a server that fails to answer or to close fails the test
// instead of hanging it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace anylb::testing {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

inline milliseconds since(Clock::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
}

// Runs an io_context on a background thread; run() executes a function on that thread (where
// the servers live: they are not thread-safe) and returns its result.
class IoThread {
 public:
  IoThread() : guard_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~IoThread() {
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;
  IoThread(IoThread&&) = delete;
  IoThread& operator=(IoThread&&) = delete;

  boost::asio::io_context& io() { return io_; }

  template <class F>
  auto run(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return result.get();
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

// One stream connection (Unix or TCP).
class TestClient {
 public:
  static TestClient connectUnix(const std::string& path) {
    TestClient c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof(sa.sun_path)) return c.failed();
    std::memcpy(sa.sun_path, path.data(), path.size());
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
    if (::connect(c.fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
      return c.failed();
    }
    return c;
  }

  static TestClient connectTcp(uint16_t port) {
    TestClient c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
    if (::connect(c.fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
      return c.failed();
    }
    return c;
  }

  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;
  TestClient(TestClient&& o) noexcept : fd_(o.fd_), buf_(std::move(o.buf_)) { o.fd_ = -1; }
  TestClient& operator=(TestClient&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = o.fd_;
      buf_ = std::move(o.buf_);
      o.fd_ = -1;
    }
    return *this;
  }
  ~TestClient() { close(); }

  [[nodiscard]] bool connected() const { return fd_ >= 0; }
  [[nodiscard]] int fd() const { return fd_; }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Sends all of data (blocking); false when the peer is gone. No SIGPIPE.
  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Sends what fits without blocking; returns the bytes sent (stops at the first error).
  size_t sendSome(std::string_view data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n =
          ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    return sent;
  }

  // The next line, without its '\n'; nullopt on EOF, error or timeout.
  std::optional<std::string> readLine(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (const auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      if (fill(deadline) <= 0) return std::nullopt;
    }
  }

  // Everything up to the peer's close; nullopt on timeout.
  std::optional<std::string> readToEof(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const ssize_t n = fill(deadline);
      if (n == 0) return std::exchange(buf_, {});
      if (n < 0) return std::nullopt;
    }
  }

  // True when the peer closes (EOF or reset) within timeout. Data read meanwhile is counted in
  // *discarded and dropped.
  bool waitClosed(milliseconds timeout, size_t* discarded = nullptr) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (discarded != nullptr) *discarded += buf_.size();
      buf_.clear();
      const ssize_t n = fill(deadline);
      if (n == 0) return true;
      if (n < 0) return false;
    }
  }

  // True when something (data or EOF) can be read within timeout.
  bool readable(milliseconds timeout) {
    if (!buf_.empty()) return true;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
  }

 private:
  explicit TestClient(int fd) : fd_(fd) {}
  TestClient failed() {
    close();
    return std::move(*this);
  }

  // Reads once. >0: bytes appended; 0: the peer closed (EOF or reset); -1: timeout or no socket.
  ssize_t fill(Clock::time_point deadline) {
    if (fd_ < 0) return -1;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() < 0) return -1;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) != 1) return -1;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0) return errno == ECONNRESET ? 0 : -1;
    buf_.append(chunk, static_cast<size_t>(n));
    return n;
  }

  int fd_ = -1;
  std::string buf_;
};

}  // namespace anylb::testing
