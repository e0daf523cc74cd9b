// What one loopback TCP stream carries with no work on either end: one
// thread sendfile()s a file, another recv()s and drops it. An artifact
// transfer is one such stream, received into user space, with work added on
// both ends, so this is its ceiling (several streams, or a receiver that
// splices, could go further). Printed beside `cp`, so a target set against
// `cp` can be checked against what the socket allows.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gantry::bench {

// The time to move `path` through a loopback TCP connection (sendfile on
// one end, recv into a reused 1 MiB buffer on the other), in-process.
absl::StatusOr<absl::Duration> TimeLoopbackTcp(const std::string& path);

}  // namespace gantry::bench
