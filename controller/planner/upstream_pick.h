// `pipeline trigger P --revision build=12`: the operator names the upstream
// run a dependency material takes instead of the newest passed one. Kept out
// of ResolveMaterials so the checks (and their messages) live in one place.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/config/model.h"
#include "controller/planner/cold_store.h"
#include "controller/store/records.h"

namespace gantry {

// Fills rec's upstream_counter and upstream_stage_counter from `value`, which
// is `N` or `<upstream pipeline>/N`. The run must exist (NOT_FOUND) and its
// material stage must have passed in some attempt, the newest passed attempt
// being taken (FAILED_PRECONDITION); a malformed value is INVALID_ARGUMENT.
absl::Status PickUpstreamRun(ColdStore* cold, const config::Material& material,
                             const std::string& value, store::MaterialRevisionRecord* rec);

}  // namespace gantry
