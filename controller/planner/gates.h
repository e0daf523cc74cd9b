// Manual gates: who may open one, and what an approval may say. The planner
// checks these on every path that opens a gate on an operator's behalf (an
// approval, and a manual trigger of a pipeline whose first stage is manual),
// against the gate of the run's own config revision (docs/security.md,
// "Gates").
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/config/model.h"

namespace gantry {

// The operator a gate opens for, as the edge resolved them for this call.
// Being an admin does not matter here: a gate's lists bind admins too.
struct GateActor {
  std::string user;
  std::vector<std::string> roles;  // the roles that list the user
};

// OK if `who` may open `stage`'s gate: the stage has no approval.users and
// no approval.roles, or `who` is listed by name or by a role. Otherwise
// PERMISSION_DENIED, one line naming `what` (e.g. "approve stage
// p/3/deploy") and who may.
absl::Status CheckGate(const config::Stage& stage, const GateActor& who, const std::string& what);

// An approval's comment: at most kMaxApprovalCommentBytes of UTF-8, one
// line (it is printed in `pipeline show`). INVALID_ARGUMENT otherwise.
inline constexpr size_t kMaxApprovalCommentBytes = 1000;
absl::Status CheckApprovalComment(const std::string& comment);

}  // namespace gantry
