// keepalived's MISC_CHECK: runs check.miscPath (split into words without a shell; write
// "sh -c '...'" to get one) and judges by its exit status: 0 = up, 1 = down; 2..255 = down, or
// with check.miscDynamic up with weight status - 2 (keepalived's misc_dynamic). The script's
// stdin, stdout and stderr are /dev/null; it runs in a process group of its own, which is
// SIGKILLed at the probe's timeout and when the script exits (stray background children).
// Never blocks the io thread: spawn, then its exit arrives as pidfd readiness.
#pragma once

#include <boost/asio/io_context.hpp>

#include "health/prober.h"

namespace anylb::health {

class MiscProber final : public Prober {
 public:
  explicit MiscProber(boost::asio::io_context& io) : io_(io) {}

  // Reasons: "exit 0", "exit 1", "exit 7 (weight 5)", "timeout after 500 ms", "killed by
  // signal 9", "cannot start: No such file or directory".
  void start(const Target& target, std::chrono::nanoseconds timeout, Callback done) override;

 private:
  boost::asio::io_context& io_;
};

}  // namespace anylb::health
