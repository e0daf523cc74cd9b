// The environment a job's tasks see, and which values must be masked.
//
// Layers, later ones winning: the agent process's own environment; the
// built-ins derived from the Assign (GANTRY_PIPELINE_NAME, _COUNTER,
// _LABEL, GANTRY_STAGE_NAME, _COUNTER, GANTRY_JOB_NAME,
// GANTRY_CONTROLLER_URL); Assign.variables, which the controller has already
// merged (job > stage > pipeline > environment, trigger overrides) and which
// may carry the built-ins itself along with GANTRY_TRIGGER_USER,
// GANTRY_ENVIRONMENT_NAME and GANTRY_REVISION_*.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "gantry/v1/agent.pb.h"

namespace gantry::agent {

struct JobEnvironment {
  std::map<std::string, std::string> vars;
  // Values of secure variables, for SecretMasker.
  std::vector<std::string> secrets;

  // The value of `name`, or "" if unset.
  std::string Get(const std::string& name) const;
};

// This process's environment as "NAME=value" strings.
std::vector<std::string> CurrentProcessEnvironment();

JobEnvironment BuildJobEnvironment(const std::vector<std::string>& base,
                                   const gantry::v1::Assign& assign,
                                   const std::string& controller_url);

}  // namespace gantry::agent
