#include "controller/planner/run_configs.h"

#include "common/status_macros.h"

namespace gantry {

absl::StatusOr<RunConfigs> LoadRunConfigs(ColdStore& cold, const store::RunRows& rows) {
  RunConfigs out;
  ASSIGN_OR_RETURN(out.run, cold.Config(rows.run.config_revision));
  for (const auto& s : rows.stages) {
    int64_t rev = s.config_revision;
    if (rev == 0 || rev == rows.run.config_revision || out.stages.count(rev) > 0) continue;
    ASSIGN_OR_RETURN(out.stages[rev], cold.Config(rev));
  }
  return out;
}

}  // namespace gantry
