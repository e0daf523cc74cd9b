#include "common/artifact_path.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace gantry {
namespace {

// Shared by both entry points; `what` names the input in messages.
absl::StatusOr<std::string> Clean(absl::string_view in, absl::string_view what,
                                  bool allow_root) {
  // Messages quote the input; a NUL would cut them short, so it is not echoed.
  if (in.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " contains a NUL byte"));
  }
  if (absl::StartsWith(in, "/")) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " '", in, "' is absolute; it must be a relative path"));
  }
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(in, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " '", in, "' contains '..'; it must stay inside its root"));
    }
    parts.push_back(part);
  }
  if (parts.empty() && !allow_root) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", in, "' is empty; it must name a file"));
  }
  return absl::StrJoin(parts, "/");
}

}  // namespace

absl::StatusOr<std::string> CleanArtifactPath(absl::string_view path) {
  return Clean(path, "artifact path", /*allow_root=*/false);
}

absl::StatusOr<std::string> CleanArtifactDir(absl::string_view dir) {
  return Clean(dir, "artifact directory", /*allow_root=*/true);
}

std::string JoinArtifactPath(absl::string_view dir, absl::string_view path) {
  if (dir.empty()) return std::string(path);
  if (path.empty()) return std::string(dir);
  return absl::StrCat(dir, "/", path);
}

}  // namespace gantry
