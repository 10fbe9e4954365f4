// Time as the health checker sees it: now() and one-shot timers. AsioClock is the real one (a
// steady_timer per timer on the control thread's io_context); unit tests inject a simulated
// clock so that minutes of probing run in microseconds.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>

namespace anylb::health {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;

  // A pending one-shot timer. Destroying it cancels it: after the destructor returns, its
  // function never runs.
  class Timer {
   public:
    Timer() = default;
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    Timer(Timer&&) = delete;
    Timer& operator=(Timer&&) = delete;
    virtual ~Timer() = default;
  };

  Clock() = default;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;
  Clock(Clock&&) = delete;
  Clock& operator=(Clock&&) = delete;
  virtual ~Clock() = default;

  [[nodiscard]] virtual TimePoint now() const = 0;
  // Runs `fn` once at or after `when` (at once if `when` has passed), on the io thread, never
  // from inside startTimer().
  [[nodiscard]] virtual std::unique_ptr<Timer> startTimer(TimePoint when,
                                                          std::function<void()> fn) = 0;
};

class AsioClock final : public Clock {
 public:
  explicit AsioClock(boost::asio::io_context& io) : io_(io) {}
  [[nodiscard]] TimePoint now() const override { return std::chrono::steady_clock::now(); }
  [[nodiscard]] std::unique_ptr<Timer> startTimer(TimePoint when,
                                                  std::function<void()> fn) override;

 private:
  boost::asio::io_context& io_;
};

}  // namespace anylb::health
