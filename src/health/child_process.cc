#include "health/child_process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include <fmt/format.h>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, for posix_spawnp

namespace anylb::health {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// While no pidfd can be had (kernel < 5.3, or a seccomp filter), reaping falls back to polling
// at this period.
constexpr auto kReapPollPeriod = std::chrono::milliseconds(20);

// One running command. Handlers hold a shared_ptr to it until it is reaped.
class Child : public std::enable_shared_from_this<Child> {
 public:
  Child(asio::io_context& io, pid_t pid, const SpawnOptions& options,
        std::function<void(const ChildExit&)> done)
      : pid_(pid),
        options_(options),
        done_(std::move(done)),
        exitFd_(io),
        killTimer_(io),
        pollTimer_(io) {}

  void watch() {
    killTimer_.expires_after(options_.deadline);
    killTimer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec || self->reaped_) return;
      self->timedOut_ = true;
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
    // Peek first (WNOWAIT): while the child is an unreaped zombie its pid, and so its process
    // group id, cannot be reused, so killing the group here cannot hit a stranger.
    siginfo_t info{};
    const int peek = waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    if (peek == 0 && info.si_pid == 0) return false;  // still running
    if (peek < 0 && errno == EINTR) return false;
    if (peek == 0 && options_.killGroupOnExit) kill(-pid_, SIGKILL);
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) return false;
    reaped_ = true;
    killTimer_.cancel();
    error_code ignored;
    exitFd_.close(ignored);
    ChildExit exit;
    if (r < 0) {
      exit.known = false;  // another part of the process reaped it, or SIGCHLD is ignored
    } else if (timedOut_) {
      exit.timedOut = true;
    } else if (WIFSIGNALED(status)) {
      exit.signal = WTERMSIG(status);
    } else if (WIFEXITED(status)) {
      exit.code = WEXITSTATUS(status);
    }
    const auto done = std::move(done_);
    done(exit);
    return true;
  }

  pid_t pid_;
  SpawnOptions options_;
  std::function<void(const ChildExit&)> done_;
  asio::posix::stream_descriptor exitFd_;
  asio::steady_timer killTimer_;
  asio::steady_timer pollTimer_;
  bool timedOut_ = false;
  bool reaped_ = false;
};

}  // namespace

std::string ChildExit::str(std::chrono::milliseconds deadline) const {
  if (!known) return "exit status unknown";
  if (timedOut) return fmt::format("killed after {} ms", deadline.count());
  if (signal != 0) return fmt::format("killed by signal {}", signal);
  return fmt::format("exited with status {}", code);
}

// posix_spawn is vfork-like: the parent waits only until the child has exec'd (or failed to).
int spawnChild(asio::io_context& io, const std::vector<std::string>& argv,
               const SpawnOptions& options, std::function<void(const ChildExit&)> done) {
  if (argv.empty()) return EINVAL;
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (options.quiet) {
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  }
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
  if (rc != 0) return rc;
  std::make_shared<Child>(io, pid, options, std::move(done))->watch();
  return 0;
}

}  // namespace anylb::health
