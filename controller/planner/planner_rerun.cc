// Re-running a stage of an existing run (`gantry stage rerun P/N/S`): a new
// attempt of the stage, counter + 1, in the run itself, so it keeps the
// run's material revisions, variables and config revision. Re-deploying an
// old version must not drag later stages along, so a re-run stops after
// its stage (SettleRun).
//
// --with-current-config: the attempt runs under today's revision instead
// (stored on the attempt; the run keeps its own). --failed-jobs: when the
// attempt starts, the jobs that passed in the attempt before are copied in
// as passed (CopyPassedJob) and only the others are scheduled.
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/planner/planner.h"

namespace gantry {
namespace {

// The newest attempt of `stage_name` in the run before `counter`.
const store::StageRunRecord* AttemptBefore(const RunEntry& run, const std::string& stage_name,
                                           int32_t counter) {
  const store::StageRunRecord* before = nullptr;
  for (const auto& [id, s] : run.stages) {
    if (s.name == stage_name && s.counter < counter &&
        (before == nullptr || s.counter > before->counter)) {
      before = &s;
    }
  }
  return before;
}

}  // namespace

absl::StatusOr<int64_t> Planner::Rerun(const std::string& pipeline_name, int64_t counter,
                                       const std::string& stage_name, const std::string& user,
                                       Effects* effects, const RerunOptions& options) {
  ASSIGN_OR_RETURN(RunEntry * run, LoadRun(pipeline_name, counter));
  std::string where = absl::StrCat(pipeline_name, "/", run->run.counter, "/", stage_name);
  const std::string what = absl::StrCat("re-run stage ", where);
  // The run's own revision: the stage is what that run ran.
  const config::Pipeline* pipeline = PipelineOf(*run);
  if (pipeline == nullptr) return absl::InternalError("run's pipeline not in its config");
  AttemptKind attempt;
  attempt.failed_jobs = options.failed_jobs;
  if (options.with_current_config) {
    int64_t today = configs_->current_revision();
    if (options.expected_revision != 0 && options.expected_revision != today) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot ", what, " with the current config: it is revision ", today,
          " now, not the revision ", options.expected_revision,
          " the difference was shown against; run the command again to see the new difference"));
    }
    std::shared_ptr<const config::Config> current = configs_->current();
    pipeline = current->FindPipeline(pipeline_name);
    if (pipeline == nullptr) {
      return absl::NotFoundError(absl::StrCat("cannot ", what, ": pipeline '", pipeline_name,
                                              "' is not in the current config (revision ", today,
                                              ")"));
    }
    if (today != run->run.config_revision) {
      attempt.config_revision = today;
      run->stage_configs[today] = std::move(current);
    }
  }
  int index = pipeline->StageIndex(stage_name);
  if (index < 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot ", what, ": run ", pipeline_name, "/", run->run.counter,
                     " has no stage '", stage_name, "' in ",
                     options.with_current_config ? "the current config" : "its config revision"));
  }
  const store::StageRunRecord* newest = nullptr;
  for (const auto& [id, s] : run->stages) {
    if (!IsFinal(s.state)) {
      // Two attempts of one run building at once would race on the run's
      // state and its downstream triggers.
      return absl::FailedPreconditionError(
          absl::StrCat("cannot ", what, ": stage ", run->run.pipeline, "/", run->run.counter, "/",
                       s.name, "/", s.counter, " of the run is still ", Name(s.state)));
    }
    if (s.name == stage_name) newest = &s;  // by id: the newest attempt last
  }
  if (newest == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot ", what, ": the stage never ran in this run"));
  }
  if (options.failed_jobs) {
    bool any_not_passed = false;
    for (const auto& [id, j] : run->jobs) {
      any_not_passed |= j.stage_run_id == newest->id && j.state != JobState::kPassed;
    }
    if (!any_not_passed) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot ", what, " --failed-jobs: every job of ", where, "/",
                       newest->counter, " passed; re-run without --failed-jobs to run them all"));
    }
  }
  RETURN_IF_ERROR(CheckStageAllowed(*run, what));
  effects->events.push_back(
      absl::StrCat("re-run of ", where, "/", newest->counter, " by ", user,
                   options.failed_jobs ? " (its failed jobs)" : "",
                   attempt.config_revision != 0
                       ? absl::StrCat(" under config revision ", attempt.config_revision)
                       : "",
                   options.and_following ? " and the stages after it" : ""));
  model_->SetRerunFollows(run->run.id, options.and_following);
  RETURN_IF_ERROR(ScheduleStage(*run, *pipeline, index, user, effects, std::nullopt, attempt));
  RETURN_IF_ERROR(Drain(effects));
  return run->run.id;
}

bool Planner::CopyPassedJob(RunEntry& run, const store::StageRunRecord& stage,
                            const std::string& name) {
  const store::StageRunRecord* before = AttemptBefore(run, stage.name, stage.counter);
  if (before == nullptr) return false;
  const store::JobRunRecord* passed = nullptr;
  for (const auto& [id, j] : run.jobs) {
    // By id: the newest attempt of the job in that stage attempt last.
    if (j.stage_run_id == before->id && j.name == name) passed = &j;
  }
  if (passed == nullptr || passed->state != JobState::kPassed) return false;
  auto id = ids_->Next(IdKind::kJob);
  if (!id.ok()) return false;  // scheduled instead: running it again is safe
  store::JobRunRecord copy = *passed;
  copy.id = *id;
  copy.stage_run_id = stage.id;
  copy.copied_from = passed->OutputAttempt();
  copy.scheduled_at = now_;
  copy.cancel_reason.clear();
  copy.reason = absl::StrCat("passed in ", stage.name, "/", before->counter, ", not run again");
  model_->AddJob(copy);
  return true;
}

}  // namespace gantry
