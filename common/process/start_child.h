// Starting a child process (internal to common/process): everything that is
// not async-signal-safe is prepared before fork, the child reports a failed
// step over a pipe, and the parent returns once exec has happened.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/process/process.h"

namespace gantry::process_internal {

// Forks and execs; the child's stdio are the given descriptors. Returns once
// exec has succeeded, or an error saying which step failed (also in
// `failure`, if given).
absl::StatusOr<pid_t> StartChild(const std::vector<std::string>& argv,
                                 const ProcessOptions& options, int in_fd, int out_fd, int err_fd,
                                 StartFailure* failure = nullptr);

// A waitpid status as an ExitStatus.
ExitStatus DecodeWaitStatus(int status);

}  // namespace gantry::process_internal
