// Which commit each git material of a new run builds (docs/materials.md):
//
// 1. a revision the trigger named (`--revision src=SHA`, or the commit the
//    poller saw) is taken as given (already checked against the mirror);
// 2. fan-in: when an upstream run this run takes has a git material with the
//    same URL and branch, its revision is taken, so the pipeline never mixes
//    two commits of one repository;
// 3. otherwise the newest commit the poller has seen on the branch ("" when
//    it has seen none yet: the agent then checks out the branch's tip).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/config/model.h"
#include "controller/planner/cold_store.h"
#include "controller/store/records.h"

namespace gantry {

// The newest commits the material poller has fetched. Read on the strand:
// implementations answer from memory and never block on git.
class GitHeads {
 public:
  virtual ~GitHeads() = default;
  // "" when the branch has not been fetched yet.
  virtual std::string Head(const std::string& url, const std::string& branch) const = 0;
};

// Fills the revision of every git material in `materials` (records in the
// pipeline's material order, dependency ones already resolved) that has
// none yet. `heads` may be null (no poller: rule 3 gives "").
absl::Status FillGitRevisions(ColdStore* cold, const GitHeads* heads,
                              const config::Pipeline& pipeline,
                              std::vector<store::MaterialRevisionRecord>* materials);

// The fan-in rule for the poller: true when `pipeline` also gets the
// repository of its git material `material` through one of its upstream
// pipelines (a dependency material whose pipeline, in `config`, has a git
// material with the same URL and branch). Such a pipeline is triggered by
// that upstream, never by the poll, so it waits for consistent revisions.
bool SharedThroughUpstream(const config::Config& config, const config::Pipeline& pipeline,
                           const config::Material& material);

}  // namespace gantry
