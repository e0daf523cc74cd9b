// What retention keeps (docs/operations.md, "Retention"), from the
// controller's --retain-* flags. A finished run's artifacts and console log
// are removed when no rule keeps the run:
//
//   - it is among the newest `keep_runs` runs of its pipeline, however old;
//   - it finished less than `keep_days` days ago;
//   - it is one of the newest `keep_deploys` deploys of an environment (the
//     version there now and those a rollback may go back to), or a run one
//     of those took as a pipeline material, at any depth (where a deploy
//     fetches its artifacts from);
//   - it, or a run that took it as a material, is not finished.
#pragma once

#include "absl/time/time.h"

namespace gantry {

struct RetentionPolicy {
  int keep_runs = 50;                           // 0: the rule keeps nothing
  int keep_days = 30;                           // 0: the rule keeps nothing
  int keep_deploys = 5;                         // per environment
  absl::Duration interval = absl::Minutes(10);  // between passes
  // Rows deleted in one transaction: a pass never holds locks or the disk
  // for long, and a large run is emptied over many short transactions.
  int batch_rows = 256;

  // Both age rules off would remove every finished run's files: that is
  // read as "retention off" instead.
  bool enabled() const { return keep_runs > 0 || keep_days > 0; }
};

}  // namespace gantry
