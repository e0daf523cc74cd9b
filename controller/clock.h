// Time for the scheduling code, injected so tests can drive it: scheduling
// code asks its Clock for the time and for periodic ticks, and never calls
// absl::Now() or sleeps itself.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gantry {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // Calls `fn` every `period` until StopTicks. The real clock calls it from
  // a thread of its own; a test clock from whoever advances time.
  virtual void Every(absl::Duration period, std::function<void()> fn) = 0;
  // Stops every tick; returns once none runs any more.
  virtual void StopTicks() = 0;
};

class RealClock final : public Clock {
 public:
  ~RealClock() override { StopTicks(); }
  absl::Time Now() const override { return absl::Now(); }
  void Every(absl::Duration period, std::function<void()> fn) override;
  void StopTicks() override;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace gantry
