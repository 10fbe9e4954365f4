#include "health/notifier.h"

#include <deque>
#include <system_error>

#include <spdlog/spdlog.h>

#include "common/process.h"
#include "health/child_process.h"

namespace anylb::health {

namespace asio = boost::asio;

struct Notifier::Shared {
  Shared(asio::io_context& i, std::chrono::milliseconds k) : io(i), killAfter(k) {}
  asio::io_context& io;
  std::chrono::milliseconds killAfter;
  Stats stats;
  std::deque<std::vector<std::string>> queue;
};

namespace {

void startNext(const std::shared_ptr<Notifier::Shared>& shared);

void spawn(const std::shared_ptr<Notifier::Shared>& shared, const std::vector<std::string>& argv) {
  std::string command = joinArgs(argv);
  SpawnOptions options;
  options.deadline = shared->killAfter;
  ++shared->stats.started;
  const int rc = spawnChild(shared->io, argv, options, [shared, command](const ChildExit& exit) {
    if (!exit.known) {
      spdlog::debug("notify `{}`: exit status unknown", command);
    } else if (exit.timedOut || exit.signal != 0 || exit.code != 0) {
      ++shared->stats.failed;
      spdlog::warn("notify `{}` failed: {}", command, exit.str(shared->killAfter));
    }
    --shared->stats.running;
    startNext(shared);
  });
  if (rc != 0) {
    ++shared->stats.failed;
    spdlog::warn("notify `{}` failed: cannot start: {}", command,
                 std::error_code(rc, std::generic_category()).message());
    return;
  }
  ++shared->stats.running;
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
