// The one way tests wait for something another thread or process makes
// true: poll a condition against a deadline.
#pragma once

#include <algorithm>
#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gantry {

// Calls `condition` every `poll` until it returns true or `deadline` has
// passed; returns its last result. The last pause is cut short so that the
// last check comes at the deadline, not up to `poll` before it.
inline bool WaitFor(const std::function<bool()>& condition, absl::Duration deadline,
                    absl::Duration poll = absl::Milliseconds(10)) {
  const absl::Time end = absl::Now() + deadline;
  while (!condition()) {
    const absl::Time now = absl::Now();
    if (now >= end) return false;
    // Polling against a deadline, not synchronisation by sleep: the test
    // waits for the condition, and the pause only spaces out the checks.
    // This is the only place in the tests that sleeps.
    absl::SleepFor(std::min(poll, end - now));
  }
  return true;
}

}  // namespace gantry
