// Filesystem checks that keep artifact transfers inside a job's working
// directory, whatever symbolic links it contains. `root` below is always a
// real path (RealPath of the job dir), so "inside" compares real paths.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gantry::agent {

// realpath(3); NOT_FOUND or FAILED_PRECONDITION naming `path`.
absl::StatusOr<std::string> RealPath(const std::string& path);

// True if real path `path` is `root` or below it.
bool IsInside(const std::string& root, const std::string& path);

// Creates root/rel (rel cleaned: relative, no "..") one component at a time,
// refusing to step through a symbolic link that leads out of `root` or
// through something that is not a directory, before creating anything
// beyond it. Returns the real path of the directory.
absl::StatusOr<std::string> MakeDirsInside(const std::string& root,
                                           absl::string_view rel);

}  // namespace gantry::agent
