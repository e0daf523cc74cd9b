// The Assign message an agent gets for a job attempt: tasks, artifacts,
// timeouts and the merged variables. A pure function of the run's rows, its
// config and the current environments: no SQL, no clock.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/model.h"
#include "controller/planner/run_model.h"
#include "gantry/v1/agent.pb.h"

namespace gantry {

struct AssignmentInput {
  const RunEntry* run = nullptr;
  int64_t attempt = 0;
  // Today's config: which environment the pipeline is in now.
  const config::Config* current = nullptr;
  std::string controller_url;  // GANTRY_CONTROLLER_URL
};

// INTERNAL when the run's own config no longer has the job (it cannot run).
absl::StatusOr<v1::Assign> BuildAssignment(const AssignmentInput& in);

// Whether the attempt has fetch tasks, whose exact source attempt is filled
// in by the caller (it needs the database).
bool HasFetchTasks(const v1::Assign& assign);

}  // namespace gantry
