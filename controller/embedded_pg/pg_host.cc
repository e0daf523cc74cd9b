#include "controller/embedded_pg/pg_host.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/process/process.h"

namespace gantry::embedded_pg {
namespace {

namespace fs = std::filesystem;

bool IsExecutable(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

bool HasServerBinaries(const std::string& dir) {
  return IsExecutable(dir + "/initdb") && IsExecutable(dir + "/pg_ctl") &&
         IsExecutable(dir + "/postgres");
}

// "15" < "16", "9.6" < "10".
std::vector<int> VersionKey(const std::string& v) {
  std::vector<int> key;
  for (absl::string_view part : absl::StrSplit(v, '.')) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n)) return {};
    key.push_back(n);
  }
  return key;
}

}  // namespace

std::string Tail(const std::string& text, size_t max_lines) {
  std::string t(absl::StripTrailingAsciiWhitespace(text));
  if (t.size() > 4000) t = t.substr(t.size() - 4000);
  size_t pos = t.size();
  for (size_t i = 0; i < max_lines && pos != std::string::npos && pos > 0; ++i) {
    pos = t.rfind('\n', pos - 1);
  }
  if (pos != std::string::npos && pos < t.size()) t = t.substr(pos + 1);
  return t;
}

std::string ErrnoText(int err) { return strerror(err); }

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return path;
  return buf;
}

absl::StatusOr<std::string> FindBinDir(const std::string& configured) {
  if (!configured.empty()) {
    if (HasServerBinaries(configured)) return configured;
    return absl::FailedPreconditionError(
        absl::StrCat("PostgreSQL bin dir ", configured,
                     " does not hold executable initdb, pg_ctl and postgres"));
  }
  absl::StatusOr<std::string> pg_ctl = FindOnPath("pg_ctl");
  if (pg_ctl.ok()) {
    std::string dir = fs::path(RealPath(*pg_ctl)).parent_path().string();
    if (HasServerBinaries(dir)) return dir;
  }
  std::string best;
  std::vector<int> best_key;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    std::vector<int> key = VersionKey(entry.path().filename().string());
    std::string bin = entry.path().string() + "/bin";
    if (key.empty() || !HasServerBinaries(bin)) continue;
    if (best.empty() || key > best_key) {
      best = bin;
      best_key = key;
    }
  }
  if (!best.empty()) return best;
  return absl::FailedPreconditionError(
      "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found "
      "on PATH or in /usr/lib/postgresql/*/bin: install them (Debian: apt-get "
      "install postgresql) or use --database-url with an existing server");
}

absl::Status CheckReachable(const std::string& path, const UserInfo& user) {
  if (user.uid == 0) return absl::OkStatus();
  fs::path p(RealPath(path));
  fs::path prefix;
  for (const fs::path& part : p) {
    prefix /= part;
    struct stat st;
    if (::stat(prefix.c_str(), &st) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot stat ", prefix.string(), ": ", ErrnoText(errno)));
    }
    mode_t bit;
    if (st.st_uid == user.uid) {
      bit = S_IXUSR;
    } else if (std::find(user.groups.begin(), user.groups.end(), st.st_gid) != user.groups.end() ||
               st.st_gid == user.gid) {
      bit = S_IXGRP;
    } else {
      bit = S_IXOTH;
    }
    if (!S_ISDIR(st.st_mode) || (st.st_mode & bit) == 0) {
      return absl::PermissionDeniedError(absl::StrFormat(
          "user '%s' (uid %d) cannot enter %s (mode %04o, owner uid %d, gid "
          "%d)",
          user.name, user.uid, prefix.string(), st.st_mode & 07777, st.st_uid, st.st_gid));
    }
  }
  return absl::OkStatus();
}

absl::Status MakeDirsWithMode(const std::string& path, mode_t mode) {
  fs::path prefix;
  for (const fs::path& part : fs::path(path)) {
    prefix /= part;
    if (::mkdir(prefix.c_str(), mode) == 0) {
      ::chmod(prefix.c_str(), mode);  // not subject to the umask
    } else if (errno != EEXIST) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create directory ", prefix.string(), ": ", ErrnoText(errno)));
    }
  }
  return absl::OkStatus();
}

absl::Status ChownTree(const std::string& root, uid_t uid, gid_t gid) {
  if (::lchown(root.c_str(), uid, gid) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("chown ", root, ": ", ErrnoText(errno)));
  }
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (::lchown(it->path().c_str(), uid, gid) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("chown ", it->path().string(), ": ", ErrnoText(errno)));
    }
  }
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat("chown -R ", root, ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace gantry::embedded_pg
