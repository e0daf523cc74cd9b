#include "controller/retention/removed_notice.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace gantry {

absl::Status CheckFilesKept(store::Tx& tx, const JobLookup& job, absl::string_view what) {
  std::optional<int64_t> at = tx.FilesRemovedAt(job.run.id);
  if (!at) return absl::OkStatus();
  // Picked, but its stage said `keep_artifacts: true`: its files stayed.
  if (tx.JobFilesPresent(job.job.OutputAttempt())) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat(
      what, " of ", job.Locator(), ": removed by retention at ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(*at), absl::UTCTimeZone())));
}

}  // namespace gantry
