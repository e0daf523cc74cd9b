// The commits behind each git revision of a run's build cause, read from
// material_commits (recorded by the poller, material_poller.h).
#pragma once

#include <string>

#include "controller/store/tx.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

// Adds MaterialRevision.commits to every git material of `cause`.
void FillMaterialCommits(store::Tx& tx, const std::string& pipeline, v1::BuildCause* cause);

}  // namespace gantry
