#include "agent/backoff.h"

#include <algorithm>
#include <memory>
#include <random>

namespace gantry::agent {

Backoff::Backoff(BackoffOptions options, RandomSource random, Clock clock)
    : options_(options),
      random_(std::move(random)),
      clock_(std::move(clock)),
      ceiling_(std::min(options.initial, options.max)) {
  if (!random_) {
    auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
    random_ = [engine] {
      return std::uniform_real_distribution<double>(0.0, 1.0)(*engine);
    };
  }
  if (!clock_) clock_ = [] { return absl::Now(); };
}

absl::Duration Backoff::Next() {
  absl::Duration cap = options_.max;
  if (clock_() < restart_until_) cap = std::min(cap, options_.restart_max);
  ceiling_ = std::min(ceiling_, cap);
  double r = std::clamp(random_(), 0.0, 1.0);
  absl::Duration delay = ceiling_ * r;
  // Grows from the window just used, so leaving the restart window widens
  // it step by step instead of jumping to `max`.
  ceiling_ = std::min(options_.max, ceiling_ * options_.multiplier);
  ++attempts_;
  return delay;
}

void Backoff::Reset() {
  ceiling_ = std::min(options_.initial, options_.max);
  restart_until_ = absl::InfinitePast();
  attempts_ = 0;
}

void Backoff::ResetAfterSession() {
  Reset();
  restart_until_ = clock_() + options_.restart_window;
}

}  // namespace gantry::agent
