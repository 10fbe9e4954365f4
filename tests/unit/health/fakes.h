// Simulated time and a scripted network for the health checker's unit tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "health/clock.h"
#include "health/prober.h"

namespace anylb::health::testing {

// Timers fire only inside advance(), in time order, each with now() set to its due time.
class FakeClock final : public Clock {
 public:
  [[nodiscard]] TimePoint now() const override { return now_; }

  [[nodiscard]] std::unique_ptr<Timer> startTimer(TimePoint when,
                                                  std::function<void()> fn) override {
    const Key key{when, nextSeq_++};
    pending_.emplace(key, std::move(fn));
    return std::make_unique<FakeTimer>(*this, key);
  }

  void advance(Duration d) {
    const TimePoint end = now_ + d;
    while (!pending_.empty() && pending_.begin()->first.first <= end) {
      auto node = pending_.extract(pending_.begin());
      now_ = std::max(now_, node.key().first);
      node.mapped()();
    }
    now_ = end;
  }

  [[nodiscard]] size_t pendingTimers() const { return pending_.size(); }

 private:
  using Key = std::pair<TimePoint, uint64_t>;

  class FakeTimer final : public Timer {
   public:
    FakeTimer(FakeClock& clock, Key key) : clock_(clock), key_(std::move(key)) {}
    FakeTimer(const FakeTimer&) = delete;
    FakeTimer& operator=(const FakeTimer&) = delete;
    FakeTimer(FakeTimer&&) = delete;
    FakeTimer& operator=(FakeTimer&&) = delete;
    ~FakeTimer() override { clock_.pending_.erase(key_); }

   private:
    FakeClock& clock_;
    Key key_;
  };

  TimePoint now_{std::chrono::hours(1)};
  uint64_t nextSeq_ = 0;
  std::map<Key, std::function<void()>> pending_;
};

// Records every probe. With a responder set, answers each probe `latency` after it started
// (through the clock, so never from inside start()); a responder returning nullopt leaves the
// probe unanswered, like a black-holed SYN. Without one, tests answer probes by hand.
class FakeProber final : public Prober {
 public:
  using Responder = std::function<std::optional<ProbeResult>(const Target&)>;

  struct Probe {
    Target target;
    std::chrono::nanoseconds timeout{};
    Clock::TimePoint startedAt;
    Callback done;
  };

  explicit FakeProber(FakeClock& clock) : clock_(clock) {}

  void start(const Target& target, std::chrono::nanoseconds timeout, Callback done) override {
    probes.push_back(Probe{target, timeout, clock_.now(), done});
    std::optional<ProbeResult> r;
    if (responder) r = responder(target);
    if (!r) {
      unanswered_.push_back(probes.size() - 1);
      return;
    }
    answers_.push_back(clock_.startTimer(clock_.now() + latency,
                                         [done, r = *r]() mutable { done(std::move(r)); }));
  }

  // Answers the oldest probe the responder left unanswered (its deadline may have passed).
  void answer(bool ok, std::string reason) { answer(ProbeResult{ok, std::move(reason)}); }
  void answer(ProbeResult result) {
    const Callback done = probes.at(unanswered_.at(0)).done;
    unanswered_.pop_front();
    done(std::move(result));
  }
  [[nodiscard]] size_t unanswered() const { return unanswered_.size(); }

  Responder responder;
  Clock::Duration latency{};
  std::deque<Probe> probes;

 private:
  FakeClock& clock_;
  std::deque<size_t> unanswered_;  // indexes into probes
  std::vector<std::unique_ptr<Clock::Timer>> answers_;
};

}  // namespace anylb::health::testing
