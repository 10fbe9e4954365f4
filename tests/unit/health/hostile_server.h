// A one-connection-at-a-time TCP server on 127.0.0.1 with a scripted behaviour, on its own
// thread with plain sockets, so that the prober under test meets real kernel sockets.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace anylb::health::testing {

class HostileServer {
 public:
  // Runs once per accepted connection; should return soon after `stop` becomes true. The
  // server closes the connection after it returns.
  using Behaviour = std::function<void(int fd, const std::atomic<bool>& stop)>;

  explicit HostileServer(Behaviour behaviour, int backlog = 16) : behaviour_(std::move(behaviour)) {
    listen_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (listen_ < 0 || bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        listen(listen_, backlog) != 0 ||
        getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("test server: cannot listen");
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  HostileServer(const HostileServer&) = delete;
  HostileServer& operator=(const HostileServer&) = delete;
  HostileServer(HostileServer&&) = delete;
  HostileServer& operator=(HostileServer&&) = delete;
  ~HostileServer() {
    stop_ = true;
    thread_.join();
    close(listen_);
  }

  [[nodiscard]] uint16_t port() const { return port_; }
  [[nodiscard]] int accepted() const { return accepted_; }
  [[nodiscard]] std::string peerAddress() const {
    const std::lock_guard lock(mu_);
    return peer_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{listen_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      sockaddr_in peer{};
      socklen_t len = sizeof(peer);
      const int fd = accept4(listen_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      {
        char text[INET_ADDRSTRLEN] = {};
        inet_ntop(AF_INET, &peer.sin_addr, text, sizeof(text));
        const std::lock_guard lock(mu_);
        peer_ = text;
      }
      behaviour_(fd, stop_);
      close(fd);
    }
  }

  Behaviour behaviour_;
  int listen_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  mutable std::mutex mu_;
  std::string peer_;
  std::thread thread_;
};

// Reads until the end of the request head (or 1 s, or the peer closes).
inline std::string readRequest(int fd) {
  std::string req;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  char buf[1024];
  while (req.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  return req;
}

inline bool sendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Stays silent until the peer closes or the server stops.
inline void waitForClose(int fd, const std::atomic<bool>& stop) {
  char buf[1024];
  while (!stop) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    if (read(fd, buf, sizeof(buf)) <= 0) return;
  }
}

}  // namespace anylb::health::testing
