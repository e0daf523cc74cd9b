// The one rule for paths inside a job's artifact tree, shared by the agent
// (what it uploads, where a fetch writes) and the controller (what it stores,
// what it serves). Artifact paths are relative, '/'-separated and never
// leave their root, whatever a peer sends.
//
// Contract (stable: both sides and stored data depend on it):
//   - Empty "" parts and "." parts are dropped: "a//./b/" -> "a/b".
//   - Refused with INVALID_ARGUMENT, the message quoting the input:
//       a leading '/' (absolute), any ".." part, a NUL byte, and a path that
//       is empty after dropping parts ("", ".", "/" for CleanArtifactPath).
//   - Nothing else is interpreted: '\', '*', spaces and non-ASCII bytes are
//     ordinary characters.
//   - The result never starts or ends with '/', has no "." or ".." part,
//     and Clean(Clean(x)) == Clean(x).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gantry {

// A file's path in the artifact tree (an upload header's path, a download
// header's path). Never empty.
absl::StatusOr<std::string> CleanArtifactPath(absl::string_view path);

// A directory in the artifact tree or below a working directory (an
// ArtifactSpec or FetchTask destination): as CleanArtifactPath, except that
// "" (and ".", "/"-free equivalents like "./") means the root and gives "".
// A leading '/' is still refused.
absl::StatusOr<std::string> CleanArtifactDir(absl::string_view dir);

// dir + "/" + path for a cleaned dir ("" is the root) and a cleaned path.
std::string JoinArtifactPath(absl::string_view dir, absl::string_view path);

}  // namespace gantry
