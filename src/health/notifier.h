// Runs the `notify` command of an RS state change without blocking the control thread: spawn
// (no shell), reap asynchronously (pidfd readiness on the io_context), kill the command's
// process group after a deadline. Failures are counted and each is logged once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace anylb::health {

class Notifier {
 public:
  // At most this many commands run at once; more wait in a queue of at most kMaxQueued (beyond
  // that a command is dropped and counted as failed). A flapping fleet cannot fork-bomb the node.
  static constexpr size_t kMaxRunning = 32;
  static constexpr size_t kMaxQueued = 1024;

  struct Stats {
    uint64_t started = 0;  // commands spawned
    uint64_t failed = 0;   // could not start, non-zero exit, signalled, killed, or dropped
    size_t running = 0;
    size_t queued = 0;
  };

  explicit Notifier(boost::asio::io_context& io,
                    std::chrono::milliseconds killAfter = std::chrono::seconds(5));
  // Commands still running are left to finish; their handlers keep what they need alive and
  // still reap them while the io_context runs.
  ~Notifier() = default;
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;
  Notifier(Notifier&&) = delete;
  Notifier& operator=(Notifier&&) = delete;

  // argv[0] is looked up in PATH. Call on the io thread; returns at once.
  void run(std::vector<std::string> argv);
  [[nodiscard]] Stats stats() const;

  struct Shared;  // state shared with the handlers of running commands

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace anylb::health
