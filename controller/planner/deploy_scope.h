// Which stage runs are deploys into an environment (docs/rollback.md): a
// passed attempt of the `deploys: true` stage of one of its pipelines, or,
// when a pipeline marks none, its run passing. Shared by the views (`gantry
// env list/history`) and the planner's rollback.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/config/model.h"

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

}  // namespace gantry
