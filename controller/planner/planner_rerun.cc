// Re-running a stage of an existing run (`gantry stage rerun P/N/S`): a new
// attempt of the stage, counter + 1, in the run itself, so it keeps the
// run's material revisions, variables and config revision. Re-deploying an
// old version must not drag later stages along, so a re-run stops after
// its stage (SettleRun).
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/planner/planner.h"

namespace gantry {

absl::StatusOr<int64_t> Planner::Rerun(const std::string& pipeline_name, int64_t counter,
                                       const std::string& stage_name, const std::string& user,
                                       Effects* effects, bool and_following) {
  ASSIGN_OR_RETURN(RunEntry * run, LoadRun(pipeline_name, counter));
  std::string where = absl::StrCat(pipeline_name, "/", run->run.counter, "/", stage_name);
  const std::string what = absl::StrCat("re-run stage ", where);
  // The run's own revision: the stage is what that run ran.
  const config::Pipeline* pipeline = PipelineOf(*run);
  if (pipeline == nullptr) return absl::InternalError("run's pipeline not in its config");
  int index = pipeline->StageIndex(stage_name);
  if (index < 0) {
    return absl::NotFoundError(absl::StrCat("cannot ", what, ": run ", pipeline_name, "/",
                                            run->run.counter, " has no stage '", stage_name,
                                            "' in its config revision"));
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
  RETURN_IF_ERROR(CheckStageAllowed(*run, what));
  effects->events.push_back(absl::StrCat("re-run of ", where, "/", newest->counter, " by ", user,
                                         and_following ? " and the stages after it" : ""));
  model_->SetRerunFollows(run->run.id, and_following);
  RETURN_IF_ERROR(ScheduleStage(*run, *pipeline, index, user, effects));
  RETURN_IF_ERROR(Drain(effects));
  return run->run.id;
}

}  // namespace gantry
