#include "agent/backoff.h"

#include <algorithm>
#include <memory>
#include <random>

namespace gantry::agent {

Backoff::Backoff(BackoffOptions options, RandomSource random)
    : options_(options),
      random_(std::move(random)),
      ceiling_(std::min(options.initial, options.max)) {
  if (!random_) {
    auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
    random_ = [engine] {
      return std::uniform_real_distribution<double>(0.0, 1.0)(*engine);
    };
  }
}

absl::Duration Backoff::Next() {
  double r = std::clamp(random_(), 0.0, 1.0);
  absl::Duration delay = ceiling_ * r;
  ceiling_ = std::min(options_.max, ceiling_ * options_.multiplier);
  ++attempts_;
  return delay;
}

void Backoff::Reset() {
  ceiling_ = std::min(options_.initial, options_.max);
  attempts_ = 0;
}

}  // namespace gantry::agent
