// The client side of the control API's framing: one request line out, one answer line back.
//
// Transport is what command.cc needs; UnixSocketTransport speaks to anylbd's Unix stream
// socket. Tests use it against an in-process server, or fake the Transport.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace anylb::ctl {

struct Reply {
  std::string line;   // the answer, without its '\n'; valid when error is empty
  std::string error;  // one line saying what failed, naming the socket
  [[nodiscard]] bool ok() const { return error.empty(); }
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Sends `request` (one JSON object, no newline) and returns the first answer line.
  virtual Reply call(const std::string& request) = 0;
};

struct ClientLimits {
  std::chrono::milliseconds timeout{5000};   // connect, write and read together
  size_t maxAnswerBytes = size_t{64} << 20;  // a `sessions` answer of 10,000 sessions is ~2 MB
};

class UnixSocketTransport : public Transport {
 public:
  explicit UnixSocketTransport(std::string path, ClientLimits limits = {});
  // Blocks the calling thread for at most limits.timeout; never raises SIGPIPE.
  Reply call(const std::string& request) override;

 private:
  std::string path_;
  ClientLimits limits_;
};

}  // namespace anylb::ctl
