// Variable precedence: job > stage > pipeline > environment > the agent's own
// (applied by the agent), with trigger-time overrides last of all.
#pragma once

#include <vector>

#include "common/config/model.h"

namespace gantry {

// Layers are given lowest precedence first; a later layer's value replaces
// an earlier one of the same name, keeping the first position.
std::vector<config::Variable> MergeVariables(
    const std::vector<const std::vector<config::Variable>*>& layers_low_to_high);

}  // namespace gantry
