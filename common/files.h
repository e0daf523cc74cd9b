// Small file helpers with absl::Status errors that name the path.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gantry {

absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes via a temporary file and rename, so readers never see half a file.
absl::Status WriteFileAtomic(const std::string& path, const std::string& data,
                             int mode = 0644);

// mkdir -p.
absl::Status MakeDirs(const std::string& path, int mode = 0755);

bool FileExists(const std::string& path);

}  // namespace gantry
