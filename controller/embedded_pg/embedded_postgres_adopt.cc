// A server left running on the cluster (a controller killed with -9) is
// adopted; a postmaster.pid whose server is gone is cleared or left to
// pg_ctl, never waited on.
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "controller/embedded_pg/embedded_postgres.h"
#include "controller/embedded_pg/pg_host.h"

namespace gantry {
namespace {

using embedded_pg::ErrnoText;
using embedded_pg::RealPath;

// Live processes whose working directory is `dir` (a postmaster and its
// backends run in their data directory).
std::vector<pid_t> ProcessesIn(const std::string& dir) {
  std::vector<pid_t> pids;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return pids;
  while (struct dirent* e = ::readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    char buf[PATH_MAX];
    std::string link = absl::StrCat("/proc/", pid, "/cwd");
    ssize_t n = ::readlink(link.c_str(), buf, sizeof(buf) - 1);
    if (n <= 0) continue;  // gone, a zombie, or not ours to see
    if (std::string(buf, n) == dir) pids.push_back(pid);
  }
  ::closedir(proc);
  return pids;
}

enum class PidOwner {
  kCluster,  // a live process running in the cluster directory
  kOther,    // a live process elsewhere: the pid was reused
  kGone,     // exited (or a zombie)
  kUnknown,  // cannot tell (no /proc access): assume kCluster
};

PidOwner InspectPid(pid_t pid, const std::string& dir) {
  char buf[PATH_MAX];
  std::string link = absl::StrCat("/proc/", pid, "/cwd");
  ssize_t n = ::readlink(link.c_str(), buf, sizeof(buf) - 1);
  if (n > 0) {
    return std::string(buf, n) == dir ? PidOwner::kCluster : PidOwner::kOther;
  }
  absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) {
    return stat.status().code() == absl::StatusCode::kNotFound ? PidOwner::kGone
                                                               : PidOwner::kUnknown;
  }
  size_t paren = stat->rfind(')');
  if (paren != std::string::npos && paren + 2 < stat->size() &&
      ((*stat)[paren + 2] == 'Z' || (*stat)[paren + 2] == 'X')) {
    return PidOwner::kGone;
  }
  return PidOwner::kUnknown;
}

// The pid now belongs to an unrelated process (or a zombie): postgres would
// refuse to start while it lives, so the file has to go, unless processes
// of the dead postmaster still run in the cluster.
absl::Status RemoveStalePidFile(const std::string& cluster_dir, const std::string& pid_file,
                                pid_t pid, const std::string& real_dir) {
  std::vector<pid_t> users = ProcessesIn(real_dir);
  if (!users.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PostgreSQL cluster ", cluster_dir, ": postmaster ", pid, " is gone but processes ",
        absl::StrJoin(users, ", "), " still run in it; stop them before starting the cluster"));
  }
  spdlog::warn(
      "embedded PostgreSQL: removing stale {} (pid {} is not a postmaster "
      "of this cluster)",
      pid_file, pid);
  if (::unlink(pid_file.c_str()) != 0 && errno != ENOENT) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot remove stale ", pid_file, ": ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<bool> EmbeddedPostgres::AdoptIfRunning() {
  const std::string pid_file = cluster_dir_ + "/postmaster.pid";
  absl::StatusOr<std::string> content = ReadFile(pid_file);
  if (!content.ok()) return false;
  std::vector<std::string> lines = absl::StrSplit(*content, '\n');
  int pid = 0;
  if (lines.empty() || !absl::SimpleAtoi(lines[0], &pid) || pid <= 0) {
    return false;  // unreadable: postgres itself judges it on start
  }
  if (::kill(pid, 0) != 0 && errno == ESRCH) {
    // A dead owner: postgres checks the file (and its shared memory) and
    // replaces it on start.
    spdlog::info("embedded PostgreSQL: stale {} (pid {} is gone)", pid_file, pid);
    return false;
  }

  const std::string real_dir = RealPath(cluster_dir_);
  PidOwner owner = InspectPid(pid, real_dir);
  if (owner == PidOwner::kOther || owner == PidOwner::kGone) {
    RETURN_IF_ERROR(RemoveStalePidFile(cluster_dir_, pid_file, pid, real_dir));
    return false;
  }

  std::string status = lines.size() > 7 ? std::string(absl::StripAsciiWhitespace(lines[7])) : "";
  if (status == "stopping") {
    RETURN_IF_ERROR(WaitForStoppingPostmaster(pid, real_dir));
    return false;
  }
  int port = 0;
  if (lines.size() > 3 && absl::SimpleAtoi(lines[3], &port) && port > 0) {
    port_ = port;
  }
  if (lines.size() > 4 && !absl::StripAsciiWhitespace(lines[4]).empty()) {
    socket_dir_ = std::string(absl::StripAsciiWhitespace(lines[4]));
  }
  spdlog::info("embedded PostgreSQL: adopting running postmaster {} ({})", pid,
               status.empty() ? "unknown state" : status);
  return true;
}

absl::Status EmbeddedPostgres::WaitForStoppingPostmaster(pid_t pid, const std::string& real_dir) {
  spdlog::info("embedded PostgreSQL: waiting for stopping postmaster {}", pid);
  absl::Time deadline = absl::Now() + options_.start_timeout;
  while (::kill(pid, 0) == 0 && !ProcessesIn(real_dir).empty()) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("PostgreSQL postmaster ", pid, " in ", cluster_dir_,
                       " did not finish stopping; server log ", log_path_, ":\n", LogTail()));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::OkStatus();
}

}  // namespace gantry
