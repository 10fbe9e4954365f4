// The control API's transport (docs/control-api.md): a Unix stream socket, mode 0600, one JSON
// request per line, one JSON answer per line. Runs on the control thread's io_context and can
// never stall it: a request line is at most 64 KiB, must arrive within 2 s of its first byte
// (an idle connection is closed after 10 s), an answer that cannot be written within 2 s closes
// the connection, and at most 16 connections are served at once (the next ones get `busy`).
#pragma once

#include <sys/types.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace anylb {

// An error answer: code (docs/control-api.md), message, and optional details (`errors`).
struct ApiError {
  std::string code;
  std::string message;
  nlohmann::json errors = nullptr;
};

class ControlServer {
 public:
  // Returns the `result` of a request, or throws ApiError.
  using Handler = std::function<nlohmann::json(const std::string& cmd, const nlohmann::json& req)>;

  struct Limits {
    size_t maxLine = 64 * 1024;
    size_t maxClients = 16;
    uint32_t requestMs = 2000;  // from the first byte of a request to its newline
    uint32_t idleMs = 10000;    // between requests
    uint32_t writeMs = 2000;
  };

  ControlServer(boost::asio::io_context& io, std::string path, Handler handler);
  ControlServer(boost::asio::io_context& io, std::string path, Handler handler, Limits limits);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds the socket and starts accepting. Returns "" or why not. A socket already at the
  // path is replaced only when stale (nobody listens); a live one (another anylbd) or a file
  // that is not a socket is left alone and start() fails.
  std::string start();
  void stop();

  struct Counters {
    uint64_t connections = 0;
    uint64_t requests = 0;
    uint64_t errors = 0;  // answers with ok = false
    uint64_t busy = 0;
    uint64_t timeouts = 0;
  };
  [[nodiscard]] const Counters& counters() const { return counters_; }
  [[nodiscard]] size_t clients() const { return clients_; }

 private:
  class Conn;
  void accept();
  nlohmann::json answer(const std::string& line);

  std::string path_;
  Handler handler_;
  Limits limits_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  size_t clients_ = 0;
  ino_t boundInode_ = 0;  // of the socket file start() bound; stop() removes only that one
  Counters counters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Answers as the protocol writes them.
nlohmann::json okAnswer(nlohmann::json result);
nlohmann::json errorAnswer(const ApiError& e);
// An answer as one line of the protocol (compact JSON and "\n"); never throws.
std::string answerLine(const nlohmann::json& answer);

}  // namespace anylb
