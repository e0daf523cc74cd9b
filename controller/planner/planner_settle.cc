// Settling: a stage whose jobs all ended gets its result, then the run goes
// on (next stage, a gate, or the end), the next run queued behind the stage
// starts, and downstream pipelines of a passed stage trigger. Each of these
// is a step on the work list, so a chain of any length never recurses.
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/planner/env_lock.h"
#include "controller/planner/planner.h"

namespace gantry {

absl::Status Planner::Drain(Effects* effects) {
  // A run letting go of an environment's lock starts the next waiter only
  // once the work list is done, so a run continuing to its next stage in
  // the same batch keeps the lock.
  while (!work_.empty() || !env_released_.empty()) {
    if (work_.empty()) {
      StartEnvLockWaiters(effects);
      continue;
    }
    Step step = std::move(work_.front());
    work_.pop_front();
    if (step.kind == Step::Kind::kSettle) {
      RETURN_IF_ERROR(SettleStage(step.stage_id, effects));
      continue;
    }
    if (KeepWaiting(step.spec, effects)) continue;  // paused or locked
    auto triggered = DoTrigger(step.spec, effects);
    if (!triggered.ok()) {
      effects->events.push_back(absl::StrCat("could not trigger ", step.spec.pipeline, " (",
                                             step.spec.message,
                                             "): ", triggered.status().message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Planner::SettleStage(int64_t stage_id, Effects* effects) {
  RunEntry* run = model_->RunOfStage(stage_id);
  if (run == nullptr) return absl::InternalError("stage run not in memory");
  const store::StageRunRecord& stage = run->stages.at(stage_id);
  if (IsFinal(stage.state)) return absl::OkStatus();
  // Only the newest attempt of each job counts: a rescheduled job's lost
  // attempt is history.
  std::map<std::string, JobState> newest;
  for (const auto& [id, j] : run->jobs) {
    if (j.stage_run_id == stage_id) newest[j.name] = j.state;
  }
  bool any_failed = false, any_cancelled = false;
  for (const auto& [name, state] : newest) {
    if (!IsFinal(state)) return absl::OkStatus();  // others still running
    any_failed |= state == JobState::kFailed || state == JobState::kLost;
    any_cancelled |= state == JobState::kCancelled;
  }
  StageState result = any_failed      ? StageState::kFailed
                      : any_cancelled ? StageState::kCancelled
                                      : StageState::kPassed;
  model_->SetStageState(stage_id, result, now_);
  std::string where =
      absl::StrCat(run->run.pipeline, "/", run->run.counter, "/", stage.name, "/", stage.counter);
  effects->events.push_back(absl::StrCat("stage ", where, " ", Name(result)));
  ReleaseLockAfter(*run, stage, effects);
  // The next run queued behind this stage may go now.
  StartQueued(run->run.pipeline, stage.name, effects);
  if (result != StageState::kPassed) {
    SetRunState(*run, result == StageState::kFailed ? RunState::kFailed : RunState::kCancelled);
    return absl::OkStatus();
  }
  const config::Pipeline* pipeline = run->PipelineOf(stage);
  if (pipeline == nullptr) return absl::InternalError("stage's pipeline not in its config");
  // Downstream pipelines come from today's config: what depends on this
  // stage now is what should run now.
  for (const config::Pipeline* down :
       configs_->current()->Downstreams(run->run.pipeline, stage.name)) {
    Step step{Step::Kind::kTrigger, 0, {}};
    step.spec.pipeline = down->name;
    step.spec.user = run->run.trigger_user;
    step.spec.cause_kind = "upstream";
    step.spec.message = absl::StrCat("triggered by ", where);
    store::MaterialRevisionRecord up;
    up.type = "pipeline";
    up.upstream_pipeline = run->run.pipeline;
    up.upstream_counter = run->run.counter;
    up.upstream_stage = stage.name;
    up.upstream_stage_counter = stage.counter;
    step.spec.upstream = up;
    work_.push_back(std::move(step));
  }
  SettleRun(*run, *pipeline, stage, effects);
  return absl::OkStatus();
}

void Planner::SettleRun(RunEntry& run, const config::Pipeline& pipeline,
                        const store::StageRunRecord& stage, Effects* effects) {
  // The run goes on only if this is the latest stage that ran and not a
  // re-run: re-deploying an old version must not drag the later stages
  // along, unless the re-run asked for them (--and-following). The run
  // then ends with the re-run's result.
  bool later_ran = false;
  for (const auto& [id, s] : run.stages) later_ran |= s.stage_index > stage.stage_index;
  if ((later_ran || stage.counter > 1) && !run.rerun_follows) {
    SetRunState(run, RunState::kPassed);
    return;
  }
  size_t next = static_cast<size_t>(stage.stage_index) + 1;
  if (next >= pipeline.stages.size()) {
    SetRunState(run, RunState::kPassed);
    effects->events.push_back(
        absl::StrCat("pipeline ", run.run.pipeline, "/", run.run.counter, " passed"));
    return;
  }
  if (pipeline.stages[next].approval.type == config::Approval::Type::kManual) {
    SetRunState(run, RunState::kAwaitingApproval);
    return;
  }
  // The next stage runs under the revision this one ran under.
  absl::Status st = ScheduleStage(run, pipeline, static_cast<int>(next), "", effects, std::nullopt,
                                  {stage.config_revision, false});
  if (!st.ok()) {
    effects->events.push_back(absl::StrCat("could not schedule the next stage of ",
                                           run.run.pipeline, "/", run.run.counter, ": ",
                                           st.message()));
  }
}

void Planner::StartQueued(const std::string& pipeline_name, const std::string& stage_name,
                          Effects* effects) {
  for (int64_t id : model_->ActiveStages(pipeline_name, stage_name)) {
    const store::StageRunRecord* s = model_->FindStage(id);
    if (s->state == StageState::kBuilding) return;  // still one building
  }
  for (int64_t id : model_->ActiveStages(pipeline_name, stage_name)) {
    RunEntry* run = model_->RunOfStage(id);
    // In a locked environment the lock's queue decides (arrival order
    // across its pipelines), once the work list is done.
    if (LockedEnvironmentOf(*configs_->current(), pipeline_name) != nullptr) {
      NoteEnvLockRelease(*run);
      return;
    }
    StartStage(*run, id, effects);  // the oldest queued one
    return;
  }
}

}  // namespace gantry
