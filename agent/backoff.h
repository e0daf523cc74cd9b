// Capped, jittered exponential backoff for reconnecting to the controller.
//
// The n-th delay (n from 0) is drawn uniformly from [0, ceiling(n)] ("full
// jitter"), where ceiling(n) = min(max, initial * multiplier^n). Full jitter
// spreads a fleet of agents reconnecting to a restarted controller over the
// whole window instead of having them arrive in waves. Reset() is called on
// the first message received over a new stream, so a healthy connection that
// later drops starts again from `initial`.
#pragma once

#include <functional>

#include "absl/time/time.h"

namespace gantry::agent {

struct BackoffOptions {
  absl::Duration initial = absl::Milliseconds(200);
  absl::Duration max = absl::Seconds(10);
  double multiplier = 2.0;
};

class Backoff {
 public:
  // Returns a number uniformly distributed in [0, 1].
  using RandomSource = std::function<double()>;

  // A null `random` uses a generator seeded from std::random_device.
  explicit Backoff(BackoffOptions options, RandomSource random = nullptr);

  // The delay before the next attempt; each call widens the window until it
  // reaches options.max.
  absl::Duration Next();

  // Back to the initial window.
  void Reset();

  // Calls to Next() since construction or the last Reset().
  int attempts() const { return attempts_; }

 private:
  BackoffOptions options_;
  RandomSource random_;
  absl::Duration ceiling_;
  int attempts_ = 0;
};

}  // namespace gantry::agent
