#include "bgp/gobgpd_process.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <thread>
#include <vector>

namespace anylb::bgp {

GobgpdProcess::GobgpdProcess(std::string binary, std::string socketPath, std::string logPath)
    : binary_(std::move(binary)), socket_(std::move(socketPath)), log_(std::move(logPath)) {}

GobgpdProcess::~GobgpdProcess() {
  stop();
}

std::string GobgpdProcess::start(std::chrono::milliseconds wait) {
  if (alive()) return {};
  std::error_code ec;
  const auto dir = std::filesystem::path(socket_).parent_path();
  std::filesystem::create_directories(dir, ec);
  chmod(dir.c_str(), 0700);  // the API socket gives full control of the node's routes
  std::filesystem::remove(socket_, ec);
  const std::string api = "--api-hosts=unix://" + socket_;
  std::vector<std::string> args = {binary_, api, "--pprof-disable", "--log-plain",
                                   "--log-level=info"};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    // Child: die with the parent. If the parent is already gone, do not start at all.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    const int fd = log_.empty() ? open("/dev/null", O_WRONLY)
                                : open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    const int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, STDIN_FILENO);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!alive()) {
      return "gobgpd exited at start (status " + std::to_string(lastStatus_) + ")" +
             (lastStatus_ == 127 ? ": not installed?" : "");
    }
    if (std::filesystem::exists(socket_, ec)) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop();
  return "gobgpd did not open its API socket " + socket_ + " in time";
}

bool GobgpdProcess::alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  lastStatus_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  pid_ = -1;
  return false;
}

void GobgpdProcess::stop() {
  if (!alive()) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100 && alive(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (alive()) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
}

}  // namespace anylb::bgp
