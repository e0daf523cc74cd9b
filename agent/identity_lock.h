// One process per agent identity on a machine: an exclusive flock on
// DIR/agent.lock (paths.h), held for the life of the process. A second
// gantry-agent started on the same work dir (and so with the same
// agent.json) refuses to start instead of fighting the first for the
// agent's session. Copies on other machines are the controller's to refuse
// (Hello.session_nonce).
#pragma once

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "common/pid_lock.h"

namespace gantry::agent {

// A PidLock on DIR/agent.lock, with the agent's own message when refused.
class IdentityLock {
 public:
  // FAILED_PRECONDITION, naming the holder's pid, if another process holds
  // it; other errors if the file cannot be opened.
  static absl::StatusOr<IdentityLock> Acquire(const std::string& work_dir);

 private:
  explicit IdentityLock(PidLock lock) : lock_(std::move(lock)) {}
  PidLock lock_;
};

}  // namespace gantry::agent
