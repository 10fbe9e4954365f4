// Per-RS health state machines: schedules probes (interval, jitter, timeout), counts
// consecutive results against rise/fall, reports state changes (log line, notify command,
// callback). Everything runs on one io_context thread, the daemon's control thread; nothing
// here blocks. Time comes from an injected Clock and probes from an injected Prober, so unit
// tests run in simulated time against a fake network.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "health/clock.h"
#include "health/notifier.h"
#include "health/prober.h"
#include "health/target.h"

namespace anylb::health {

struct Change {
  uint32_t rsId = 0;
  State from = State::kUnknown;
  State to = State::kUnknown;
  std::string reason;  // the deciding probe's reason ("status 200", "connection refused", ...)
};

class HealthChecker {
 public:
  struct Options {
    Clock* clock = nullptr;  // not owned; null: an AsioClock on `io`
    uint64_t seed = 0;       // jitter randomness; 0: from std::random_device
    std::chrono::milliseconds notifyKillAfter = std::chrono::seconds(5);
  };

  HealthChecker(boost::asio::io_context& io, std::unique_ptr<Prober> prober);
  HealthChecker(boost::asio::io_context& io, std::unique_ptr<Prober> prober, Options options);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;
  HealthChecker(HealthChecker&&) = delete;
  HealthChecker& operator=(HealthChecker&&) = delete;

  // Replaces the target set; call on the io thread, at any time (config reload, mid-cycle).
  // - same rsId, address, port and check: keeps its state, counters, schedule and any probe in
  //   flight; service, source and notify are updated in place (source applies from the next
  //   probe).
  // - same rsId and address/port, another check: keeps its state (a reload does not blip an up
  //   RS), restarts counting and scheduling with the new check; a probe in flight is ignored.
  // - a new rsId, or an rsId whose address or port changed: starts kUnknown.
  // - a removed rsId: stops; a probe in flight is ignored when it ends. If it was up and its
  //   check has omega, its notify_down (and notify, "up down") runs, as at stopOmega().
  // A target with check kind none is kUp at once and never probed; its change to kUp is
  // reported from the io loop after setTargets() returns, never from inside it.
  void setTargets(std::vector<Target> targets);

  // Called on the io thread once per state change, after the log line and the notify command
  // were started. It may call setTargets().
  void onChange(std::function<void(const Change&)> cb) { onChange_ = std::move(cb); }

  [[nodiscard]] State state(uint32_t rsId) const;  // kUnknown if not a target

  // keepalived's omega at shutdown: runs notify_down (and notify, "up down") of every target
  // that is up and whose check has omega. The states stay; call once, before destroying the
  // checker. The commands are started here (Notifier: at most kMaxRunning at once, the rest
  // queued on the io_context).
  void stopOmega();

  // Called on the io thread when a probe that did not change the state changed the weight
  // the check asks for (misc_dynamic); a state change reports it through onChange. It may
  // call setTargets().
  void onWeightChange(std::function<void(uint32_t rsId)> cb) { onWeightChange_ = std::move(cb); }

  struct RsProbeStats {
    uint64_t probes = 0;    // probes started for this RS since it became a target
    uint64_t failures = 0;  // of which failed
    // The weight the last passing probe asked for (misc_dynamic); nullopt: the configured one.
    std::optional<uint32_t> dynamicWeight;
  };
  [[nodiscard]] RsProbeStats rsStats(uint32_t rsId) const;  // zeros if not a target

  struct Stats {
    uint64_t probes = 0;    // probes started
    uint64_t failures = 0;  // probes that failed
    uint64_t changes = 0;   // state changes
    // Probe scheduling lag (actual start - scheduled start), over the last kLagWindow probes;
    // the max is since construction.
    double lagP50Ms = 0;
    double lagP99Ms = 0;
    double lagMaxMs = 0;
    uint64_t notifyFailures = 0;  // notify commands that could not start, failed or timed out
  };
  [[nodiscard]] Stats stats() const;

  static constexpr size_t kLagWindow = 16384;
  // A probe whose Prober has not answered this long after its timeout counts as failed
  // ("timeout") and its late answer is ignored. The Prober's own deadline normally ends it
  // first, with a more precise reason.
  static constexpr std::chrono::milliseconds kTimeoutGrace{100};

 private:
  struct Entry;

  void schedule(Entry& e, Clock::Duration delay);
  void startProbe(uint32_t rsId);
  void onResult(uint32_t rsId, uint64_t probeId, const ProbeResult& result);
  void changeState(Entry& e, State to, const std::string& reason);
  void postChange(const Entry& e, State from, const std::string& reason);
  void emit(const Change& change, const Target& target);
  void runOmega(const Target& target);  // notify_down of an up target that leaves
  void restart(Entry& e);
  double uniform();  // [0, 1)

  boost::asio::io_context& io_;
  std::unique_ptr<Prober> prober_;
  std::unique_ptr<Clock> ownClock_;
  Clock* clock_;
  Notifier notifier_;
  std::mt19937_64 rng_;
  std::function<void(const Change&)> onChange_;
  std::function<void(uint32_t)> onWeightChange_;
  std::unordered_map<uint32_t, std::unique_ptr<Entry>> entries_;
  uint64_t nextProbeId_ = 1;
  // Prober callbacks and posted work hold a weak_ptr to this: they do nothing once the checker
  // is gone.
  std::shared_ptr<HealthChecker*> self_;

  Stats counters_;
  std::vector<double> lagMs_;  // ring of the last kLagWindow lags
  size_t lagNext_ = 0;
};

}  // namespace anylb::health
