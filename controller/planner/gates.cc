#include "controller/planner/gates.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gantry {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// "users alice, bob; roles release", for a refusal.
std::string Approvers(const config::Approval& approval) {
  std::vector<std::string> parts;
  if (!approval.users.empty()) {
    parts.push_back(absl::StrCat("users ", absl::StrJoin(approval.users, ", ")));
  }
  if (!approval.roles.empty()) {
    parts.push_back(absl::StrCat("roles ", absl::StrJoin(approval.roles, ", ")));
  }
  return absl::StrJoin(parts, "; ");
}

}  // namespace

absl::Status CheckGate(const config::Stage& stage, const GateActor& who, const std::string& what) {
  const config::Approval& approval = stage.approval;
  if (approval.users.empty() && approval.roles.empty()) return absl::OkStatus();
  // No admin bypass (unlike GoCD): a gate is a separation of duties, and an
  // admin who must be able to open it is listed. A config apply that lists
  // them changes new runs only (the run's own revision's gate applies).
  if (Contains(approval.users, who.user)) return absl::OkStatus();
  for (const std::string& role : approval.roles) {
    if (Contains(who.roles, role)) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat("user '", who.user, "' may not ", what, ": only ",
                                                  Approvers(approval), " may approve it"));
}

bool NeedsSeparateApproval(const config::Approval& approval) {
  return approval.type == config::Approval::Type::kManual &&
         (approval.required > 1 || approval.approver_not_triggerer);
}

std::vector<std::string> PendingApprovers(const std::vector<store::StageApprovalRecord>& approvals,
                                          const std::string& stage) {
  std::vector<std::string> users;
  for (const auto& a : approvals) {
    if (a.stage_run_id == 0 && a.stage == stage && !Contains(users, a.user)) {
      users.push_back(a.user);
    }
  }
  return users;
}

absl::Status CheckApprover(const config::Approval& approval, const std::string& who,
                           const std::string& triggerer, const std::vector<std::string>& earlier,
                           const std::string& what) {
  // Four eyes: whoever asked for the deploy does not also wave it through.
  // An upstream-triggered run's triggerer is the person who started the chain.
  if (approval.approver_not_triggerer && !triggerer.empty() && who == triggerer) {
    return absl::PermissionDeniedError(absl::StrCat(
        "user '", who, "' may not ", what, ": they triggered the run, and the stage needs an ",
        "approver who did not (approver_not_triggerer)"));
  }
  // Refused rather than ignored: the caller learns that their second call
  // did not move the gate, and that someone else must approve.
  if (Contains(earlier, who)) {
    return absl::FailedPreconditionError(
        absl::StrCat("user '", who, "' already approved; cannot ", what, " twice (", earlier.size(),
                     " of ", approval.required, " approvals; another person must approve)"));
  }
  return absl::OkStatus();
}

absl::Status CheckApprovalComment(const std::string& comment) {
  if (comment.size() > kMaxApprovalCommentBytes) {
    return absl::InvalidArgumentError(absl::StrCat("approval comment is ", comment.size(),
                                                   " bytes; at most ", kMaxApprovalCommentBytes,
                                                   " are kept"));
  }
  for (unsigned char c : comment) {
    // A newline or escape sequence would forge lines of `pipeline show`.
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return absl::InvalidArgumentError(
          "approval comment must be one line of text (no control characters)");
    }
  }
  return absl::OkStatus();
}

}  // namespace gantry
