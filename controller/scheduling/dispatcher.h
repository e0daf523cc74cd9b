// The queue of scheduled job attempts and who may take them: pairs queued
// jobs, oldest first, with idle matching agents, and says why the others
// wait. Strand-only, no SQL and no sending: the scheduler turns pairings
// into assignments inside its batch.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "controller/planner/effects.h"
#include "controller/scheduling/agent_registry.h"

namespace gantry {

class Dispatcher {
 public:
  struct Pairing {
    AgentSession* agent;
    QueuedJob job;
  };

  void Enqueue(QueuedJob job);
  void Remove(int64_t attempt) { queue_.erase(attempt); }
  void Clear() { queue_.clear(); }
  size_t size() const { return queue_.size(); }
  bool Contains(int64_t attempt) const { return queue_.count(attempt) != 0; }

  // Up to `max` pairings of queued jobs (oldest first) with idle agents,
  // each agent at most once.
  std::vector<Pairing> Pair(AgentRegistry& agents, size_t max) const;

  // Why each queued job waits, for the jobs whose reason changed.
  std::vector<std::pair<int64_t, std::string>> WaitingReasons(const AgentRegistry& agents);

  // Queued `run_instances: all` copies whose agent is gone, or has been
  // offline or disabled for longer than `grace` at `now`, with the reason
  // each fails.
  std::vector<std::pair<int64_t, std::string>> Stranded(AgentRegistry& agents, absl::Time now,
                                                        absl::Duration grace) const;

 private:
  struct Entry {
    QueuedJob job;
    std::string reason;  // as last reported
  };
  std::map<int64_t, Entry> queue_;  // by attempt id: oldest first
};

}  // namespace gantry
