#include "controller/variables.h"

#include <map>

namespace gantry {
namespace {

bool SecureIn(const std::vector<config::Variable>& layer, const std::string& name) {
  for (const auto& v : layer) {
    if (v.name == name && v.secure) return true;
  }
  return false;
}

}  // namespace

std::vector<config::Variable> MergeVariables(
    const std::vector<const std::vector<config::Variable>*>& layers) {
  std::vector<config::Variable> out;
  std::map<std::string, size_t> index;
  for (const auto* layer : layers) {
    if (layer == nullptr) continue;
    for (const auto& v : *layer) {
      auto it = index.find(v.name);
      if (it == index.end()) {
        index[v.name] = out.size();
        out.push_back(v);
      } else {
        bool secure = out[it->second].secure || v.secure;
        out[it->second] = v;
        out[it->second].secure = secure;
      }
    }
  }
  return out;
}

bool IsSecureVariable(const config::Config& config, const config::Pipeline& pipeline,
                      const std::string& name) {
  if (const config::Environment* env = config.EnvironmentOfPipeline(pipeline.name)) {
    if (SecureIn(env->variables, name)) return true;
  }
  if (SecureIn(pipeline.variables, name)) return true;
  for (const auto& stage : pipeline.stages) {
    if (SecureIn(stage.variables, name)) return true;
    for (const auto& job : stage.jobs) {
      if (SecureIn(job.variables, name)) return true;
    }
  }
  return false;
}

}  // namespace gantry
