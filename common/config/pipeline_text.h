// One pipeline as stable text, for showing what differs between two config
// revisions of it (`gantry stage rerun --with-current-config`). Not YAML to
// apply: every setting that changes how a job runs, one per line, in the
// same order every time. Secure values show as ****.
#pragma once

#include <string>

#include "common/config/model.h"

namespace gantry::config {

// `environment` (may be null) is the one the pipeline is in: its variables
// reach the jobs too.
std::string PipelineText(const Pipeline& pipeline, const Environment* environment);

}  // namespace gantry::config
