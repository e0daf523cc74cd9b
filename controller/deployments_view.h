// What is deployed where: environments' deploys read from the runs' rows
// (`gantry env list`, `gantry env history`). The one definition of "a deploy
// into E" lives here and in store/tx_deployments.cc: a passed attempt of the
// `deploys: true` stage of a pipeline of E, or, when the pipeline marks no
// stage, its run passing (docs/rollback.md). A typed rollback builds on
// DeployScopeOf and ReadDeployments to find the version to go back to.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/config/model.h"
#include "controller/store/tx.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

// Whether the caller may see a pipeline (Authorizer::MayView at the edge).
using MayViewPipeline = std::function<bool(const std::string& pipeline)>;

// The pipelines of `env` the caller may view, each with its deploy stage
// in today's config ("" when its run passing is the deploy).
struct DeployScope {
  std::vector<std::string> pipelines;
  std::vector<std::string> deploy_stages;  // parallel to pipelines
};
DeployScope DeployScopeOf(const config::Config& config, const config::Environment& env,
                          const MayViewPipeline& may_view);

// Every deploy into `env`, newest first, at most `limit`; each with who
// triggered and approved it and its materials.
std::vector<v1::Deployment> ReadDeployments(store::Tx& tx, const config::Environment& env,
                                            const DeployScope& scope, int64_t limit);

// Each environment of `config` with its newest deploy (unset when none).
v1::ListDeployedEnvironmentsResponse ReadDeployedEnvironments(store::Tx& tx,
                                                              const config::Config& config,
                                                              const MayViewPipeline& may_view);

}  // namespace gantry
