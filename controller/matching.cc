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
  return agent.enabled && (job.agent_id.empty() || job.agent_id == agent.id) &&
         HasResources(job.resources, agent.resources) && EnvironmentOk(job, agent);
}

std::string ExplainNoMatch(const JobRequirements& job,
                           const std::vector<AgentProfile>& agents) {
  if (!job.agent_id.empty()) {
    for (const auto& a : agents) {
      if (a.id != job.agent_id) continue;
      if (!a.enabled) return absl::StrCat("its agent ", a.name, " is disabled or pending");
      JobRequirements unpinned = job;
      unpinned.agent_id.clear();
      if (!Matches(unpinned, a)) {
        return absl::StrCat("its agent ", a.name, " no longer has what the job needs");
      }
      return absl::StrCat("its agent ", a.name, " matches");  // not a reason to wait
    }
    return absl::StrCat("its agent ", job.agent_id, " is gone");
  }
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
