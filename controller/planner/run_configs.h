// The config revisions one run's rows need: the run's own, and those of
// stage attempts re-run under another revision (--with-current-config).
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include "absl/status/statusor.h"
#include "common/config/model.h"
#include "controller/planner/cold_store.h"
#include "controller/store/write_batch.h"

namespace gantry {

struct RunConfigs {
  std::shared_ptr<const config::Config> run;
  std::map<int64_t, std::shared_ptr<const config::Config>> stages;  // by revision
};

absl::StatusOr<RunConfigs> LoadRunConfigs(ColdStore& cold, const store::RunRows& rows);

}  // namespace gantry
