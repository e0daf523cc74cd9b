// Rules that span pipelines (and so files): dependency materials name an
// existing pipeline and stage, pipelines do not depend on each other in a
// cycle, fetch tasks reach their source through upstream materials, and
// environments name existing pipelines, each at most once.
#pragma once

#include "common/config/model.h"
#include "common/config/yaml_reader.h"

namespace gantry::config::internal {

// Checks `config` (all files merged; pipelines may be partly read when their
// files had errors) and reports every violation to `diagnostics`.
void ValidateReferences(const Config& config, Diagnostics* diagnostics);

}  // namespace gantry::config::internal
