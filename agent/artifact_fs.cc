#include "agent/artifact_fs.h"

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gantry::agent {

absl::StatusOr<std::string> RealPath(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> real(
      ::realpath(path.c_str(), nullptr), &std::free);
  if (real == nullptr) {
    int err = errno;
    std::string msg = absl::StrCat(path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    return absl::FailedPreconditionError(msg);
  }
  return std::string(real.get());
}

bool IsInside(const std::string& root, const std::string& path) {
  if (path == root) return true;
  if (root == "/") return absl::StartsWith(path, "/");
  return absl::StartsWith(path, root) && path.size() > root.size() &&
         path[root.size()] == '/';
}

absl::StatusOr<std::string> MakeDirsInside(const std::string& root,
                                           absl::string_view rel) {
  std::string dir = root;
  for (absl::string_view part : absl::StrSplit(rel, '/', absl::SkipEmpty())) {
    if (part == "." || part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("'", rel, "' is not a clean relative path"));
    }
    std::string next = absl::StrCat(dir, "/", part);
    struct stat st;
    if (::lstat(next.c_str(), &st) != 0) {
      if (errno != ENOENT) {
        return absl::FailedPreconditionError(
            absl::StrCat(next, ": ", std::strerror(errno)));
      }
      if (::mkdir(next.c_str(), 0755) != 0 && errno != EEXIST) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cannot create directory ", next, ": ", std::strerror(errno)));
      }
      // Re-checked below: something may have raced us to the name.
      if (::lstat(next.c_str(), &st) != 0) {
        return absl::FailedPreconditionError(
            absl::StrCat(next, ": ", std::strerror(errno)));
      }
    }
    if (S_ISLNK(st.st_mode)) {
      auto real = RealPath(next);
      if (!real.ok() || !IsInside(root, *real)) {
        return absl::PermissionDeniedError(
            absl::StrCat(next,
                         " is a symbolic link that leads out of the "
                         "job's working directory; refused"));
      }
      if (::stat(real->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return absl::FailedPreconditionError(
            absl::StrCat(next, " is not a directory"));
      }
      dir = *real;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(next, " exists and is not a directory"));
    }
    dir = next;
  }
  return dir;
}

}  // namespace gantry::agent
