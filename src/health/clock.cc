#include "health/clock.h"

#include <boost/asio/steady_timer.hpp>

namespace anylb::health {
namespace {

// The handler holds only a weak reference: destroying the AsioTimer destroys the steady_timer,
// and a handler that was already queued (expired just before the cancel) finds it gone.
class AsioTimer final : public Clock::Timer {
 public:
  AsioTimer(boost::asio::io_context& io, Clock::TimePoint when, std::function<void()> fn)
      : timer_(std::make_shared<boost::asio::steady_timer>(io, when)) {
    timer_->async_wait(
        [weak = std::weak_ptr(timer_), fn = std::move(fn)](const boost::system::error_code& ec) {
          if (!ec && !weak.expired()) fn();
        });
  }
  AsioTimer(const AsioTimer&) = delete;
  AsioTimer& operator=(const AsioTimer&) = delete;
  AsioTimer(AsioTimer&&) = delete;
  AsioTimer& operator=(AsioTimer&&) = delete;
  ~AsioTimer() override = default;  // ~steady_timer cancels the wait

 private:
  std::shared_ptr<boost::asio::steady_timer> timer_;
};

}  // namespace

std::unique_ptr<Clock::Timer> AsioClock::startTimer(TimePoint when, std::function<void()> fn) {
  return std::make_unique<AsioTimer>(io_, when, std::move(fn));
}

}  // namespace anylb::health
