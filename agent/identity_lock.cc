#include "agent/identity_lock.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/paths.h"

namespace gantry::agent {

absl::StatusOr<IdentityLock> IdentityLock::Acquire(const std::string& work_dir) {
  absl::StatusOr<PidLock> lock = PidLock::Acquire(LockPath(work_dir));
  if (absl::IsFailedPrecondition(lock.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "another gantry-agent (", absl::StripPrefix(lock.status().message(), "held by "),
        ") is running with work dir ",
        work_dir, " and its identity ", IdentityPath(work_dir),
        ": two processes with one identity would take each other's session; give each agent "
        "its own --work-dir"));
  }
  if (!lock.ok()) return lock.status();
  return IdentityLock(std::move(*lock));
}

}  // namespace gantry::agent
