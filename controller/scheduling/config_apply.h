// `gantry config apply`: parse and validate the files, and if they differ
// from the current revision store them as a new revision with its diff.
// Runs on the scheduler strand, so a new revision and the runs planned
// after it are ordered.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/model.h"
#include "controller/store/db.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

struct AppliedConfig {
  v1::ApplyConfigResponse response;
  // The parsed config; null when the files equal the current revision.
  std::shared_ptr<const config::Config> config;
};

absl::StatusOr<AppliedConfig> ApplyConfigFiles(store::Db& db,
                                               const std::vector<v1::ConfigFile>& files,
                                               const std::string& author);

}  // namespace gantry
