// Runs one probe of a real prober on a fresh io_context and records what came back, when,
// and whether the probe left anything behind in the loop.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "health/prober.h"

namespace anylb::health::testing {

using Steady = std::chrono::steady_clock;

// Scheduling slack on a loaded 2-core machine under ASan; a hang would take far longer.
constexpr auto kProbeMargin = std::chrono::milliseconds(300);

struct Outcome {
  std::optional<ProbeResult> result;
  Steady::duration took{};
  bool loopDrained = false;  // nothing of the probe left in the io_context afterwards
};

// `P` is constructed from the io_context; it is destroyed before the loop runs (a probe must
// outlive its prober).
template <typename P>
Outcome runProbe(const Target& t, std::chrono::nanoseconds timeout) {
  boost::asio::io_context io;
  Outcome o;
  const auto start = Steady::now();
  {
    P prober(io);
    prober.start(t, timeout, [&](ProbeResult r) {
      EXPECT_FALSE(o.result) << "called back twice";
      o.result = std::move(r);
      o.took = Steady::now() - start;
    });
    EXPECT_FALSE(o.result) << "called back from inside start()";
  }
  io.run_for(std::chrono::duration_cast<Steady::duration>(timeout) + std::chrono::seconds(3));
  o.loopDrained = io.stopped();
  return o;
}

inline void expectOutcome(const Outcome& o, bool ok, const std::string& reason,
                          Steady::duration within) {
  ASSERT_TRUE(o.result) << "no result";
  EXPECT_EQ(o.result->ok, ok) << o.result->reason;
  EXPECT_EQ(o.result->reason, reason);
  EXPECT_LE(o.took, within);
  EXPECT_TRUE(o.loopDrained);
}

}  // namespace anylb::health::testing
