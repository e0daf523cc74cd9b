// Rows of pipeline timers (tx_timers.cc, migration 0017).
#pragma once

#include <cstdint>
#include <string>

namespace gantry::store {

// The last tick of `pipeline`'s timer `spec` taken into account: when it
// last fired, or when the timer was first seen.
struct TimerStateRecord {
  std::string pipeline;
  std::string spec;
  int64_t last_tick_ms = 0;  // Unix milliseconds
};

}  // namespace gantry::store
