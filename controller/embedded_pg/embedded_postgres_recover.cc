// Restarting the embedded server after its postmaster died (kill -9, OOM):
// the controller's supervisor (pg_supervisor.h) calls these.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cerrno>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "controller/embedded_pg/embedded_postgres.h"

namespace gantry {

std::optional<pid_t> EmbeddedPostgres::PostmasterPid() const {
  absl::StatusOr<std::string> content = ReadFile(cluster_dir_ + "/postmaster.pid");
  if (!content.ok()) return std::nullopt;
  std::vector<std::string> lines = absl::StrSplit(*content, '\n');
  int pid = 0;
  if (lines.empty() || !absl::SimpleAtoi(lines[0], &pid) || pid <= 0) return std::nullopt;
  // EPERM: alive, but another user's (the cluster's owner when we are not it).
  if (::kill(pid, 0) != 0 && errno == ESRCH) return std::nullopt;
  return pid;
}

bool EmbeddedPostgres::Owned() {
  absl::MutexLock lock(&mu_);
  return running_ && !detached_;
}

absl::Status EmbeddedPostgres::Recover(absl::Duration deadline) {
  absl::Time give_up = absl::Now() + deadline;
  absl::Status last;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<bool> adopted = AdoptIfRunning();
    if (adopted.ok() && *adopted) {
      // Someone started it again, or the postmaster we saw is still dying:
      // only a server that answers ends the wait.
      last = WaitUntilAccepting(std::min(absl::Seconds(5), give_up - absl::Now()));
      if (last.ok()) {
        spdlog::info("embedded PostgreSQL: a running server answers again; adopted it");
        return absl::OkStatus();
      }
    } else {
      absl::MutexLock lock(&mu_);
      if (detached_) return absl::FailedPreconditionError("the server was detached");
      // The dead postmaster's backends exit on their own once they notice;
      // until then the new one refuses their shared memory, and we retry.
      last = adopted.ok() ? StartServer() : adopted.status();
    }
    if (last.ok()) {
      spdlog::info("embedded PostgreSQL restarted (attempt {})", attempt);
      return absl::OkStatus();
    }
    if (absl::Now() + absl::Seconds(1) > give_up) break;
    spdlog::warn("embedded PostgreSQL: restart attempt {} failed: {}", attempt, std::string(last.message()));
    absl::SleepFor(absl::Milliseconds(500));
  }
  return absl::UnavailableError(
      absl::StrCat("cannot restart the embedded PostgreSQL in ", cluster_dir_, ": ",
                   last.message()));
}

}  // namespace gantry
