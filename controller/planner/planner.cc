// Operator operations and stage scheduling: trigger, approve, cancel.
#include "controller/planner/planner.h"

#include "absl/strings/str_cat.h"
#include "common/secrets/cipher.h"
#include "common/status_macros.h"
#include "controller/planner/git_revisions.h"
#include "controller/planner/labels.h"
#include "controller/planner/upstream_pick.h"
#include "controller/variables.h"

namespace gantry {

std::string JobLocator(const RunEntry& run, const store::StageRunRecord& stage,
                       const store::JobRunRecord& job) {
  return absl::StrCat(run.run.pipeline, "/", run.run.counter, "/", stage.name, "/", stage.counter,
                      "/", job.name);
}

Planner::Planner(RunModel* model, ConfigCache* configs, ColdStore* cold, IdSource* ids)
    : model_(model), configs_(configs), cold_(cold), ids_(ids) {}

JobRequirements Planner::Requirements(const config::Pipeline& pipeline,
                                      const config::Job& job) const {
  JobRequirements req;
  req.resources = job.resources;
  if (const auto* env = configs_->current()->EnvironmentOfPipeline(pipeline.name)) {
    req.environment = env->name;
  }
  return req;
}

const config::Pipeline* Planner::PipelineOf(const RunEntry& run) const {
  return run.config ? run.config->FindPipeline(run.run.pipeline) : nullptr;
}

const config::Pipeline* Planner::FlowPipeline(const RunEntry& run, int64_t* revision) const {
  *revision = 0;
  if (run.stages.empty()) return PipelineOf(run);
  const store::StageRunRecord& newest = run.stages.rbegin()->second;  // by id
  *revision = newest.config_revision;
  return run.PipelineOf(newest);
}

const config::Job* Planner::JobConfig(const RunEntry& run, const store::StageRunRecord& stage,
                                      const std::string& config_job) const {
  const config::Pipeline* pipeline = run.PipelineOf(stage);
  if (pipeline == nullptr || stage.stage_index >= static_cast<int>(pipeline->stages.size())) {
    return nullptr;
  }
  for (const auto& j : pipeline->stages[stage.stage_index].jobs) {
    if (j.name == config_job) return &j;
  }
  return nullptr;
}

absl::StatusOr<int64_t> Planner::Trigger(const TriggerSpec& spec, Effects* effects) {
  ASSIGN_OR_RETURN(int64_t run_id, DoTrigger(spec, effects));
  RETURN_IF_ERROR(Drain(effects));
  return run_id;
}

absl::StatusOr<std::vector<store::MaterialRevisionRecord>> Planner::ResolveMaterials(
    const config::Pipeline& pipeline, const TriggerSpec& spec) {
  for (const auto& [material, rev] : spec.revisions) {
    bool known = false;
    for (const auto& m : pipeline.materials) known |= m.name == material;
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("pipeline '", spec.pipeline, "' has no material named '", material, "'"));
    }
  }
  std::vector<store::MaterialRevisionRecord> materials;
  for (const auto& m : pipeline.materials) {
    store::MaterialRevisionRecord rec;
    rec.material = m.name;
    if (m.type == config::Material::Type::kGit) {
      rec.type = "git";
      auto it = spec.revisions.find(m.name);
      if (it != spec.revisions.end()) rec.revision = it->second;
      materials.push_back(std::move(rec));
      continue;
    }
    rec.type = "pipeline";
    rec.upstream_pipeline = m.pipeline;
    rec.upstream_stage = m.stage;
    if (spec.upstream && spec.upstream->upstream_pipeline == m.pipeline &&
        spec.upstream->upstream_stage == m.stage) {
      rec = *spec.upstream;
      rec.material = m.name;
    } else if (auto it = spec.revisions.find(m.name); it != spec.revisions.end()) {
      // The operator chose the upstream run (`--revision build=12`).
      RETURN_IF_ERROR(PickUpstreamRun(cold_, m, it->second, &rec));
    } else {
      // Without an explicit upstream run, GoCD takes the newest run whose
      // stage passed; a pipeline whose upstream never passed cannot run.
      ASSIGN_OR_RETURN(auto latest, cold_->LatestPassedStage(m.pipeline, m.stage));
      if (!latest) {
        return absl::FailedPreconditionError(absl::StrCat("cannot trigger '", spec.pipeline,
                                                          "': upstream ", m.pipeline, "/", m.stage,
                                                          " has never passed"));
      }
      rec.upstream_counter = latest->first.counter;
      rec.upstream_stage_counter = latest->second.counter;
    }
    rec.revision = absl::StrCat(rec.upstream_pipeline, "/", rec.upstream_counter, "/",
                                rec.upstream_stage, "/", rec.upstream_stage_counter);
    materials.push_back(std::move(rec));
  }
  RETURN_IF_ERROR(FillGitRevisions(cold_, git_heads_, pipeline, &materials));
  return materials;
}

absl::StatusOr<int64_t> Planner::DoTrigger(const TriggerSpec& spec, Effects* effects) {
  int64_t revision = configs_->current_revision();
  auto config = configs_->current();
  const config::Pipeline* pipeline = config->FindPipeline(spec.pipeline);
  if (pipeline == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no pipeline named '", spec.pipeline, "' in config revision ", revision));
  }
  RETURN_IF_ERROR(CheckTriggerAllowed(spec.pipeline));  // paused or locked
  // A person triggering the pipeline opens its first stage (approves it,
  // if it is manual): the stage's lists are theirs to pass, as for `stage
  // approve` (GoCD, too, asks for operate permission on the first stage).
  const config::Stage& first = pipeline->stages.front();
  bool first_is_gate = first.approval.type == config::Approval::Type::kManual;
  if (spec.cause_kind == "manual") {
    RETURN_IF_ERROR(CheckGate(first, {spec.user, spec.roles},
                              absl::StrCat("trigger ", spec.pipeline,
                                           " (a trigger opens its first stage ", first.name, ")")));
  }
  ASSIGN_OR_RETURN(auto materials, ResolveMaterials(*pipeline, spec));
  RETURN_IF_ERROR(CheckBadVersions(*pipeline, spec, materials));
  ASSIGN_OR_RETURN(int64_t run_id, ids_->Next(IdKind::kRun));
  // Nothing is refused past this point.
  RunEntry entry;
  entry.config = config;
  store::PipelineRunRecord& run = entry.run;
  run.id = run_id;
  run.pipeline = pipeline->name;
  run.counter = model_->NextCounter(pipeline->name);
  run.label = ExpandLabel(pipeline->label_template, run.counter, materials);
  run.state = RunState::kBuilding;
  run.config_revision = revision;
  run.cause_kind = spec.cause_kind;
  run.trigger_user = spec.user;
  run.cause_message = spec.message;
  run.created_at = now_;
  entry.materials = std::move(materials);
  entry.variables = spec.variables;
  // A value given for a secret stays one: stored, shown and logged masked.
  for (auto& v : entry.variables) {
    v.secure = v.secure || IsSecureVariable(*config, *pipeline, v.name);
    if (v.secure) v.value = secrets::EncryptForStorage(v.value);
  }
  // An upstream trigger stops at a manual first stage; a person triggering
  // the pipeline is the approval, unless the gate wants more (a quorum, or
  // someone other than the triggerer): then they wait like anyone.
  bool stops_at_gate =
      first_is_gate && (spec.cause_kind != "manual" || NeedsSeparateApproval(first.approval));
  RunEntry& added = model_->AddRun(std::move(entry));
  TakeLock(added, stops_at_gate);
  effects->events.push_back(absl::StrCat("triggered ", added.run.pipeline, "/", added.run.counter,
                                         " (", spec.cause_kind, " by ", spec.user, ")"));
  if (stops_at_gate) {
    SetRunState(added, RunState::kAwaitingApproval);
    return run_id;
  }
  std::string approved_by = spec.cause_kind == "manual" ? spec.user : "";
  std::optional<std::string> approval;  // the trigger opened the first gate
  if (spec.cause_kind == "manual" && first_is_gate) approval = "";
  RETURN_IF_ERROR(ScheduleStage(added, *pipeline, 0, approved_by, effects, approval));
  return run_id;
}

absl::Status Planner::ScheduleStage(RunEntry& run, const config::Pipeline& pipeline,
                                    int stage_index, const std::string& approved_by,
                                    Effects* effects, std::optional<std::string> approval_comment,
                                    AttemptKind attempt) {
  const config::Stage& stage = pipeline.stages.at(stage_index);
  ASSIGN_OR_RETURN(int64_t stage_id, ids_->Next(IdKind::kStage));
  store::StageRunRecord rec;
  rec.id = stage_id;
  rec.run_id = run.run.id;
  rec.pipeline = run.run.pipeline;
  rec.name = stage.name;
  rec.stage_index = stage_index;
  int32_t counter = 0;
  for (const auto& [id, s] : run.stages) {
    if (s.name == stage.name) counter = std::max(counter, s.counter);
  }
  rec.counter = counter + 1;
  rec.approval = stage.approval.type == config::Approval::Type::kManual ? "manual" : "success";
  rec.approved_by = approved_by;
  rec.created_at = now_;
  rec.config_revision = attempt.config_revision;
  rec.rerun_failed_jobs = attempt.failed_jobs;
  // One active run per stage across the pipeline's runs: a newer run waits
  // behind the one building, like a train.
  // And one run at a time in a locked environment.
  std::string env_wait;
  bool queued =
      !model_->ActiveStages(run.run.pipeline, stage.name).empty() || EnvLockBlocks(run, &env_wait);
  rec.state = queued ? StageState::kQueued : StageState::kBuilding;
  model_->AddStage(rec);
  if (approval_comment) {
    model_->AddApproval(
        {stage_id, approved_by, now_, std::move(*approval_comment), run.run.id, stage.name});
  }
  SetRunState(run, RunState::kBuilding);
  if (queued) {
    effects->events.push_back(absl::StrCat("queued ", run.run.pipeline, "/", run.run.counter, "/",
                                           stage.name, " ",
                                           env_wait.empty() ? "behind an earlier run" : env_wait));
    return absl::OkStatus();
  }
  StartStage(run, stage_id, effects);
  return absl::OkStatus();
}

void Planner::StartStage(RunEntry& run, int64_t stage_id, Effects* effects) {
  model_->SetStageState(stage_id, StageState::kBuilding, 0);
  const store::StageRunRecord stage = *model_->FindStage(stage_id);
  const config::Pipeline* pipeline_ptr = run.PipelineOf(stage);
  if (pipeline_ptr == nullptr ||
      stage.stage_index >= static_cast<int>(pipeline_ptr->stages.size())) {
    // Its config is gone (cannot happen while revisions are kept): settling
    // a stage without jobs fails it rather than leaving it building.
    effects->events.push_back(absl::StrCat("stage ", run.run.pipeline, "/", run.run.counter, "/",
                                           stage.name, " has no config to run under"));
    work_.push_back({Step::Kind::kSettle, stage_id, {}});
    return;
  }
  const config::Pipeline& pipeline = *pipeline_ptr;
  const config::Stage& stage_cfg = pipeline.stages.at(stage.stage_index);
  bool failed_to_schedule = false;
  bool all_copied = true;
  for (const config::Job& job : stage_cfg.jobs) {
    int instances = job.run_instances > 0 ? job.run_instances : 1;
    std::vector<std::string> pins;  // run_instances: all
    if (job.run_instances < 0) {
      JobRequirements req = Requirements(pipeline, job);
      for (const auto& a : agents_) {
        if (Matches(req, a)) pins.push_back(a.id);
      }
      instances = static_cast<int>(pins.size());
      if (instances == 0) {
        std::string reason = "run_instances: all, but " + ExplainNoMatch(req, {}) + " right now";
        if (!InsertJob(run, pipeline, stage, job, job.name, "", effects).ok()) {
          failed_to_schedule = true;
          continue;
        }
        int64_t attempt = effects->queued.back().job_run_id;
        effects->queued.pop_back();
        FinishJob(attempt, JobState::kFailed, reason);
        failed_to_schedule = true;
        continue;
      }
    }
    for (int i = 1; i <= instances; ++i) {
      std::string name =
          job.run_instances != 0 ? absl::StrCat(job.name, "-runInstance-", i) : job.name;
      if (stage.rerun_failed_jobs && CopyPassedJob(run, stage, name)) continue;
      all_copied = false;
      if (!InsertJob(run, pipeline, stage, job, name, pins.empty() ? "" : pins[i - 1], effects)
               .ok()) {
        failed_to_schedule = true;
      }
    }
  }
  effects->events.push_back(absl::StrCat("scheduled ", run.run.pipeline, "/", run.run.counter, "/",
                                         stage.name, "/", stage.counter));
  // Every job passed before (its failed ones left the config meanwhile):
  // nothing runs, the stage settles now.
  if (failed_to_schedule || (stage.rerun_failed_jobs && all_copied)) {
    work_.push_back({Step::Kind::kSettle, stage_id, {}});
  }
}

absl::Status Planner::InsertJob(RunEntry& run, const config::Pipeline& pipeline,
                                const store::StageRunRecord& stage, const config::Job& job,
                                const std::string& name, const std::string& pinned_agent,
                                Effects* effects) {
  ASSIGN_OR_RETURN(int64_t attempt, ids_->Next(IdKind::kJob));
  store::JobRunRecord rec;
  rec.id = attempt;
  rec.stage_run_id = stage.id;
  rec.name = name;
  rec.config_job = job.name;
  rec.state = JobState::kScheduled;
  rec.scheduled_at = now_;
  rec.pinned_agent = pinned_agent;
  const store::JobRunRecord& added = model_->AddJob(rec);
  QueuedJob queued;
  queued.job_run_id = attempt;
  queued.requirements = Requirements(pipeline, job);
  queued.requirements.agent_id = pinned_agent;
  queued.locator = JobLocator(run, stage, added);
  effects->queued.push_back(std::move(queued));
  return absl::OkStatus();
}

std::optional<QueuedJob> Planner::QueueEntry(int64_t attempt) const {
  RunEntry* run = model_->RunOfJob(attempt);
  if (run == nullptr) return std::nullopt;
  const store::JobRunRecord& job = run->jobs.at(attempt);
  const store::StageRunRecord& stage = run->stages.at(job.stage_run_id);
  QueuedJob q;
  q.job_run_id = attempt;
  q.locator = JobLocator(*run, stage, job);
  // A job gone from its run's config keeps no requirements: assigning it
  // fails it with the reason, rather than leaving it scheduled forever.
  if (const config::Job* cfg = JobConfig(*run, stage, job.config_job)) {
    q.requirements = Requirements(*PipelineOf(*run), *cfg);
  }
  q.requirements.agent_id = job.pinned_agent;
  return q;
}

absl::StatusOr<RunEntry*> Planner::AddLoaded(std::optional<store::RunRows> rows) {
  if (!rows) return nullptr;
  if (RunEntry* known = model_->FindRun(rows->run.id)) return known;
  ASSIGN_OR_RETURN(RunConfigs configs, LoadRunConfigs(*cold_, *rows));
  int64_t id = rows->run.id;
  model_->Load(std::move(*rows), std::move(configs));
  return model_->FindRun(id);
}

absl::StatusOr<RunEntry*> Planner::LoadRun(const std::string& pipeline, int64_t counter) {
  if (counter > 0) {
    if (RunEntry* e = model_->FindRun(pipeline, counter)) return e;
  }
  ASSIGN_OR_RETURN(auto rows, cold_->LoadRun(pipeline, counter));
  ASSIGN_OR_RETURN(RunEntry * e, AddLoaded(std::move(rows)));
  if (e == nullptr) return absl::NotFoundError(absl::StrCat("no run ", pipeline, "/", counter));
  // The newest run in memory may be newer than the newest committed one.
  if (counter == 0) {
    for (auto& [id, r] : model_->runs()) {
      if (r.run.pipeline == pipeline && r.run.counter > e->run.counter) {
        e = model_->FindRun(id);
      }
    }
  }
  return e;
}

absl::StatusOr<RunEntry*> Planner::LoadRunOfJob(int64_t attempt) {
  if (RunEntry* e = model_->RunOfJob(attempt)) return e;
  ASSIGN_OR_RETURN(auto rows, cold_->LoadRunOfJob(attempt));
  return AddLoaded(std::move(rows));
}

void Planner::SetRunState(RunEntry& run, RunState state) {
  if (run.run.state == state) return;
  if (run.run.state == RunState::kBuilding) NoteEnvLockRelease(run);
  store::PipelineRunRecord& r = model_->ChangeRun(run.run.id);
  r.state = state;
  bool final = state != RunState::kBuilding && state != RunState::kAwaitingApproval;
  r.finished_at = final ? now_ : 0;
}

absl::StatusOr<int64_t> Planner::Approve(const std::string& pipeline_name, int64_t counter,
                                         const std::string& stage_name, const GateActor& who,
                                         const std::string& comment, Effects* effects) {
  RETURN_IF_ERROR(CheckApprovalComment(comment));
  ASSIGN_OR_RETURN(RunEntry * run, LoadRun(pipeline_name, counter));
  int64_t revision = 0;
  const config::Pipeline* pipeline = FlowPipeline(*run, &revision);
  if (pipeline == nullptr) return absl::InternalError("run's pipeline not in its config");
  int index = pipeline->StageIndex(stage_name);
  if (index < 0) {
    return absl::NotFoundError(absl::StrCat("pipeline ", pipeline_name, " run ", run->run.counter,
                                            " has no stage '", stage_name, "'"));
  }
  const config::Stage& stage = pipeline->stages[index];
  RETURN_IF_ERROR(CheckStageAllowed(
      *run, absl::StrCat("approve stage ", pipeline_name, "/", run->run.counter, "/", stage_name)));
  // The gate of the run's own revision: the run was created under it, and a
  // later `config apply` cannot widen (or narrow) who opens its gates. (After
  // a re-run --with-current-config --and-following: today's, which the
  // operator chose.)
  RETURN_IF_ERROR(CheckGate(
      stage, who,
      absl::StrCat("approve stage ", pipeline_name, "/", run->run.counter, "/", stage_name)));
  std::string where = absl::StrCat(pipeline_name, "/", run->run.counter, "/", stage_name);
  std::string prev_state = "not_run";
  for (const auto& [id, s] : run->stages) {
    if (s.name == stage_name) {
      return absl::FailedPreconditionError(
          absl::StrCat("stage ", where, " has already run (state ", Name(s.state), ")"));
    }
    if (index > 0 && s.name == pipeline->stages[index - 1].name) {
      prev_state = std::string(Name(s.state));  // by id: the newest attempt last
    }
  }
  if (index > 0) {
    bool ok = prev_state == "passed" || (!stage.approval.allow_only_on_success &&
                                         (prev_state == "failed" || prev_state == "cancelled"));
    if (!ok) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot approve ", where, ": previous stage ",
                       pipeline->stages[index - 1].name, " is ", prev_state));
    }
  }
  // A quorum: each distinct approver is recorded; the one that completes it
  // starts the stage.
  std::vector<std::string> earlier = PendingApprovers(run->approvals, stage_name);
  RETURN_IF_ERROR(CheckApprover(stage.approval, who.user, run->run.trigger_user, earlier,
                                absl::StrCat("approve stage ", where)));
  int have = static_cast<int>(earlier.size()) + 1;
  if (have < stage.approval.required) {
    model_->AddApproval({0, who.user, now_, comment, run->run.id, stage_name});
    effects->events.push_back(absl::StrCat("approval ", have, " of ", stage.approval.required,
                                           " of ", where, " by ", who.user));
    return run->run.id;
  }
  effects->events.push_back(absl::StrCat("approved ", where, " by ", who.user));
  RETURN_IF_ERROR(
      ScheduleStage(*run, *pipeline, index, who.user, effects, comment, {revision, false}));
  RETURN_IF_ERROR(Drain(effects));
  return run->run.id;
}

absl::StatusOr<int64_t> Planner::Cancel(const std::string& pipeline_name, int64_t counter,
                                        const std::string& stage_name, const std::string& user,
                                        Effects* effects) {
  ASSIGN_OR_RETURN(RunEntry * run, LoadRun(pipeline_name, counter));
  const store::StageRunRecord* stage = nullptr;
  for (const auto& [id, s] : run->stages) {
    if (s.name == stage_name) stage = &s;  // by id: the newest attempt last
  }
  std::string where = absl::StrCat(pipeline_name, "/", run->run.counter, "/", stage_name);
  if (stage == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("stage ", where, " has not run: nothing to cancel"));
  }
  absl::StrAppend(&where, "/", stage->counter);
  if (IsFinal(stage->state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("stage ", where, " is already ", Name(stage->state)));
  }
  const std::string reason = absl::StrCat("cancelled by ", user);
  effects->events.push_back(absl::StrCat("stage ", where, " ", reason));
  int64_t stage_id = stage->id;
  if (stage->state == StageState::kQueued) {
    // It never started: no jobs exist, the run ends here.
    model_->SetStageState(stage_id, StageState::kCancelled, now_);
    SetRunState(*run, RunState::kCancelled);
    return run->run.id;
  }
  std::map<std::string, int64_t> newest;
  for (const auto& [id, j] : run->jobs) {
    if (j.stage_run_id == stage_id) newest[j.name] = id;
  }
  bool waiting_for_agents = false;
  for (const auto& [name, attempt] : newest) {
    const store::JobRunRecord& j = run->jobs.at(attempt);
    if (j.state == JobState::kScheduled) {
      FinishJob(attempt, JobState::kCancelled, reason);
      effects->unqueued.push_back(attempt);
    } else if (IsHeld(j.state)) {
      model_->ChangeJob(attempt).cancel_reason = reason;
      effects->cancels.push_back({attempt, j.agent_id, reason});
      waiting_for_agents = true;
    }
  }
  if (!waiting_for_agents) work_.push_back({Step::Kind::kSettle, stage_id, {}});
  RETURN_IF_ERROR(Drain(effects));
  return run->run.id;
}

}  // namespace gantry
