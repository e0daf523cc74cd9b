// An exclusive flock on a file, held for the life of the object, with the
// holder's pid written in the file so a refused process can name it. Used
// for "one process per directory": a controller's data dir, an agent's work
// dir. The kernel drops the lock when the process dies, however it dies.
#pragma once

#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace gantry {

class PidLock {
 public:
  // FAILED_PRECONDITION if another process holds it: the message is
  // "held by pid N" (or "held by another process"), for callers to wrap.
  // Other errors when the file cannot be opened or locked.
  static absl::StatusOr<PidLock> Acquire(const std::string& path);

  PidLock(PidLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  PidLock& operator=(PidLock&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  PidLock(const PidLock&) = delete;
  ~PidLock();  // releases the lock

 private:
  explicit PidLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace gantry
