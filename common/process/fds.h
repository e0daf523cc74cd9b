// File descriptor helpers shared by RunCommand and ChildProcess (internal to
// common/process).
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gantry::process_internal {

// Owns one file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// "what: strerror(err)" as an InternalError.
absl::Status ErrnoError(const std::string& what, int err);

// The child's stdio descriptors are dup2'ed onto 0-2; keeping every other
// descriptor above 2 means no dup2 can clobber one still needed.
absl::Status MoveAboveStdio(UniqueFd& fd);

// A close-on-exec pipe, both ends above stdio.
absl::Status MakePipe(UniqueFd& read_end, UniqueFd& write_end);

// open(2) with O_CLOEXEC, above stdio; FailedPrecondition naming `path`.
absl::StatusOr<UniqueFd> OpenFile(const std::string& path, int flags, int mode = 0);

void SetNonBlocking(int fd);

// A close-on-exec pidfd for `pid`, or -1 where pidfd_open is unavailable.
int PidfdOpen(pid_t pid);

// `d` as a poll(2) timeout: rounded up to whole ms, at most an hour.
int PollMillis(absl::Duration d);

}  // namespace gantry::process_internal
