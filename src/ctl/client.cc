#include "ctl/client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>
#include <utility>

#include <fmt/format.h>

namespace anylb::ctl {

namespace {

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&&) = delete;
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

// strerror() text without strerror()'s shared buffer.
std::string errnoText(int err) {
  return std::error_code(err, std::generic_category()).message();
}

std::string hint(int err) {
  switch (err) {
    case ENOENT:
    case ECONNREFUSED:
      return " (is anylbd running?)";
    case EACCES:
    case EPERM:
      return " (the socket is mode 0600: run as the user anylbd runs as)";
    default:
      return "";
  }
}

// Milliseconds left until `deadline`, at least 0, for poll().
int remainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

// Waits for `events` on fd; false on timeout (errno untouched) or poll failure.
bool waitFor(int fd, short events, Clock::time_point deadline, int& err) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, remainingMs(deadline));
    if (n > 0) return true;
    if (n == 0) {
      err = ETIMEDOUT;
      return false;
    }
    if (errno != EINTR) {
      err = errno;
      return false;
    }
  }
}

}  // namespace

UnixSocketTransport::UnixSocketTransport(std::string path, ClientLimits limits)
    : path_(std::move(path)), limits_(limits) {}

Reply UnixSocketTransport::call(const std::string& request) {
  const auto deadline = Clock::now() + limits_.timeout;
  const auto unreachable = [&](int err) {
    return Reply{{},
                 fmt::format("cannot reach anylbd at {}: {}{}", path_, errnoText(err), hint(err))};
  };
  const auto timedOut = [&](const char* what) {
    return Reply{
        {},
        fmt::format("anylbd at {} did not {} within {} ms", path_, what, limits_.timeout.count())};
  };

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.empty() || path_.size() >= sizeof(addr.sun_path)) {
    return Reply{{},
                 fmt::format("cannot reach anylbd at {}: the socket path must be 1..{} bytes",
                             path_, sizeof(addr.sun_path) - 1)};
  }
  std::memcpy(addr.sun_path, path_.data(), path_.size());

  const Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return unreachable(errno);

  // A Unix connect completes at once or fails with EAGAIN while the listener's backlog is full;
  // retry that until the deadline.
  for (;;) {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) break;
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EINPROGRESS) {
      if (remainingMs(deadline) == 0) return timedOut("accept the connection");
      if (err == EINPROGRESS) {
        int werr = 0;
        if (!waitFor(fd.get(), POLLOUT, deadline, werr)) {
          return werr == ETIMEDOUT ? timedOut("accept the connection") : unreachable(werr);
        }
        int soErr = 0;
        socklen_t len = sizeof(soErr);
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &soErr, &len);
        if (soErr != 0) return unreachable(soErr);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    return unreachable(err);
  }

  const std::string out = request + "\n";
  size_t sent = 0;
  while (sent < out.size()) {
    const auto n = ::send(fd.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN) {
      int werr = 0;
      if (!waitFor(fd.get(), POLLOUT, deadline, werr)) {
        return werr == ETIMEDOUT
                   ? timedOut("take the request")
                   : Reply{{}, fmt::format("sending to anylbd at {}: {}", path_, errnoText(werr))};
      }
      continue;
    }
    if (err == EPIPE || err == ECONNRESET) {
      return Reply{
          {}, fmt::format("anylbd at {} closed the connection before taking the request", path_)};
    }
    return Reply{{}, fmt::format("sending to anylbd at {}: {}", path_, errnoText(err))};
  }

  std::string in;
  char buf[65536];
  for (;;) {
    if (Clock::now() >= deadline) return timedOut("answer");
    const auto n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      const auto from = in.size();  // search only the new bytes: answers can be megabytes
      in.append(buf, static_cast<size_t>(n));
      const auto nl = in.find('\n', from);
      const auto lineLength = nl == std::string::npos ? in.size() : nl;
      if (lineLength > limits_.maxAnswerBytes) {
        return Reply{{},
                     fmt::format("the answer of anylbd at {} exceeds {} bytes", path_,
                                 limits_.maxAnswerBytes)};
      }
      if (nl != std::string::npos) {
        in.resize(nl);
        return Reply{std::move(in), {}};
      }
      continue;
    }
    if (n == 0) {
      return Reply{{},
                   in.empty() ? fmt::format("anylbd at {} closed the connection without "
                                            "answering",
                                            path_)
                              : fmt::format("anylbd at {} closed the connection in the "
                                            "middle of its answer ({} bytes, no newline)",
                                            path_, in.size())};
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN) {
      int werr = 0;
      if (!waitFor(fd.get(), POLLIN, deadline, werr)) {
        return werr == ETIMEDOUT
                   ? timedOut("answer")
                   : Reply{{},
                           fmt::format("reading from anylbd at {}: {}", path_, errnoText(werr))};
      }
      continue;
    }
    return Reply{{}, fmt::format("reading from anylbd at {}: {}", path_, errnoText(err))};
  }
}

}  // namespace anylb::ctl
