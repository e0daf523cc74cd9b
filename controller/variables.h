// Variable precedence: job > stage > pipeline > environment > the agent's own
// (applied by the agent), with trigger-time overrides last of all.
#pragma once

#include <string>
#include <vector>

#include "common/config/model.h"

namespace gantry {

// Layers are given lowest precedence first; a later layer's value replaces
// an earlier one of the same name, keeping the first position. A name that
// is secure in any layer stays secure whatever replaces its value: a secret's
// name says the value is one, so `--var DB_PASSWORD=x` is masked like the
// configured password it overrides.
std::vector<config::Variable> MergeVariables(
    const std::vector<const std::vector<config::Variable>*>& layers_low_to_high);

// Whether `name` is secure anywhere `pipeline`'s jobs take variables from in
// `config`: the pipeline's environment, the pipeline, any stage or any job.
// A trigger-time value for such a name is stored and shown as secure.
bool IsSecureVariable(const config::Config& config, const config::Pipeline& pipeline,
                      const std::string& name);

}  // namespace gantry
