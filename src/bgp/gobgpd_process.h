// gobgpd as a child of anylbd. It is started with PR_SET_PDEATHSIG = SIGKILL, so when anylbd
// dies, gobgpd dies with it, its BGP sessions drop, and the ToRs withdraw this node's routes
// at once instead of after the hold time. Control thread only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

namespace anylb::bgp {

class GobgpdProcess {
 public:
  GobgpdProcess(std::string binary, std::string socketPath, std::string logPath = {});
  ~GobgpdProcess();
  GobgpdProcess(const GobgpdProcess&) = delete;
  GobgpdProcess& operator=(const GobgpdProcess&) = delete;

  // Starts gobgpd and waits (at most `wait`) until its API socket exists. Returns "" or why not.
  std::string start(std::chrono::milliseconds wait = std::chrono::seconds(10));
  // True while the child runs; reaps it when it has exited (non-blocking).
  bool alive();
  void stop();  // SIGTERM, then SIGKILL after 2 s
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] const std::string& socketPath() const { return socket_; }
  [[nodiscard]] int lastExitStatus() const { return lastStatus_; }

 private:
  std::string binary_;
  std::string socket_;
  std::string log_;
  pid_t pid_ = -1;
  int lastStatus_ = 0;
};

}  // namespace anylb::bgp
