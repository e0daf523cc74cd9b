#include "controller/planner/deploy_scope.h"

namespace gantry {

DeployScope DeployScopeOf(const config::Config& config, const config::Environment& env,
                          const MayViewPipeline& may_view) {
  DeployScope scope;
  for (const std::string& name : env.pipelines) {
    if (!may_view(name)) continue;
    std::string stage;
    if (const config::Pipeline* p = config.FindPipeline(name)) {
      for (const config::Stage& s : p->stages) {
        if (s.deploys) stage = s.name;
      }
    }
    scope.pipelines.push_back(name);
    scope.deploy_stages.push_back(stage);
  }
  return scope;
}

}  // namespace gantry
