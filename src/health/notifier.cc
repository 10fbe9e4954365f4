#include "health/notifier.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <deque>
#include <system_error>

#include <spdlog/spdlog.h>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/process.h"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, for posix_spawnp

namespace anylb::health {

namespace asio = boost::asio;
using boost::system::error_code;

struct Notifier::Shared {
  Shared(asio::io_context& i, std::chrono::milliseconds k) : io(i), killAfter(k) {}
  asio::io_context& io;
  std::chrono::milliseconds killAfter;
  Stats stats;
  std::deque<std::vector<std::string>> queue;
};

namespace {

// While no pidfd can be had (kernel < 5.3, or a seccomp filter), reaping falls back to polling
// waitpid(WNOHANG) at this period.
constexpr auto kReapPollPeriod = std::chrono::milliseconds(20);

void startNext(const std::shared_ptr<Notifier::Shared>& shared);

// One running command. Handlers hold a shared_ptr to it until it is reaped.
class Child : public std::enable_shared_from_this<Child> {
 public:
  Child(std::shared_ptr<Notifier::Shared> shared, pid_t pid, std::string command)
      : shared_(std::move(shared)),
        pid_(pid),
        command_(std::move(command)),
        exitFd_(shared_->io),
        killTimer_(shared_->io),
        pollTimer_(shared_->io) {}

  void watch() {
    killTimer_.expires_after(shared_->killAfter);
    killTimer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec || self->reaped_) return;
      self->killed_ = true;
      kill(-self->pid_, SIGKILL);  // its process group: a script's own children go too
      kill(self->pid_, SIGKILL);
    });
    // glibc 2.36's <sys/pidfd.h> lacks C linkage for C++; the raw syscall has none to lack.
    const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0U));
    if (fd >= 0) {
      exitFd_.assign(fd);
      waitExit();
    } else {
      pollExit();
    }
  }

 private:
  void waitExit() {
    exitFd_.async_wait(asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this()](const error_code& ec) {
                         if (ec == asio::error::operation_aborted) return;
                         if (!self->tryReap()) self->waitExit();
                       });
  }

  void pollExit() {
    pollTimer_.expires_after(kReapPollPeriod);
    pollTimer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      if (!self->tryReap()) self->pollExit();
    });
  }

  // True once the child is gone (reaped here, or by someone else: ECHILD).
  bool tryReap() {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) return false;
    reaped_ = true;
    killTimer_.cancel();
    error_code ignored;
    exitFd_.close(ignored);
    std::string failure;
    if (r < 0) {
      // Another part of the process reaped it (or SIGCHLD is ignored): the outcome is unknown.
      spdlog::debug("notify `{}`: exit status unknown ({})", command_,
                    std::error_code(errno, std::generic_category()).message());
    } else if (killed_) {
      failure = fmt::format("killed after {} ms", shared_->killAfter.count());
    } else if (WIFSIGNALED(status)) {
      failure = fmt::format("killed by signal {}", WTERMSIG(status));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
      failure = fmt::format("exited with status {}", WEXITSTATUS(status));
    }
    if (!failure.empty()) {
      ++shared_->stats.failed;
      spdlog::warn("notify `{}` failed: {}", command_, failure);
    }
    --shared_->stats.running;
    startNext(shared_);
    return true;
  }

  std::shared_ptr<Notifier::Shared> shared_;
  pid_t pid_;
  std::string command_;
  asio::posix::stream_descriptor exitFd_;
  asio::steady_timer killTimer_;
  asio::steady_timer pollTimer_;
  bool killed_ = false;
  bool reaped_ = false;
};

// posix_spawn is vfork-like: the parent waits only until the child has exec'd (or failed to).
void spawn(const std::shared_ptr<Notifier::Shared>& shared, const std::vector<std::string>& argv) {
  const std::string command = joinArgs(argv);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // Nothing of the daemon's (probe sockets, gRPC channels, DPDK files) leaks into the command:
  // an inherited probe socket would keep that connection open until the command exits.
  posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
  // The daemon may block or handle signals for its own use; the command starts clean, in a
  // process group of its own so that the deadline can kill everything it started.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (const int sig :
       {SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD, SIGALRM}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  ++shared->stats.started;
  if (rc != 0) {
    ++shared->stats.failed;
    spdlog::warn("notify `{}` failed: cannot start: {}", command,
                 std::error_code(rc, std::generic_category()).message());
    return;
  }
  ++shared->stats.running;
  std::make_shared<Child>(shared, pid, command)->watch();
}

void startNext(const std::shared_ptr<Notifier::Shared>& shared) {
  while (!shared->queue.empty() && shared->stats.running < Notifier::kMaxRunning) {
    std::vector<std::string> argv = std::move(shared->queue.front());
    shared->queue.pop_front();
    spawn(shared, argv);
  }
  shared->stats.queued = shared->queue.size();
}

}  // namespace

Notifier::Notifier(asio::io_context& io, std::chrono::milliseconds killAfter)
    : shared_(std::make_shared<Shared>(io, killAfter)) {}

void Notifier::run(std::vector<std::string> argv) {
  if (argv.empty()) return;
  if (shared_->queue.size() >= kMaxQueued) {
    ++shared_->stats.failed;
    spdlog::warn("notify `{}` dropped: {} commands already queued", joinArgs(argv), kMaxQueued);
    return;
  }
  shared_->queue.push_back(std::move(argv));
  startNext(shared_);
}

Notifier::Stats Notifier::stats() const {
  return shared_->stats;
}

}  // namespace anylb::health
