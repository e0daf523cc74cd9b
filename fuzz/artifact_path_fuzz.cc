// The artifact path rules (common/artifact_path.h) on arbitrary text: the
// contract in that header holds for every input, and the controller's length
// check on stored paths never crashes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/artifact_path.h"
#include "controller/artifacts/artifact_limits.h"
#include "fuzz/fuzz_check.h"

namespace {

// What every cleaned path (and non-root directory) looks like.
void CheckClean(const std::string& in, const std::string& out) {
  FUZZ_CHECK(!absl::StartsWith(out, "/") && !absl::EndsWith(out, "/"), "'%s' -> '%s'", in.c_str(),
             out.c_str());
  FUZZ_CHECK(out.find('\0') == std::string::npos, "NUL kept");
  for (absl::string_view part : absl::StrSplit(out, '/')) {
    FUZZ_CHECK(!part.empty() || out.empty(), "empty part in '%s'", out.c_str());
    FUZZ_CHECK(part != "." && part != "..", "'%s' -> '%s'", in.c_str(), out.c_str());
  }
  FUZZ_CHECK(out.size() <= in.size(), "'%s' grew to '%s'", in.c_str(), out.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<std::string> path = gantry::CleanArtifactPath(in);
  if (path.ok()) {
    FUZZ_CHECK(!path->empty(), "'%s' cleaned to an empty path", in.c_str());
    CheckClean(in, *path);
    absl::StatusOr<std::string> again = gantry::CleanArtifactPath(*path);
    FUZZ_CHECK(again.ok() && *again == *path, "not idempotent: '%s'", path->c_str());
    absl::Status length = gantry::CheckStoredPathLength(*path);
    FUZZ_CHECK(length.ok() == (path->size() <= gantry::kMaxArtifactPathBytes &&
                               [&] {
                                 for (absl::string_view p : absl::StrSplit(*path, '/')) {
                                   if (p.size() > gantry::kMaxArtifactNameBytes) return false;
                                 }
                                 return true;
                               }()),
               "length check disagrees on a path of %zu bytes", path->size());
  } else {
    FUZZ_CHECK(path.status().code() == absl::StatusCode::kInvalidArgument, "code %d",
               static_cast<int>(path.status().code()));
  }

  absl::StatusOr<std::string> dir = gantry::CleanArtifactDir(in);
  if (dir.ok()) {
    CheckClean(in, *dir);
    absl::StatusOr<std::string> again = gantry::CleanArtifactDir(*dir);
    FUZZ_CHECK(again.ok() && *again == *dir, "dir not idempotent: '%s'", dir->c_str());
    // A path below a directory is a clean path below it.
    if (path.ok()) {
      std::string joined = gantry::JoinArtifactPath(*dir, *path);
      absl::StatusOr<std::string> clean = gantry::CleanArtifactPath(joined);
      FUZZ_CHECK(clean.ok() && *clean == joined, "join of '%s' and '%s' is '%s'", dir->c_str(),
                 path->c_str(), joined.c_str());
      FUZZ_CHECK(dir->empty() || absl::StartsWith(joined, *dir + "/"), "join lost the dir");
    }
  }
  // The two agree except on the root.
  FUZZ_CHECK(path.ok() == (dir.ok() && !dir->empty()), "file and dir rules disagree on '%s'",
             in.c_str());
  return 0;
}
