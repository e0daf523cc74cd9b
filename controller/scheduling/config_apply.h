// `gantry config apply`: parse and validate the files, and if they differ
// from the current revision store them as a new revision with its diff.
// Runs on the scheduler strand, so a new revision and the runs planned
// after it are ordered. A config repository's commit (docs/config-repos.md)
// makes a revision the same way (ApplyRevision).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/model.h"
#include "controller/store/db.h"
#include "controller/store/records.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

struct AppliedConfig {
  v1::ApplyConfigResponse response;
  // The parsed config; null when the files equal the current revision.
  std::shared_ptr<const config::Config> config;
};

// The main files (with secure values encrypted), validated together with
// the config repos' files of the current revision, which the new revision
// keeps for the repos it still lists.
absl::StatusOr<AppliedConfig> ApplyConfigFiles(store::Db& db,
                                               const std::vector<v1::ConfigFile>& files,
                                               const std::string& author);

// What a new revision holds: every file in stored form (a config repo's as
// config-repo/<id>/<path>) and their parsed config.
struct NewRevision {
  std::vector<config::ConfigFile> files;
  config::Config config;
  std::string config_repo;  // made from this repo's commit ("" = config apply)
  std::string commit;
};
// From the current revision's files (stored form; none before the first);
// an error refuses the new revision.
using MakeRevision =
    std::function<absl::StatusOr<NewRevision>(const std::vector<config::ConfigFile>& current)>;

// Stores what `make` gives as a new revision in one transaction, unless it
// equals the current one (then `unchanged`).
absl::StatusOr<AppliedConfig> ApplyRevision(store::Db& db, const std::string& author,
                                            const MakeRevision& make);

}  // namespace gantry
