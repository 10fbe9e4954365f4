#include "daemon/control_server.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

namespace anylb {

namespace asio = boost::asio;
using Socket = asio::local::stream_protocol::socket;

nlohmann::json okAnswer(nlohmann::json result) {
  return {{"ok", true}, {"result", std::move(result)}};
}

nlohmann::json errorAnswer(const ApiError& e) {
  nlohmann::json err = {{"code", e.code}, {"message", e.message}};
  if (!e.errors.is_null()) err["errors"] = e.errors;
  return {{"ok", false}, {"error", std::move(err)}};
}

std::string answerLine(const nlohmann::json& answer) {
  // Invalid UTF-8 in a string (an echoed request, a name) is replaced, not thrown: dump()
  // would otherwise throw on the control thread.
  return answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// One client. Reads a line (bounded in size and time), answers it, reads the next.
class ControlServer::Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(ControlServer& server, Socket socket)
      : server_(server),
        alive_(server.alive_),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()) {}

  void start() { read(); }

  // Answers one request with `answer` and closes (busy).
  void refuse(const nlohmann::json& answer) {
    closeAfterWrite_ = true;
    write(answerLine(answer));
  }

 private:
  bool serverAlive() const { return !alive_.expired(); }

  void arm(uint32_t ms) {
    timer_.expires_after(std::chrono::milliseconds(ms));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;  // cancelled: the operation finished
      if (self->serverAlive()) ++self->server_.counters_.timeouts;
      boost::system::error_code ignored;
      self->socket_.close(ignored);
    });
  }

  void read() {
    // A request must arrive whole within requestMs of its first byte; between requests the
    // connection may idle for idleMs.
    if (!pending_.empty()) {
      if (!processLine()) return;
      if (pending_.empty()) {
        arm(limits().idleMs);
      } else if (!inRequest_) {
        inRequest_ = true;
        arm(limits().requestMs);
      }
    } else {
      arm(limits().idleMs);
    }
    socket_.async_read_some(asio::buffer(chunk_),
                            [self = shared_from_this()](const boost::system::error_code& ec,
                                                        size_t n) { self->onRead(ec, n); });
  }

  void onRead(const boost::system::error_code& ec, size_t n) {
    if (ec || !serverAlive()) return close();
    const bool wasEmpty = pending_.empty();
    pending_.append(chunk_.data(), n);
    if (wasEmpty && n > 0) {
      inRequest_ = true;
      arm(limits().requestMs);
    }
    if (pending_.find('\n') == std::string::npos && pending_.size() <= limits().maxLine) {
      socket_.async_read_some(asio::buffer(chunk_),
                              [self = shared_from_this()](const boost::system::error_code& e,
                                                          size_t m) { self->onRead(e, m); });
      return;
    }
    timer_.cancel();
    processLine();
  }

  // Answers the first complete line of pending_, if any. False when the connection ends.
  // Checks the size of an incomplete line too: one that arrived behind a complete line may
  // already be too long, and no further read would look at it.
  bool processLine() {
    const auto nl = pending_.find('\n');
    if ((nl == std::string::npos ? pending_.size() : nl) > limits().maxLine) {
      ++server_.counters_.errors;
      closeAfterWrite_ = true;
      write(
          answerLine(errorAnswer({"too_large", "request line longer than " +
                                                   std::to_string(limits().maxLine) + " bytes"})));
      return false;
    }
    if (nl == std::string::npos) return true;
    std::string line = pending_.substr(0, nl);
    pending_.erase(0, nl + 1);
    inRequest_ = false;
    write(answerLine(server_.answer(line)));
    return false;  // write() continues with read()
  }

  void write(std::string text) {
    out_ = std::move(text);
    arm(limits().writeMs);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                        self->timer_.cancel();
                        if (ec || self->closeAfterWrite_ || !self->serverAlive()) {
                          return self->close();
                        }
                        self->read();
                      });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    boost::system::error_code ignored;
    socket_.close(ignored);
    if (serverAlive() && server_.clients_ > 0) --server_.clients_;
  }

  [[nodiscard]] const Limits& limits() const { return server_.limits_; }

  ControlServer& server_;
  std::weak_ptr<bool> alive_;
  Socket socket_;
  asio::steady_timer timer_;
  std::array<char, 4096> chunk_{};
  std::string pending_;
  std::string out_;
  bool inRequest_ = false;
  bool closeAfterWrite_ = false;
  bool closed_ = false;
};

ControlServer::ControlServer(asio::io_context& io, std::string path, Handler handler)
    : ControlServer(io, std::move(path), std::move(handler), Limits{}) {}

ControlServer::ControlServer(asio::io_context& io, std::string path, Handler handler, Limits limits)
    : path_(std::move(path)), handler_(std::move(handler)), limits_(limits), acceptor_(io) {}

ControlServer::~ControlServer() {
  stop();
}

namespace {

// strerror() is not thread-safe; the category's message is.
std::string errnoText(int err) {
  return std::generic_category().message(err);
}

// Makes `path` free for bind() when what is there is a socket nobody listens on (a killed
// anylbd's). Returns "" when the path is free, else why it is not and must not be taken: a
// live socket (another anylbd answers there: removing it would cut that node's control API
// while it keeps forwarding) or anything that is not a socket (never ours to delete).
std::string clearStaleSocket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? std::string() : std::string("cannot inspect: ") + errnoText(errno);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return "exists and is not a socket; refusing to replace it (remove it or choose another "
           "control.socket)";
  }
  // Probe: a live listener accepts (or, with a full backlog, would make us wait: EAGAIN on a
  // non-blocking socket). Only ECONNREFUSED proves nobody listens.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("probe socket: ") + errnoText(errno);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());  // start() checked the length
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  if (err == ECONNREFUSED) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return std::string("cannot remove the stale socket: ") + errnoText(errno);
    }
    spdlog::info("control socket {}: removed a stale socket (nobody listened on it)", path);
    return {};
  }
  if (err == 0 || err == EAGAIN || err == EINPROGRESS) {
    return "another process (a running anylbd?) is listening on it; refusing to take it over";
  }
  return std::string("exists and cannot be probed (") + errnoText(err) +
         "); refusing to replace it";
}

}  // namespace

std::string ControlServer::start() {
  // sun_path holds 107 bytes and a NUL; asio's endpoint would throw on a longer path.
  if (path_.size() >= sizeof(sockaddr_un::sun_path)) {
    return "control socket " + path_ + ": path longer than " +
           std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes";
  }
  std::error_code fec;
  const auto dir = std::filesystem::path(path_).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, fec);
  // Two anylbd starting at once must not both find the same stale socket and then each remove
  // what the other bound: the check, the removal and the bind run under a lock on the
  // directory (held for a few microseconds; an instance without it still meets the probe).
  // The wait is bounded: a directory someone else keeps locked costs at most 1 s, then the
  // probe alone decides.
  const int dirFd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  for (int i = 0; dirFd >= 0 && i < 100 && ::flock(dirFd, LOCK_EX | LOCK_NB) != 0; ++i) {
    ::usleep(10000);
  }
  struct DirLock {
    int fd;
    ~DirLock() {
      if (fd >= 0) ::close(fd);  // closing releases the flock
    }
  } dirLock{dirFd};
  if (auto err = clearStaleSocket(path_); !err.empty()) {
    return "control socket " + path_ + ": " + err;
  }
  boost::system::error_code ec;
  acceptor_.open(asio::local::stream_protocol(), ec);
  if (!ec) acceptor_.bind(asio::local::stream_protocol::endpoint(path_), ec);
  if (!ec) chmod(path_.c_str(), 0600);  // the API controls the node: its owner only
  if (!ec) acceptor_.listen(64, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return "control socket " + path_ + ": " + ec.message();
  }
  struct stat st {};
  boundInode_ = ::stat(path_.c_str(), &st) == 0 ? st.st_ino : 0;
  accept();
  return {};
}

void ControlServer::stop() {
  if (!acceptor_.is_open()) return;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  // Only the socket this server bound: if someone replaced it meanwhile, theirs stays.
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == boundInode_) {
    ::unlink(path_.c_str());
  }
  *alive_ = false;
  alive_ = std::make_shared<bool>(true);  // open connections see the old one expire
  clients_ = 0;  // those connections no longer count (their close() sees alive_ expired)
}

void ControlServer::accept() {
  acceptor_.async_accept([this, alive = std::weak_ptr<bool>(alive_)](
                             const boost::system::error_code& ec, Socket socket) {
    if (alive.expired() || !acceptor_.is_open()) return;
    if (!ec) {
      ++counters_.connections;
      auto conn = std::make_shared<Conn>(*this, std::move(socket));
      ++clients_;
      if (clients_ > limits_.maxClients) {
        ++counters_.busy;
        ++counters_.errors;
        conn->refuse(errorAnswer({"busy", "too many control connections (at most " +
                                              std::to_string(limits_.maxClients) + ")"}));
      } else {
        conn->start();
      }
    }
    accept();
  });
}

nlohmann::json ControlServer::answer(const std::string& line) {
  ++counters_.requests;
  try {
    const auto req = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (req.is_discarded()) throw ApiError{"bad_request", "malformed JSON"};
    if (!req.is_object()) throw ApiError{"bad_request", "a request is a JSON object"};
    const auto cmd = req.find("cmd");
    if (cmd == req.end() || !cmd->is_string()) {
      throw ApiError{"bad_request", "missing \"cmd\" (a string)"};
    }
    return okAnswer(handler_(cmd->get<std::string>(), req));
  } catch (const ApiError& e) {
    ++counters_.errors;
    return errorAnswer(e);
  } catch (const std::exception& e) {
    // A handler bug or a JSON type error slipped through: answer, log, keep serving.
    ++counters_.errors;
    spdlog::error("control: request failed: {}", e.what());
    return errorAnswer({"internal", e.what()});
  }
}

}  // namespace anylb
