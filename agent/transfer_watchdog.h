// The job's timeouts while artifacts move (a fetch task, the upload after
// the tasks): exec tasks enforce them in their output loop, a transfer has
// no such loop, so a thread of its own watches it.
//
//   deadline  the job's max_duration ends (job start + max_duration)
//   stall     the job's `timeout`: no bytes moved for that long (a blocked
//             controller, or retries of one that is gone)
//
// Either one calls `fire` once with its reason; the runner then cancels the
// job, which interrupts the transfer.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gantry::agent {

class TransferWatchdog {
 public:
  // InfiniteFuture / ZeroDuration: that limit is off; with both off no
  // thread is started.
  TransferWatchdog(absl::Time deadline, std::string deadline_reason, absl::Duration stall,
                   std::string stall_reason, std::function<void(const std::string&)> fire)
      : deadline_(deadline),
        deadline_reason_(std::move(deadline_reason)),
        stall_(stall),
        stall_reason_(std::move(stall_reason)),
        fire_(std::move(fire)),
        last_progress_ns_(absl::GetCurrentTimeNanos()) {
    if (deadline_ != absl::InfiniteFuture() || stall_ > absl::ZeroDuration()) {
      thread_ = std::thread([this] {
        // Outside the lock: fire_ cancels the job, which takes the runner's.
        if (const std::string* reason = Watch()) fire_(*reason);
      });
    }
  }
  ~TransferWatchdog() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }
  TransferWatchdog(const TransferWatchdog&) = delete;
  TransferWatchdog& operator=(const TransferWatchdog&) = delete;

  // Bytes moved: the stall clock starts again. Any thread; cheap.
  void Progress() {
    last_progress_ns_.store(absl::GetCurrentTimeNanos(), std::memory_order_relaxed);
  }

 private:
  // The reason of the limit that was reached; null when stopped first.
  const std::string* Watch() {
    absl::MutexLock lock(&mu_);
    while (!stopping_) {
      const absl::Time last = absl::FromUnixNanos(last_progress_ns_.load());
      absl::Time wake = deadline_;
      if (stall_ > absl::ZeroDuration()) wake = std::min(wake, last + stall_);
      if (mu_.AwaitWithDeadline(absl::Condition(&stopping_), wake)) return nullptr;
      const absl::Time now = absl::Now();
      if (now >= deadline_) return &deadline_reason_;
      if (stall_ > absl::ZeroDuration() &&
          now - absl::FromUnixNanos(last_progress_ns_.load()) >= stall_) {
        return &stall_reason_;
      }
    }
    return nullptr;
  }

  const absl::Time deadline_;
  const std::string deadline_reason_;
  const absl::Duration stall_;
  const std::string stall_reason_;
  const std::function<void(const std::string&)> fire_;
  std::atomic<int64_t> last_progress_ns_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace gantry::agent
