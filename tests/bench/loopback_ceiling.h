// What this machine's loopback TCP carries with no work on either end: one
// thread sendfile()s a file, another receives and drops it. Every artifact
// transfer crosses that socket, so no transfer can be faster; the figure is
// printed beside `cp` so a target set against `cp` can be checked against
// what the socket allows.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gantry::bench {

// The time to move `path` through a loopback TCP connection (sendfile on
// one end, recv into a reused 1 MiB buffer on the other), in-process.
absl::StatusOr<absl::Duration> TimeLoopbackTcp(const std::string& path);

}  // namespace gantry::bench
