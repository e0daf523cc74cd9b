// Before the tasks: clean_workspace, then the git materials (git_checkout.h).
// A failure fails the job with git's message; no task runs.
#include "absl/strings/str_cat.h"
#include "agent/git_checkout.h"
#include "agent/job_runner.h"

namespace gantry::agent {

std::optional<JobReport> JobRunner::PrepareMaterials() {
  if (assign_.clean_workspace()) {
    Say("clean_workspace: emptying the job directory");
    if (absl::Status st = CleanWorkspace(job_dir_); !st.ok()) {
      Say(std::string(st.message()));
      return JobReport{JobResult::kFailed, std::string(st.message())};
    }
  }
  if (assign_.git_checkouts().empty()) return std::nullopt;
  CheckoutOptions options;
  options.work_dir = options_.work_dir;
  absl::Status st =
      CheckoutMaterials(options, job_dir_, assign_, [this](const std::string& line) { Say(line); });
  FlushConsole();
  if (!st.ok()) {
    std::string reason = absl::StrCat("checkout failed: ", st.message());
    Say(reason);
    FlushConsole();
    return JobReport{JobResult::kFailed, reason};
  }
  return std::nullopt;
}

}  // namespace gantry::agent
