#include "controller/clock.h"

namespace gantry {

void RealClock::Every(absl::Duration period, std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  threads_.emplace_back([this, period, fn = std::move(fn)] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, absl::ToChronoMilliseconds(period), [this] { return stopping_; })) {
      lock.unlock();
      fn();
      lock.lock();
    }
  });
}

void RealClock::StopTicks() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

}  // namespace gantry
