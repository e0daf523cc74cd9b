// Files and directories of the e2e harness (internal to tests/e2e).
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace gantry::e2e {

// A mkdtemp directory under /tmp, mode 0755 so that the PostgreSQL user can
// reach what is below it when we run as root.
absl::StatusOr<std::string> MakeTempDir(const std::string& prefix);

// rm -rf, saying on stderr what could not be removed.
void RemoveTree(const std::string& path);

// The last `lines` lines of `text`.
std::string TailLines(const std::string& text, size_t lines);

// The file's content, or "" if it cannot be read.
std::string ReadOrEmpty(const std::string& path);

}  // namespace gantry::e2e
