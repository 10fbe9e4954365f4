// Starting and reaping the external commands of the health checks (misc checks, notify
// commands) without blocking the control thread: spawn with no shell into a process group of
// its own, learn of its exit through a pidfd on the io_context, and kill the whole group at a
// deadline. Used by Notifier and MiscProber; everything runs on the io thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace anylb::health {

struct ChildExit {
  bool known = true;      // false: someone else reaped it (the status is lost)
  bool timedOut = false;  // killed by the deadline
  int signal = 0;         // killed by this signal (and not by the deadline)
  int code = -1;          // exit status when it exited
  [[nodiscard]] std::string str(std::chrono::milliseconds deadline) const;
};

struct SpawnOptions {
  // Where the command's stdout and stderr go: false = the daemon's (a notify command's output
  // lands in the daemon's log), true = /dev/null (a check's output is not read: a script that
  // prints megabytes costs nothing and cannot block on a full pipe).
  bool quiet = false;
  // Kill what is left of the command's process group when the command itself exits (a check
  // script's stray background children); the deadline kills the group in any case.
  bool killGroupOnExit = false;
  std::chrono::milliseconds deadline{5000};
};

// Spawns argv (argv[0] looked up in PATH) and calls `done` once on the io thread when it has
// exited and been reaped, at the latest shortly after `deadline` (the group is SIGKILLed then).
// Returns 0, or an errno value when it could not start (then `done` is never called).
int spawnChild(boost::asio::io_context& io, const std::vector<std::string>& argv,
               const SpawnOptions& options, std::function<void(const ChildExit&)> done);

}  // namespace anylb::health
