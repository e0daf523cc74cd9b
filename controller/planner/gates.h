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
#include "controller/store/records.h"

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

// Whether a gate needs more than the person who triggers the run: several
// approvers (`required` > 1) or an approver who is not the triggerer. A
// manual trigger then stops at such a first stage (the run waits for
// approvals) instead of counting as its approval.
bool NeedsSeparateApproval(const config::Approval& approval);

// The users who approved `stage`'s gate before it had its quorum (approvals
// with no stage run yet), oldest first, from a run's approvals.
std::vector<std::string> PendingApprovers(const std::vector<store::StageApprovalRecord>& approvals,
                                          const std::string& stage);

// Whether `who` may add an approval to a gate that `earlier` (distinct
// users, PendingApprovers) already approved, in a run `triggerer`
// triggered: PERMISSION_DENIED if `approver_not_triggerer` and `who` is the
// triggerer; FAILED_PRECONDITION if `who` already approved (a repeat is
// refused, never counted twice), with the progress ("1 of 2 approvals").
absl::Status CheckApprover(const config::Approval& approval, const std::string& who,
                           const std::string& triggerer, const std::vector<std::string>& earlier,
                           const std::string& what);

// An approval's comment: at most kMaxApprovalCommentBytes of UTF-8, one
// line (it is printed in `pipeline show`). INVALID_ARGUMENT otherwise.
inline constexpr size_t kMaxApprovalCommentBytes = 1000;
absl::Status CheckApprovalComment(const std::string& comment);

}  // namespace gantry
