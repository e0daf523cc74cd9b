// Text for a pipeline's pause and lock (v1::PipelineControls): the lines
// `pipeline show` prints under its header, the LOCK cell of `pipeline
// list`, and the answer of pause, unpause and unlock.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gantry/v1/operator.pb.h"

namespace gantry::cli {

// "by alice at 2024-01-02 15:04:05: hotfix only"; "" when not paused.
std::string PausedText(const gantry::v1::PipelineControls& c, absl::TimeZone tz);

// "lockOnFailure, held by build/5", "unlockWhenFinished, unlocked"; "-"
// when the pipeline has no lock.
std::string LockText(const gantry::v1::PipelineControls& c);

// "up/5/test/1 (triggered by up/5/test/1)"; "" when none waits.
std::string WaitingText(const gantry::v1::PipelineControls& c);

// `pipeline show`'s lines, aligned with its header: "paused:", "lock:" and
// "waiting trigger:" (only those that apply).
std::vector<std::string> ControlsLines(const gantry::v1::PipelineControls& c, absl::TimeZone tz);

}  // namespace gantry::cli
