#include "agent/job_env.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace gantry::agent {

std::string JobEnvironment::Get(const std::string& name) const {
  auto it = vars.find(name);
  return it == vars.end() ? "" : it->second;
}

std::vector<std::string> CurrentProcessEnvironment() {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e)
    out.emplace_back(*e);
  return out;
}

JobEnvironment BuildJobEnvironment(const std::vector<std::string>& base,
                                   const gantry::v1::Assign& assign,
                                   const std::string& controller_url) {
  JobEnvironment env;
  for (const std::string& entry : base) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    env.vars[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  env.vars["GANTRY_PIPELINE_NAME"] = assign.pipeline();
  env.vars["GANTRY_PIPELINE_COUNTER"] = absl::StrCat(assign.pipeline_counter());
  env.vars["GANTRY_PIPELINE_LABEL"] =
      assign.pipeline_label().empty() ? absl::StrCat(assign.pipeline_counter())
                                      : assign.pipeline_label();
  env.vars["GANTRY_STAGE_NAME"] = assign.stage();
  env.vars["GANTRY_STAGE_COUNTER"] = absl::StrCat(assign.stage_counter());
  env.vars["GANTRY_JOB_NAME"] = assign.job();
  env.vars["GANTRY_CONTROLLER_URL"] = controller_url;
  for (const auto& v : assign.variables()) {
    // A name with '=' would corrupt the environment block.
    if (v.name().empty() || v.name().find('=') != std::string::npos) continue;
    env.vars[v.name()] = v.value();
    if (v.secure() && !v.value().empty()) env.secrets.push_back(v.value());
  }
  // A git material's password (git_checkout.h) is not in the tasks'
  // environment, but a task could still print it (from a git config file).
  for (const auto& c : assign.git_checkouts()) {
    if (!c.password().empty()) env.secrets.push_back(c.password());
  }
  return env;
}

}  // namespace gantry::agent
