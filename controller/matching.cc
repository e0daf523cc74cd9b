#include "controller/matching.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gantry {
namespace {

bool HasResources(const std::vector<std::string>& wanted,
                  const std::vector<std::string>& have) {
  for (const auto& w : wanted) {
    bool found = false;
    for (const auto& h : have) {
      if (absl::EqualsIgnoreCase(w, h)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

bool EnvironmentOk(const JobRequirements& job, const AgentProfile& agent) {
  if (job.environment.empty()) return agent.environments.empty();
  return agent.environments.count(job.environment) > 0;
}

}  // namespace

bool Matches(const JobRequirements& job, const AgentProfile& agent) {
  return agent.enabled && HasResources(job.resources, agent.resources) &&
         EnvironmentOk(job, agent);
}

std::string ExplainNoMatch(const JobRequirements& job,
                           const std::vector<AgentProfile>& agents) {
  std::string what = "no enabled agent";
  if (!job.resources.empty()) {
    absl::StrAppend(&what, " has resources [", absl::StrJoin(job.resources, ", "), "]");
  }
  if (job.environment.empty()) {
    absl::StrAppend(&what, " outside every environment");
  } else {
    absl::StrAppend(&what, " in environment ", job.environment);
  }
  int disabled = 0;
  for (const auto& a : agents) {
    if (EnvironmentOk(job, a) && HasResources(job.resources, a.resources)) {
      if (!a.enabled) ++disabled;
    }
  }
  if (disabled > 0) {
    absl::StrAppend(&what, " (", disabled, " matching agent",
                    disabled == 1 ? " is" : "s are", " disabled or pending)");
  }
  return what;
}

}  // namespace gantry
