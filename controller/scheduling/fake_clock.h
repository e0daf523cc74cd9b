// A Clock for tests: time moves only when the test advances it, and ticks
// due by then run on the test's thread.
#pragma once

#include <functional>
#include <mutex>
#include <vector>

#include "controller/clock.h"

namespace gantry {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'800'000'000)) : now_(start) {}
  absl::Time Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void Every(absl::Duration period, std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    ticks_.push_back({period, now_ + period, std::move(fn)});
  }
  void StopTicks() override {
    std::lock_guard<std::mutex> lock(mu_);
    ticks_.clear();
  }
  // Moves time forward by `d`, running each tick as often as it fell due.
  void Advance(absl::Duration d) {
    absl::Time end;
    {
      std::lock_guard<std::mutex> lock(mu_);
      end = now_ + d;
    }
    while (true) {
      std::function<void()> due;
      {
        std::lock_guard<std::mutex> lock(mu_);
        Tick* next = nullptr;
        for (auto& t : ticks_) {
          if (t.next <= end && (next == nullptr || t.next < next->next)) next = &t;
        }
        if (next == nullptr) {
          now_ = end;
          return;
        }
        now_ = next->next;
        next->next += next->period;
        due = next->fn;
      }
      due();
    }
  }

 private:
  struct Tick {
    absl::Duration period;
    absl::Time next;
    std::function<void()> fn;
  };
  mutable std::mutex mu_;
  absl::Time now_;
  std::vector<Tick> ticks_;
};

}  // namespace gantry
