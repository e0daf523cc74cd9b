// How long a stored artifact path may be. Every stored path must be one that
// `gantry artifact get` and a fetch can create on an ordinary file system:
// within PATH_MAX (4096) with room for the directory it is written under, and
// no part past NAME_MAX. A longer one used to be stored and then broke every
// download of its job; now its upload is refused.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace gantry {

inline constexpr size_t kMaxArtifactPathBytes = 1024;
inline constexpr size_t kMaxArtifactNameBytes = 255;

// For a path CleanArtifactPath accepted: INVALID_ARGUMENT naming the limit
// ("artifact path 'a/b...' is 6000 bytes long; the limit is 1024 bytes").
inline absl::Status CheckStoredPathLength(absl::string_view path) {
  std::string shown =
      path.size() > 60 ? absl::StrCat(path.substr(0, 57), "...") : std::string(path);
  if (path.size() > kMaxArtifactPathBytes) {
    return absl::InvalidArgumentError(absl::StrCat("artifact path '", shown, "' is ", path.size(),
                                                   " bytes long; the limit is ",
                                                   kMaxArtifactPathBytes, " bytes"));
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.size() > kMaxArtifactNameBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "artifact path '", shown, "' has a name of ", part.size(),
          " bytes; the limit on one name in a path is ", kMaxArtifactNameBytes, " bytes"));
    }
  }
  return absl::OkStatus();
}

}  // namespace gantry
