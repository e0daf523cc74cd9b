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

namespace gantry::agent {

class IdentityLock {
 public:
  // FAILED_PRECONDITION, naming the holder's pid, if another process holds
  // it; other errors if the file cannot be opened.
  static absl::StatusOr<IdentityLock> Acquire(const std::string& work_dir);

  IdentityLock(IdentityLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  IdentityLock& operator=(IdentityLock&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  IdentityLock(const IdentityLock&) = delete;
  ~IdentityLock();  // releases the lock

 private:
  explicit IdentityLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace gantry::agent
