#include "controller/job_lookup.h"

#include "absl/strings/str_cat.h"

namespace gantry {

std::string JobLookup::Locator() const {
  return absl::StrCat(run.pipeline, "/", run.counter, "/", stage.name, "/", stage.counter,
                      "/", job.name);
}

absl::StatusOr<JobLookup> FindJob(store::Tx& tx, const std::string& pipeline,
                                  int64_t counter, const std::string& stage,
                                  int32_t stage_counter, const std::string& job) {
  JobLookup found;
  auto run = tx.FindPipelineRun(pipeline, counter);
  if (!run) return absl::NotFoundError(absl::StrCat("no run ", pipeline, "/", counter));
  found.run = std::move(*run);
  bool have_stage = false;
  for (auto& s : tx.StageRuns(found.run.id)) {  // oldest attempt first
    if (s.name != stage) continue;
    if (stage_counter == 0 || s.counter == stage_counter) {
      found.stage = std::move(s);
      have_stage = true;
    }
  }
  std::string where = absl::StrCat(pipeline, "/", found.run.counter, "/", stage);
  if (!have_stage) {
    return absl::NotFoundError(absl::StrCat(
        "stage ", where, stage_counter > 0 ? absl::StrCat("/", stage_counter) : "",
        " has not run"));
  }
  bool have_job = false;
  for (auto& j : tx.JobRunsOfStage(found.stage.id)) {  // oldest attempt first
    if (j.name == job) {
      found.job = std::move(j);
      have_job = true;
    }
  }
  if (!have_job) {
    return absl::NotFoundError(absl::StrCat("stage ", where, "/", found.stage.counter,
                                            " has no job '", job, "'"));
  }
  return found;
}

}  // namespace gantry
