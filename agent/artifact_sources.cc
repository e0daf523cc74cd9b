#include "agent/artifact_sources.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/artifact_fs.h"
#include "common/artifact_path.h"

namespace gantry::agent {
namespace {

bool HasWildcard(absl::string_view s) {
  return s.find_first_of("*?") != absl::string_view::npos;
}

// Entry names of a directory, sorted, without "." and "..".
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot list ", dir, ": ", std::strerror(errno)));
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

enum class Kind { kFile, kDir, kOther };

// Walks and matches below one source; collects items keyed by artifact path.
class Expander {
 public:
  Expander(const std::string& root, const gantry::v1::ArtifactSpec& spec,
           std::string dest, std::string kind)
      : root_(root),
        spec_(spec),
        dest_(std::move(dest)),
        kind_(std::move(kind)) {}

  // Resolves `path` (below the root, maybe a symlink): its real path and
  // kind, refusing one that leads out. `shown` names it in messages.
  absl::Status Resolve(const std::string& path, const std::string& shown,
                       std::string* real, Kind* kind) {
    auto r = RealPath(path);
    if (!r.ok()) return r.status();
    if (!IsInside(root_, *r)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "artifact source '", spec_.source(), "': ", shown, " leads to ", *r,
          ", outside the job's working directory; refused"));
    }
    struct stat st;
    if (::stat(r->c_str(), &st) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(shown, ": ", std::strerror(errno)));
    }
    *real = *r;
    *kind = S_ISREG(st.st_mode)   ? Kind::kFile
            : S_ISDIR(st.st_mode) ? Kind::kDir
                                  : Kind::kOther;
    return absl::OkStatus();
  }

  // Adds a matched file or every file below a matched directory, stored at
  // dest/`stored`.
  absl::Status Add(const std::string& real, Kind kind, const std::string& shown,
                   const std::string& stored) {
    if (kind == Kind::kFile) return AddFile(real, stored);
    if (kind == Kind::kDir) return Walk(real, shown, stored);
    return absl::OkStatus();
  }

  // Matches glob components comps[i..] below `dir` (real), whose path below
  // the glob's fixed prefix is `rel`.
  absl::Status Match(const std::string& dir, const std::string& shown_dir,
                     const std::string& rel,
                     const std::vector<std::string>& comps, size_t i) {
    if (!Enter(dir)) return absl::OkStatus();  // a symlink cycle
    absl::Status s = MatchIn(dir, shown_dir, rel, comps, i);
    Leave(dir);
    return s;
  }

  std::map<std::string, ArtifactItem>& items() { return items_; }

 private:
  absl::Status MatchIn(const std::string& dir, const std::string& shown_dir,
                       const std::string& rel,
                       const std::vector<std::string>& comps, size_t i) {
    const std::string& comp = comps[i];
    const bool last = i + 1 == comps.size();
    if (comp == "**") {
      // Zero directories: the rest of the pattern right here. A trailing
      // "**" matches the files below, not the directory itself.
      if (!last) {
        if (absl::Status s = MatchIn(dir, shown_dir, rel, comps, i + 1);
            !s.ok()) {
          return s;
        }
      }
    }
    auto names = ListDir(dir);
    if (!names.ok()) return names.status();
    for (const std::string& name : *names) {
      const bool any = comp == "**";
      if (!any && !MatchGlobComponent(comp, name)) continue;
      std::string path = absl::StrCat(dir, "/", name);
      std::string shown = absl::StrCat(shown_dir, "/", name);
      std::string child_rel = rel.empty() ? name : absl::StrCat(rel, "/", name);
      std::string real;
      Kind kind;
      if (absl::Status s = Resolve(path, shown, &real, &kind); !s.ok()) {
        if (absl::IsNotFound(s)) continue;  // a dangling symlink
        return s;
      }
      if (any) {
        if (kind == Kind::kDir) {
          // Deeper: "**" again, which also tries the rest of the pattern.
          if (absl::Status s = Match(real, shown, child_rel, comps, i);
              !s.ok()) {
            return s;
          }
        } else if (last) {
          if (absl::Status s = Add(real, kind, shown, child_rel); !s.ok())
            return s;
        }
        // Files against the rest of the pattern: the zero-directory case.
        continue;
      }
      if (last) {
        if (absl::Status s = Add(real, kind, shown, child_rel); !s.ok())
          return s;
      } else if (kind == Kind::kDir) {
        if (absl::Status s = Match(real, shown, child_rel, comps, i + 1);
            !s.ok()) {
          return s;
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status Walk(const std::string& dir, const std::string& shown_dir,
                    const std::string& stored) {
    if (!Enter(dir)) return absl::OkStatus();
    auto names = ListDir(dir);
    if (!names.ok()) {
      Leave(dir);
      return names.status();
    }
    absl::Status status;
    for (const std::string& name : *names) {
      std::string shown = absl::StrCat(shown_dir, "/", name);
      std::string real;
      Kind kind;
      status = Resolve(absl::StrCat(dir, "/", name), shown, &real, &kind);
      if (absl::IsNotFound(status)) {  // a dangling symlink
        status = absl::OkStatus();
        continue;
      }
      if (status.ok()) {
        status = Add(real, kind, shown,
                     stored.empty() ? name : absl::StrCat(stored, "/", name));
      }
      if (!status.ok()) break;
    }
    Leave(dir);
    return status;
  }

  absl::Status AddFile(const std::string& real, const std::string& stored) {
    auto path = CleanArtifactPath(JoinArtifactPath(dest_, stored));
    if (!path.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "artifact source '", spec_.source(), "': ", path.status().message()));
    }
    auto [it, inserted] = items_.try_emplace(*path);
    if (inserted) {
      it->second = ArtifactItem{real, *path, kind_};
    } else if (it->second.local_path != real) {
      return absl::FailedPreconditionError(absl::StrCat(
          "artifact source '", spec_.source(), "': both ",
          it->second.local_path, " and ", real, " would be stored as ", *path));
    }
    return absl::OkStatus();
  }

  // Directories on the current descent: a symlink back up is a cycle.
  bool Enter(const std::string& dir) { return stack_.insert(dir).second; }
  void Leave(const std::string& dir) { stack_.erase(dir); }

  const std::string& root_;
  const gantry::v1::ArtifactSpec& spec_;
  const std::string dest_;
  const std::string kind_;
  std::set<std::string> stack_;
  std::map<std::string, ArtifactItem> items_;
};

}  // namespace

bool MatchGlobComponent(absl::string_view pattern, absl::string_view name) {
  // Iterative wildcard match with one backtrack point (the last '*').
  size_t p = 0, n = 0, star = absl::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n]) &&
        pattern[p] != '*') {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

absl::StatusOr<std::vector<ArtifactItem>> ExpandArtifactSpec(
    const std::string& job_root, const gantry::v1::ArtifactSpec& spec) {
  auto source = CleanArtifactPath(spec.source());
  if (!source.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("artifact source '", spec.source(),
                     "' is refused: ", source.status().message()));
  }
  auto dest = CleanArtifactDir(spec.destination());
  if (!dest.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("artifact destination '", spec.destination(),
                     "' is refused: ", dest.status().message()));
  }
  Expander expander(job_root, spec, *dest,
                    spec.kind().empty() ? "build" : spec.kind());
  std::vector<std::string> comps = absl::StrSplit(*source, '/');
  absl::Status status;
  if (!HasWildcard(*source)) {
    std::string real;
    Kind kind;
    status = expander.Resolve(absl::StrCat(job_root, "/", *source), *source,
                              &real, &kind);
    if (absl::IsNotFound(status))
      status = absl::OkStatus();  // matched nothing
    else if (status.ok()) {
      status = expander.Add(real, kind, *source, comps.back());
    }
  } else {
    // The fixed prefix: components before the first wildcard.
    size_t first = 0;
    while (!HasWildcard(comps[first])) ++first;
    std::string base = job_root;
    std::string shown;
    for (size_t i = 0; i < first; ++i) {
      absl::StrAppend(&base, "/", comps[i]);
      shown = shown.empty() ? comps[i] : absl::StrCat(shown, "/", comps[i]);
    }
    std::string real = job_root;
    Kind kind = Kind::kDir;
    if (first > 0) {
      status = expander.Resolve(base, shown, &real, &kind);
      if (absl::IsNotFound(status)) {
        status = absl::OkStatus();
        kind = Kind::kOther;
      }
    }
    if (status.ok() && kind == Kind::kDir) {
      status =
          expander.Match(real, shown.empty() ? "." : shown, "", comps, first);
    }
  }
  if (!status.ok()) return status;
  if (expander.items().empty()) {
    return absl::NotFoundError(
        absl::StrCat("artifact source '", spec.source(), "' matched nothing"));
  }
  std::vector<ArtifactItem> out;
  out.reserve(expander.items().size());
  for (auto& [path, item] : expander.items()) out.push_back(std::move(item));
  return out;
}

}  // namespace gantry::agent
