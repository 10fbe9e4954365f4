#include "health/health_checker.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "common/process.h"

namespace anylb::health {
namespace {

// Interval and timeout as clock durations. The config allows 0.05 s and up; the floor only
// keeps a hand-built check of 0 s from spinning the control thread.
Clock::Duration toDuration(config::Seconds s) {
  const auto d = std::chrono::duration_cast<Clock::Duration>(s);
  return std::max<Clock::Duration>(d, std::chrono::milliseconds(1));
}

// "cmd --flag" → {"cmd", "--flag"}: split at white space, no shell, no quoting.
std::vector<std::string> splitCommand(const std::string& command) {
  std::vector<std::string> argv;
  std::istringstream in(command);
  for (std::string word; in >> word;) argv.push_back(std::move(word));
  return argv;
}

}  // namespace

struct HealthChecker::Entry {
  Target target;
  State state = State::kUnknown;
  uint32_t okRun = 0;    // consecutive successes
  uint32_t failRun = 0;  // consecutive failures
  uint64_t probeId = 0;  // the probe in flight; 0: none
  RsProbeStats stats;
  Clock::TimePoint due;  // when the next probe is meant to start
  // While idle: starts the next probe. While a probe is in flight: its deadline guard.
  std::unique_ptr<Clock::Timer> timer;
};

HealthChecker::HealthChecker(boost::asio::io_context& io, std::unique_ptr<Prober> prober)
    : HealthChecker(io, std::move(prober), Options{}) {}

HealthChecker::HealthChecker(boost::asio::io_context& io, std::unique_ptr<Prober> prober,
                             Options options)
    : io_(io),
      prober_(std::move(prober)),
      ownClock_(options.clock != nullptr ? nullptr : std::make_unique<AsioClock>(io)),
      clock_(options.clock != nullptr ? options.clock : ownClock_.get()),
      notifier_(io, options.notifyKillAfter),
      rng_(options.seed != 0 ? options.seed : std::random_device{}()),
      self_(std::make_shared<HealthChecker*>(this)) {
  lagMs_.reserve(kLagWindow);
}

HealthChecker::~HealthChecker() = default;

double HealthChecker::uniform() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

void HealthChecker::setTargets(std::vector<Target> targets) {
  std::unordered_map<uint32_t, std::unique_ptr<Entry>> next;
  next.reserve(targets.size());
  for (auto& t : targets) {
    const uint32_t id = t.rsId;
    if (next.contains(id)) {
      spdlog::error("health: RS id {} given twice ({}); the second is ignored", id, t.service);
      continue;
    }
    auto it = entries_.find(id);
    if (it != entries_.end() && it->second->target.address == t.address &&
        it->second->target.port == t.port) {
      std::unique_ptr<Entry> e = std::move(it->second);
      entries_.erase(it);
      const bool sameCheckAsBefore = sameCheck(e->target.check, t.check);
      e->target = std::move(t);
      if (!sameCheckAsBefore) restart(*e);
      next.emplace(id, std::move(e));
    } else {
      auto e = std::make_unique<Entry>();
      e->target = std::move(t);
      restart(*e);
      next.emplace(id, std::move(e));
    }
  }
  // What is left in entries_ was removed: destroying it cancels its timers, and its probe in
  // flight finds no entry (or another probe id) when it ends. omega: an up RS that leaves runs
  // its notify_down (keepalived does so when a reload removes a real server).
  auto removed = std::move(entries_);
  entries_ = std::move(next);
  for (const auto& [id, e] : removed) {
    if (e->state == State::kUp && e->target.check.omega) runOmega(e->target);
  }
}

void HealthChecker::restart(Entry& e) {
  e.probeId = 0;
  // A weight a misc_dynamic script set belongs to that check; the dataplane hears of the
  // reset through the state change or the next probe of the new check.
  e.stats.dynamicWeight.reset();
  e.okRun = 0;
  e.failRun = 0;
  e.timer.reset();
  if (e.target.check.kind == config::CheckKind::kNone) {
    if (e.state != State::kUp) {
      const State from = e.state;
      e.state = State::kUp;
      ++counters_.changes;
      postChange(e, from, "no health check");
    }
    return;
  }
  // The first probe comes after a random part of one interval, so that a thousand targets
  // loaded at once do not probe in step.
  const auto interval = toDuration(e.target.check.interval);
  schedule(e, std::chrono::duration_cast<Clock::Duration>(interval * uniform()));
}

void HealthChecker::schedule(Entry& e, Clock::Duration delay) {
  e.due = clock_->now() + delay;
  e.timer = clock_->startTimer(e.due, [this, id = e.target.rsId] { startProbe(id); });
}

void HealthChecker::startProbe(uint32_t rsId) {
  const auto it = entries_.find(rsId);
  if (it == entries_.end()) return;
  Entry& e = *it->second;
  const auto now = clock_->now();
  const double lag = std::max(0.0, std::chrono::duration<double, std::milli>(now - e.due).count());
  if (lagMs_.size() < kLagWindow) {
    lagMs_.push_back(lag);
  } else {
    lagMs_[lagNext_] = lag;
  }
  lagNext_ = (lagNext_ + 1) % kLagWindow;
  counters_.lagMaxMs = std::max(counters_.lagMaxMs, lag);
  ++counters_.probes;
  ++e.stats.probes;

  const uint64_t probeId = nextProbeId_++;
  e.probeId = probeId;
  const auto timeout = toDuration(e.target.check.timeout);
  e.timer = clock_->startTimer(now + timeout + kTimeoutGrace, [this, rsId, probeId] {
    onResult(rsId, probeId, ProbeResult{false, "timeout"});
  });
  // Nothing touches `e` after start(): a misbehaving Prober that answers from inside start()
  // may have changed or removed it through onChange -> setTargets.
  prober_->start(e.target, timeout,
                 [weak = std::weak_ptr(self_), rsId, probeId](const ProbeResult& r) {
                   if (const auto self = weak.lock()) (*self)->onResult(rsId, probeId, r);
                 });
}

void HealthChecker::onResult(uint32_t rsId, uint64_t probeId, const ProbeResult& result) {
  const auto it = entries_.find(rsId);
  if (it == entries_.end() || it->second->probeId != probeId) return;  // removed or restarted
  Entry& e = *it->second;
  e.probeId = 0;
  const auto& check = e.target.check;
  State to = e.state;
  bool weightChanged = false;
  if (result.ok) {
    e.failRun = 0;
    if (++e.okRun >= check.rise) to = State::kUp;
    // A passing probe that names no weight gives the configured one back.
    weightChanged = result.weight != e.stats.dynamicWeight;
    e.stats.dynamicWeight = result.weight;
  } else {
    ++counters_.failures;
    ++e.stats.failures;
    e.okRun = 0;
    if (++e.failRun >= check.fall) to = State::kDown;
  }
  // The next probe is `interval` (± jitter) after this one ended: never two in flight. While a
  // failure run is on its way to `fall`, retry_interval (keepalived's delay_before_retry).
  const bool retrying = !result.ok && to != State::kDown && check.retryInterval.count() > 0;
  const double jitter = std::clamp(check.jitter, 0.0, 0.5);
  const double factor = 1.0 + jitter * (2.0 * uniform() - 1.0);
  schedule(e, std::chrono::duration_cast<Clock::Duration>(
                  toDuration(retrying ? check.retryInterval : check.interval) * factor));
  // Last: the callbacks may end in setTargets(), which may destroy `e`.
  if (to != e.state) {
    changeState(e, to, result.reason);
  } else if (weightChanged && onWeightChange_) {
    spdlog::info("health: service {} RS {} weight {} ({})", e.target.service,
                 Endpoint{e.target.address, e.target.port}.str(),
                 result.weight ? std::to_string(*result.weight) : "as configured", result.reason);
    const auto cb = onWeightChange_;
    cb(rsId);
  }
}

void HealthChecker::changeState(Entry& e, State to, const std::string& reason) {
  const Change change{e.target.rsId, e.state, to, reason};
  e.state = to;
  ++counters_.changes;
  const Target target = e.target;  // `e` may not outlive emit()
  emit(change, target);
}

void HealthChecker::postChange(const Entry& e, State from, const std::string& reason) {
  boost::asio::post(
      io_, [weak = std::weak_ptr(self_), change = Change{e.target.rsId, from, e.state, reason},
            target = e.target] {
        const auto self = weak.lock();
        if (!self) return;
        // Removed before the io loop came round: the daemon no longer asks about it.
        if (!(*self)->entries_.contains(change.rsId)) return;
        (*self)->emit(change, target);
      });
}

void HealthChecker::emit(const Change& change, const Target& target) {
  const std::string rs = Endpoint{target.address, target.port}.str();
  const auto level = change.to == State::kUp ? spdlog::level::info : spdlog::level::warn;
  spdlog::log(level, "health: service {} RS {} {} -> {} ({})", target.service, rs,
              toString(change.from), toString(change.to), change.reason);
  if (!target.notify.empty()) {
    std::vector<std::string> argv = splitCommand(target.notify);
    argv.insert(argv.end(), {rs, toString(change.from), toString(change.to)});
    notifier_.run(std::move(argv));
  }
  // notify_up / notify_down: as written (quotes honoured), then the service and ADDR:PORT.
  const std::string* perRs = change.to == State::kUp     ? &target.notifyUp
                             : change.to == State::kDown ? &target.notifyDown
                                                         : nullptr;
  if (perRs != nullptr && !perRs->empty()) {
    if (auto argv = splitCommandLine(*perRs)) {
      argv->insert(argv->end(), {target.service, rs});
      notifier_.run(std::move(*argv));
    }
  }
  if (onChange_) {
    const auto cb = onChange_;  // the callback may replace itself
    cb(change);
  }
}

void HealthChecker::runOmega(const Target& target) {
  const std::string rs = Endpoint{target.address, target.port}.str();
  spdlog::info("health: service {} RS {} leaves while up (omega): notify_down", target.service, rs);
  if (!target.notify.empty()) {
    std::vector<std::string> argv = splitCommand(target.notify);
    argv.insert(argv.end(), {rs, toString(State::kUp), toString(State::kDown)});
    notifier_.run(std::move(argv));
  }
  if (!target.notifyDown.empty()) {
    if (auto argv = splitCommandLine(target.notifyDown)) {
      argv->insert(argv->end(), {target.service, rs});
      notifier_.run(std::move(*argv));
    }
  }
}

void HealthChecker::stopOmega() {
  // In rsId order: the commands start in a stable order (tests, logs).
  std::vector<const Target*> up;
  for (const auto& [id, e] : entries_) {
    if (e->state == State::kUp && e->target.check.omega) up.push_back(&e->target);
  }
  std::sort(up.begin(), up.end(),
            [](const Target* a, const Target* b) { return a->rsId < b->rsId; });
  for (const Target* t : up) runOmega(*t);
}

HealthChecker::RsProbeStats HealthChecker::rsStats(uint32_t rsId) const {
  const auto it = entries_.find(rsId);
  return it == entries_.end() ? RsProbeStats{} : it->second->stats;
}

State HealthChecker::state(uint32_t rsId) const {
  const auto it = entries_.find(rsId);
  return it == entries_.end() ? State::kUnknown : it->second->state;
}

HealthChecker::Stats HealthChecker::stats() const {
  Stats s = counters_;
  s.notifyFailures = notifier_.stats().failed;
  if (lagMs_.empty()) return s;
  std::vector<double> lags = lagMs_;
  const auto rank = [&](double p) {
    const auto n = static_cast<double>(lags.size());
    const auto idx = static_cast<size_t>(std::max(0.0, std::ceil(p * n) - 1.0));
    std::nth_element(lags.begin(), lags.begin() + static_cast<std::ptrdiff_t>(idx), lags.end());
    return lags[idx];
  };
  s.lagP50Ms = rank(0.50);
  s.lagP99Ms = rank(0.99);
  return s;
}

}  // namespace anylb::health
