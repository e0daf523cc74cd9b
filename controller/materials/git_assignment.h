// What an Assign carries for a run's git materials (docs/materials.md):
// the checkouts the agent makes before the tasks, and the built-in
// variables GANTRY_MATERIAL_<NAME>_BRANCH (GANTRY_REVISION_<NAME> is set for
// every material by the assignment builder).
#pragma once

#include <vector>

#include "common/config/model.h"
#include "controller/store/records.h"
#include "gantry/v1/agent.pb.h"

namespace gantry {

// "GANTRY_MATERIAL_" + the name as in RevisionVariableName + "_BRANCH".
std::string BranchVariableName(const std::string& material_name);

// The branch variable of every git material of `pipeline`.
void AddGitVariables(const config::Pipeline& pipeline, std::vector<config::Variable>* builtins);

// Git checkouts (unless the stage has fetch_materials: false) at the run's
// recorded revisions, and the stage's clean_workspace.
void AddGitCheckouts(const config::Pipeline& pipeline, const config::Stage& stage,
                     const std::vector<store::MaterialRevisionRecord>& materials, v1::Assign* a);

}  // namespace gantry
