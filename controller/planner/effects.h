// What the planner's decisions mean outside the database, to be acted on
// once the batch that holds them has committed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controller/matching.h"

namespace gantry {

// A running attempt its agent must stop.
struct CancelRequest {
  int64_t attempt_id = 0;
  std::string agent_id;
  std::string reason;
};

// A job attempt newly waiting for an agent.
struct QueuedJob {
  int64_t job_run_id = 0;
  JobRequirements requirements;
  std::string locator;  // P/N/S/C/J, for logs
};

struct Effects {
  std::vector<QueuedJob> queued;       // newly scheduled
  std::vector<int64_t> unqueued;       // scheduled attempts that ended unassigned
  std::vector<CancelRequest> cancels;  // held attempts whose agents must stop
  std::vector<int64_t> released;       // held attempts that ended: their agents are free
  std::vector<std::string> events;     // one log line each
};

}  // namespace gantry
