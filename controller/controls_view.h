// The operator API's view of a pipeline's pause and lock
// (v1::PipelineControls), from its pipelines row and today's config; used
// by `pipeline list` and `show` (read service) and by the answers of
// pause, unpause and unlock (scheduler).
#pragma once

#include <string>

#include "common/config/model.h"
#include "controller/store/records.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

// `row` may be null (a pipeline never paused or locked). A lock counts only
// while today's config makes the pipeline lockable.
void BuildControlsView(const std::string& pipeline, const store::PipelineRecord* row,
                       const config::Config& config, v1::PipelineControls* out);

// "none", "lockOnFailure", "unlockWhenFinished": the config's spelling.
std::string LockBehaviorName(config::LockBehavior behavior);

}  // namespace gantry
