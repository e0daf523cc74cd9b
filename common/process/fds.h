// File descriptor helpers shared by RunCommand and ChildProcess (internal to
// common/process).
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"

namespace gantry::process_internal {

using ::gantry::UniqueFd;

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
