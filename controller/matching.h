// Which agent may run which job: DESIGN's environment rule, as a pure
// function so it can be tested as a matrix.
#pragma once

#include <set>
#include <string>
#include <vector>

namespace gantry {

struct AgentProfile {
  std::string id;
  std::string name;
  bool enabled = false;
  std::vector<std::string> resources;
  // Environments the agent is in: its own --environments that the config
  // defines, plus every config environment listing the agent by name or id.
  std::set<std::string> environments;
};

struct JobRequirements {
  std::vector<std::string> resources;
  // The environment the job's pipeline belongs to; "" when in none.
  std::string environment;
  // A `run_instances: all` instance runs only on this agent (id).
  std::string agent_id;
};

// A job may run on an agent iff the agent is enabled, has every resource
// (case-insensitive), and either shares the pipeline's environment or both
// are in no environment.
bool Matches(const JobRequirements& job, const AgentProfile& agent);

// Why no agent in `agents` can take the job, e.g.
// "no enabled agent has resources [windows] in environment prod".
std::string ExplainNoMatch(const JobRequirements& job,
                           const std::vector<AgentProfile>& agents);

}  // namespace gantry
