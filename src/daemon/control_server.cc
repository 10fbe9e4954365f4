#include "daemon/control_server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
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
    write(answer.dump() + "\n");
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
      write(errorAnswer({"too_large",
                         "request line longer than " + std::to_string(limits().maxLine) + " bytes"})
                .dump() +
            "\n");
      return false;
    }
    if (nl == std::string::npos) return true;
    std::string line = pending_.substr(0, nl);
    pending_.erase(0, nl + 1);
    inRequest_ = false;
    write(server_.answer(line).dump() + "\n");
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

std::string ControlServer::start() {
  // sun_path holds 107 bytes and a NUL; asio's endpoint would throw on a longer path.
  if (path_.size() >= sizeof(sockaddr_un::sun_path)) {
    return "control socket " + path_ + ": path longer than " +
           std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes";
  }
  std::error_code fec;
  const auto dir = std::filesystem::path(path_).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, fec);
  std::filesystem::remove(path_, fec);  // a stale socket of an earlier run
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
  accept();
  return {};
}

void ControlServer::stop() {
  if (!acceptor_.is_open()) return;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  std::error_code fec;
  std::filesystem::remove(path_, fec);
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
