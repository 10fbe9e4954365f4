#include "health/misc_prober.h"

#include <fmt/format.h>

#include <system_error>

#include <boost/asio/post.hpp>

#include "common/process.h"
#include "health/child_process.h"

namespace anylb::health {

namespace {

ProbeResult judge(const ChildExit& exit, const config::HealthCheck& check,
                  std::chrono::milliseconds deadline) {
  if (!exit.known) return {false, "exit status unknown"};
  if (exit.timedOut) return {false, fmt::format("timeout after {} ms", deadline.count())};
  if (exit.signal != 0) return {false, fmt::format("killed by signal {}", exit.signal)};
  if (exit.code == 0) return {true, "exit 0"};
  if (exit.code >= 2 && check.miscDynamic) {
    const auto weight = static_cast<uint32_t>(exit.code - 2);
    return {true, fmt::format("exit {} (weight {})", exit.code, weight), weight};
  }
  return {false, fmt::format("exit {}", exit.code)};
}

}  // namespace

void MiscProber::start(const Target& target, std::chrono::nanoseconds timeout, Callback done) {
  auto fail = [&](std::string reason) {
    boost::asio::post(io_, [done = std::move(done), reason = std::move(reason)] {
      done(ProbeResult{false, reason});
    });
  };
  const auto argv = splitCommandLine(target.check.miscPath);
  if (!argv || argv->empty()) {
    fail("misc_path is not a command");  // the config loader refuses these
    return;
  }
  SpawnOptions options;
  options.quiet = true;
  options.killGroupOnExit = true;
  options.deadline = std::max(std::chrono::milliseconds(1),
                              std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  auto cb = std::make_shared<Callback>(std::move(done));
  const int rc = spawnChild(io_, *argv, options,
                            [cb, check = target.check, deadline = options.deadline](
                                const ChildExit& exit) { (*cb)(judge(exit, check, deadline)); });
  if (rc != 0) {
    done = std::move(*cb);
    fail("cannot start: " + std::error_code(rc, std::generic_category()).message());
  }
}

}  // namespace anylb::health
