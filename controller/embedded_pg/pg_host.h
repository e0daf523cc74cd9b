// What the embedded PostgreSQL needs from the host (internal to
// embedded_pg): its server binaries, directories its user can reach and
// own, and short texts for errors.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/process/user.h"

namespace gantry::embedded_pg {

// The last `max_lines` lines of `text`, at most ~4 KB.
std::string Tail(const std::string& text, size_t max_lines = 15);

std::string ErrnoText(int err);

// realpath(3), or `path` itself if that fails.
std::string RealPath(const std::string& path);

// The directory holding initdb, pg_ctl and postgres: `configured`, else
// where pg_ctl on PATH lives, else the newest /usr/lib/postgresql/*/bin.
absl::StatusOr<std::string> FindBinDir(const std::string& configured);

// Whether `user` may search every directory from / down to `path`; if not,
// says which directory stops it.
absl::Status CheckReachable(const std::string& path, const UserInfo& user);

// mkdir -p where every directory created gets exactly `mode`.
absl::Status MakeDirsWithMode(const std::string& path, mode_t mode);

// chown -R, not following symlinks.
absl::Status ChownTree(const std::string& root, uid_t uid, gid_t gid);

}  // namespace gantry::embedded_pg
