// How many scheduled jobs wait, by why: counted by the dispatcher each time
// it explains the waits (every scheduler tick) and read by /metrics
// (gantry_queue_depth). Process-wide, like the artifact byte counts: the
// strand that counts and the HTTP thread that reads share no owner.
#pragma once

#include <atomic>
#include <cstdint>

namespace gantry {

struct QueueDepth {
  std::atomic<int64_t> no_matching_agent{0};  // no agent has what the job needs
  std::atomic<int64_t> agents_offline{0};     // every matching agent is offline
  std::atomic<int64_t> agents_busy{0};        // matching agents are busy
};

inline QueueDepth& GlobalQueueDepth() {
  static QueueDepth depth;
  return depth;
}

}  // namespace gantry
