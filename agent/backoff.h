// Capped, jittered exponential backoff for reconnecting to the controller.
//
// The n-th delay (n from 0) is drawn uniformly from [0, ceiling(n)] ("full
// jitter"), where ceiling(n) = min(cap, initial * multiplier^n). Full jitter
// spreads a fleet of agents reconnecting to a restarted controller over the
// whole window instead of having them arrive in waves.
//
// The cap is `max`, except just after a session that was welcomed ended
// (ResetAfterSession): that is usually a controller restart, so for
// `restart_window` the cap is `restart_max`, and an agent is back within
// restart_max of the controller serving again. A controller down for longer
// sees the windows grow on from there up to `max`. Reset() (a stream that
// delivered something, but no Welcome) starts again from `initial` without
// the lower cap.
#pragma once

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gantry::agent {

struct BackoffOptions {
  absl::Duration initial = absl::Milliseconds(200);
  absl::Duration max = absl::Seconds(10);
  double multiplier = 2.0;
  // The cap for restart_window after a welcomed session ended.
  absl::Duration restart_max = absl::Milliseconds(800);
  absl::Duration restart_window = absl::Seconds(60);
};

class Backoff {
 public:
  // Returns a number uniformly distributed in [0, 1].
  using RandomSource = std::function<double()>;
  using Clock = std::function<absl::Time()>;

  // A null `random` uses a generator seeded from std::random_device; a null
  // `clock` is absl::Now.
  explicit Backoff(BackoffOptions options, RandomSource random = nullptr, Clock clock = nullptr);

  // The delay before the next attempt; each call widens the window until it
  // reaches the cap.
  absl::Duration Next();

  // Back to the initial window, capped by `max`.
  void Reset();
  // Back to the initial window, capped by `restart_max` for `restart_window`
  // from now: a welcomed session has just ended.
  void ResetAfterSession();

  // Calls to Next() since construction or the last reset.
  int attempts() const { return attempts_; }

 private:
  BackoffOptions options_;
  RandomSource random_;
  Clock clock_;
  absl::Duration ceiling_;
  absl::Time restart_until_ = absl::InfinitePast();
  int attempts_ = 0;
};

}  // namespace gantry::agent
