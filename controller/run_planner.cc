#include "controller/run_planner.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace gantry {
namespace {

const char* ApprovalName(const config::Approval& a) {
  return a.type == config::Approval::Type::kManual ? "manual" : "success";
}

}  // namespace

bool IsFinalJobState(const std::string& state) {
  return state == "passed" || state == "failed" || state == "cancelled" ||
         state == "lost";
}

std::string ExpandLabel(const std::string& label_template, int64_t counter,
                        const std::vector<store::MaterialRevisionRecord>& materials) {
  std::string tmpl = label_template.empty() ? "${COUNT}" : label_template;
  std::string out;
  size_t i = 0;
  while (i < tmpl.size()) {
    size_t start = tmpl.find("${", i);
    if (start == std::string::npos) {
      out.append(tmpl, i, std::string::npos);
      break;
    }
    out.append(tmpl, i, start - i);
    size_t end = tmpl.find('}', start);
    if (end == std::string::npos) {
      out.append(tmpl, start, std::string::npos);
      break;
    }
    std::string key = tmpl.substr(start + 2, end - start - 2);
    size_t truncate = std::string::npos;
    size_t bracket = key.find("[:");
    if (bracket != std::string::npos && key.back() == ']') {
      int n = 0;
      if (absl::SimpleAtoi(key.substr(bracket + 2, key.size() - bracket - 3), &n) &&
          n > 0) {
        truncate = static_cast<size_t>(n);
      }
      key = key.substr(0, bracket);
    }
    std::string value;
    if (key == "COUNT") {
      value = absl::StrCat(counter);
    } else {
      for (const auto& m : materials) {
        if (m.material == key) {
          value = m.type == "pipeline" ? m.upstream_pipeline + "-" +
                                             absl::StrCat(m.upstream_counter)
                                       : m.revision;
        }
      }
    }
    out += value.substr(0, truncate);
    i = end + 1;
  }
  return out;
}

RunPlanner::RunPlanner(
    ConfigCache* configs,
    std::function<std::vector<std::string>(const JobRequirements&)> matching_agents)
    : configs_(configs), matching_agents_(std::move(matching_agents)) {}

JobRequirements RunPlanner::Requirements(const config::Pipeline& pipeline,
                                         const config::Job& job) const {
  JobRequirements req;
  req.resources = job.resources;
  auto current = configs_->current();
  if (const auto* env = current->EnvironmentOfPipeline(pipeline.name)) {
    req.environment = env->name;
  }
  return req;
}

absl::StatusOr<std::shared_ptr<const config::Config>> RunPlanner::ConfigOf(
    store::Tx& tx, const store::PipelineRunRecord& run) {
  return configs_->Get(tx, run.config_revision);
}

absl::StatusOr<store::PipelineRunRecord> RunPlanner::Trigger(
    store::Tx& tx, const TriggerSpec& spec, PlanEffects* effects) {
  int64_t revision = configs_->current_revision();
  auto config = configs_->current();
  const config::Pipeline* pipeline = config->FindPipeline(spec.pipeline);
  if (pipeline == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no pipeline named '", spec.pipeline, "' in config revision ",
                     revision));
  }
  for (const auto& [material, rev] : spec.revisions) {
    bool known = false;
    for (const auto& m : pipeline->materials) known |= m.name == material;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pipeline '", spec.pipeline, "' has no material named '", material, "'"));
    }
  }

  std::vector<store::MaterialRevisionRecord> materials;
  for (const auto& m : pipeline->materials) {
    store::MaterialRevisionRecord rec;
    rec.material = m.name;
    if (m.type == config::Material::Type::kGit) {
      rec.type = "git";
      auto it = spec.revisions.find(m.name);
      if (it != spec.revisions.end()) rec.revision = it->second;
    } else {
      rec.type = "pipeline";
      rec.upstream_pipeline = m.pipeline;
      rec.upstream_stage = m.stage;
      if (spec.upstream && spec.upstream->upstream_pipeline == m.pipeline &&
          spec.upstream->upstream_stage == m.stage) {
        rec = *spec.upstream;
        rec.material = m.name;
      } else {
        // Without an explicit upstream run, GoCD takes the newest run whose
        // stage passed; a pipeline whose upstream never passed cannot run.
        auto latest = tx.LatestPassedStage(m.pipeline, m.stage);
        if (!latest) {
          return absl::FailedPreconditionError(absl::StrCat(
              "cannot trigger '", spec.pipeline, "': upstream ", m.pipeline, "/",
              m.stage, " has never passed"));
        }
        rec.upstream_counter = latest->first.counter;
        rec.upstream_stage_counter = latest->second.counter;
      }
      rec.revision = absl::StrCat(rec.upstream_pipeline, "/", rec.upstream_counter,
                                  "/", rec.upstream_stage, "/",
                                  rec.upstream_stage_counter);
    }
    materials.push_back(std::move(rec));
  }

  tx.EnsurePipeline(pipeline->name);
  store::PipelineRunRecord run;
  run.pipeline = pipeline->name;
  run.counter = tx.NextCounter(pipeline->name);
  run.label = ExpandLabel(pipeline->label_template, run.counter, materials);
  run.state = "building";
  run.config_revision = revision;
  run.cause_kind = spec.cause_kind;
  run.trigger_user = spec.user;
  run.cause_message = spec.message;
  run.id = tx.InsertPipelineRun(run);
  tx.InsertRunMaterials(run.id, materials);
  tx.InsertRunVariables(run.id, spec.variables);
  effects->events.push_back(absl::StrCat("triggered ", run.pipeline, "/", run.counter,
                                         " (", spec.cause_kind, " by ", spec.user, ")"));

  // An upstream trigger stops at a manual first stage; a person triggering
  // the pipeline is the approval.
  const config::Stage& first = pipeline->stages.front();
  if (spec.cause_kind != "manual" &&
      first.approval.type == config::Approval::Type::kManual) {
    tx.SetPipelineRunState(run.id, "awaiting_approval", false);
    run.state = "awaiting_approval";
    return run;
  }
  std::string approved_by = spec.cause_kind == "manual" ? spec.user : "";
  RETURN_IF_ERROR(ScheduleStage(tx, run, *pipeline, 0, approved_by, effects));
  // ScheduleStage may have settled the stage at once (nothing could run).
  auto fresh = tx.GetPipelineRun(run.id);
  return fresh ? *fresh : run;
}

absl::Status RunPlanner::ScheduleStage(store::Tx& tx,
                                       const store::PipelineRunRecord& run,
                                       const config::Pipeline& pipeline,
                                       int stage_index,
                                       const std::string& approved_by,
                                       PlanEffects* effects) {
  const config::Stage& stage = pipeline.stages.at(stage_index);
  store::StageRunRecord rec;
  rec.run_id = run.id;
  rec.name = stage.name;
  rec.stage_index = stage_index;
  rec.counter = tx.LatestStageCounter(run.id, stage.name) + 1;
  rec.approval = ApprovalName(stage.approval);
  rec.approved_by = approved_by;
  // One active run per stage across the pipeline's runs: a newer run waits
  // behind the one building, like a train.
  bool queued = tx.OtherRunBuildingStage(run.pipeline, stage.name, run.id) ||
                tx.OldestQueuedStage(run.pipeline, stage.name).has_value();
  rec.state = queued ? "queued" : "building";
  rec.id = tx.InsertStageRun(rec);
  tx.SetPipelineRunState(run.id, "building", false);
  if (queued) {
    effects->events.push_back(absl::StrCat("queued ", run.pipeline, "/", run.counter, "/",
                                           stage.name, " behind an earlier run"));
    return absl::OkStatus();
  }
  return StartStage(tx, run, pipeline, rec, effects);
}

absl::Status RunPlanner::StartStage(store::Tx& tx, const store::PipelineRunRecord& run,
                                    const config::Pipeline& pipeline,
                                    const store::StageRunRecord& rec,
                                    PlanEffects* effects) {
  const config::Stage& stage = pipeline.stages.at(rec.stage_index);
  tx.SetStageRunState(rec.id, "building", false);
  bool failed_to_schedule = false;
  for (const config::Job& job : stage.jobs) {
    int instances = job.run_instances > 0 ? job.run_instances : 1;
    std::vector<std::string> pins;  // run_instances: all
    if (job.run_instances < 0) {
      JobRequirements req = Requirements(pipeline, job);
      if (matching_agents_) pins = matching_agents_(req);
      instances = static_cast<int>(pins.size());
      if (instances == 0) {
        int64_t id = tx.InsertJobRun(rec.id, job.name, job.name);
        tx.TransitionJob(id, {"scheduled"}, "failed", "",
                         "run_instances: all, but " + ExplainNoMatch(req, {}) +
                             " right now");
        failed_to_schedule = true;
        continue;
      }
    }
    for (int i = 1; i <= instances; ++i) {
      std::string name = job.run_instances != 0
                             ? absl::StrCat(job.name, "-runInstance-", i)
                             : job.name;
      InsertScheduledJob(tx, run, pipeline, rec, job, name, pins.empty() ? "" : pins[i - 1],
                         effects);
    }
  }
  effects->events.push_back(absl::StrCat("scheduled ", run.pipeline, "/", run.counter,
                                         "/", stage.name, "/", rec.counter));
  if (failed_to_schedule) return SettleStage(tx, rec.id, effects);
  return absl::OkStatus();
}

void RunPlanner::InsertScheduledJob(store::Tx& tx, const store::PipelineRunRecord& run,
                                    const config::Pipeline& pipeline,
                                    const store::StageRunRecord& stage, const config::Job& job,
                                    const std::string& name, const std::string& pinned_agent,
                                    PlanEffects* effects) {
  ScheduledJob s;
  s.job_run_id = tx.InsertJobRun(stage.id, name, job.name, pinned_agent);
  s.name = name;
  s.config_job = job.name;
  s.stage = stage;
  s.run = run;
  s.requirements = Requirements(pipeline, job);
  s.requirements.agent_id = pinned_agent;
  effects->scheduled_jobs.push_back(std::move(s));
}

absl::StatusOr<std::optional<ScheduledJob>> RunPlanner::LoadScheduledJob(store::Tx& tx,
                                                                         int64_t job_run_id) {
  auto job = tx.GetJobRun(job_run_id, false);
  if (!job) return std::nullopt;
  auto stage = tx.GetStageRun(job->stage_run_id);
  auto run = stage ? tx.GetPipelineRun(stage->run_id) : std::nullopt;
  if (!run) return std::nullopt;
  ScheduledJob s;
  s.job_run_id = job->id;
  s.name = job->name;
  s.config_job = job->config_job;
  s.stage = *stage;
  s.run = *run;
  // A job gone from its run's config keeps no requirements: assigning it
  // fails it with the reason, rather than leaving it scheduled forever.
  ASSIGN_OR_RETURN(auto config, ConfigOf(tx, *run));
  const config::Pipeline* pipeline = config->FindPipeline(run->pipeline);
  if (pipeline != nullptr && stage->stage_index < static_cast<int>(pipeline->stages.size())) {
    for (const auto& j : pipeline->stages[stage->stage_index].jobs) {
      if (j.name == job->config_job) s.requirements = Requirements(*pipeline, j);
    }
  }
  s.requirements.agent_id = job->pinned_agent;
  return s;
}

std::string ScheduledJob::Locator() const {
  return absl::StrCat(run.pipeline, "/", run.counter, "/", stage.name, "/", stage.counter, "/",
                      name);
}

absl::Status RunPlanner::StartQueued(store::Tx& tx, const std::string& pipeline_name,
                                     const std::string& stage_name, PlanEffects* effects) {
  auto next = tx.OldestQueuedStage(pipeline_name, stage_name);
  if (!next) return absl::OkStatus();
  auto run = tx.GetPipelineRun(next->run_id);
  if (!run) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto config, ConfigOf(tx, *run));
  const config::Pipeline* pipeline = config->FindPipeline(run->pipeline);
  if (pipeline == nullptr) return absl::InternalError("run's pipeline not in its config");
  return StartStage(tx, *run, *pipeline, *next, effects);
}

absl::StatusOr<bool> RunPlanner::LoseJob(store::Tx& tx, int64_t job_run_id,
                                         const std::string& agent_id,
                                         const std::string& reason, PlanEffects* effects) {
  auto job = tx.GetJobRun(job_run_id, true);
  if (!job || job->agent_id != agent_id ||
      (job->state != "assigned" && job->state != "running")) {
    return false;
  }
  tx.TransitionJob(job_run_id, {"assigned", "running"}, "lost", agent_id, reason);
  auto stage = tx.GetStageRun(job->stage_run_id);
  auto run = tx.GetPipelineRun(stage->run_id);
  if (!job->cancel_reason.empty()) {
    // It was being cancelled: the cancel stands, nothing is rescheduled.
    tx.TransitionJob(job_run_id, {"lost"}, "cancelled", agent_id,
                     absl::StrCat(job->cancel_reason, " (agent lost: ", reason, ")"));
    RETURN_IF_ERROR(SettleStage(tx, job->stage_run_id, effects));
    return true;
  }
  ASSIGN_OR_RETURN(auto config, ConfigOf(tx, *run));
  const config::Pipeline* pipeline = config->FindPipeline(run->pipeline);
  const config::Job* job_cfg = nullptr;
  if (pipeline != nullptr && stage->stage_index < static_cast<int>(pipeline->stages.size())) {
    for (const auto& j : pipeline->stages[stage->stage_index].jobs) {
      if (j.name == job->config_job) job_cfg = &j;
    }
  }
  bool reschedule = job_cfg != nullptr && job_cfg->on_agent_lost == config::OnAgentLost::kReschedule;
  std::string where = absl::StrCat(run->pipeline, "/", run->counter, "/", stage->name, "/",
                                   stage->counter, "/", job->name);
  if (reschedule) {
    InsertScheduledJob(tx, *run, *pipeline, *stage, *job_cfg, job->name, job->pinned_agent,
                       effects);
    effects->events.push_back(absl::StrCat(where, " lost (", reason,
                                           "): rescheduled as a new attempt"));
    return true;
  }
  effects->events.push_back(absl::StrCat(where, " lost (", reason, "): failing it"));
  RETURN_IF_ERROR(SettleStage(tx, job->stage_run_id, effects));
  return true;
}

absl::Status RunPlanner::SettleStage(store::Tx& tx, int64_t stage_run_id,
                                     PlanEffects* effects) {
  auto stage = tx.GetStageRun(stage_run_id);
  if (!stage) return absl::NotFoundError("stage run vanished");
  // Only the newest attempt of each job counts: a rescheduled job's lost
  // attempt is history.
  std::map<std::string, store::JobRunRecord> newest;
  for (auto& j : tx.JobRunsOfStage(stage_run_id)) newest[j.name] = std::move(j);
  bool any_failed = false, any_cancelled = false;
  for (const auto& [name, j] : newest) {
    if (!IsFinalJobState(j.state)) return absl::OkStatus();  // others still running
    any_failed |= j.state == "failed" || j.state == "lost";
    any_cancelled |= j.state == "cancelled";
  }
  std::string result = any_failed      ? "failed"
                       : any_cancelled ? "cancelled"
                                       : "passed";
  tx.SetStageRunState(stage_run_id, result, true);
  auto run = tx.GetPipelineRun(stage->run_id);
  if (!run) return absl::NotFoundError("pipeline run vanished");
  std::string where = absl::StrCat(run->pipeline, "/", run->counter, "/",
                                   stage->name, "/", stage->counter);
  effects->events.push_back(absl::StrCat("stage ", where, " ", result));

  // The next run queued behind this stage may go now.
  RETURN_IF_ERROR(StartQueued(tx, run->pipeline, stage->name, effects));
  if (result != "passed") {
    tx.SetPipelineRunState(run->id, result, true);
    return absl::OkStatus();
  }

  ASSIGN_OR_RETURN(auto config, ConfigOf(tx, *run));
  const config::Pipeline* pipeline = config->FindPipeline(run->pipeline);
  if (pipeline == nullptr) return absl::InternalError("run's pipeline not in its config");

  // Downstream pipelines come from today's config: what depends on this
  // stage now is what should run now.
  auto current = configs_->current();
  for (const config::Pipeline* down : current->Downstreams(run->pipeline, stage->name)) {
    TriggerSpec spec;
    spec.pipeline = down->name;
    spec.user = run->trigger_user;
    spec.cause_kind = "upstream";
    spec.message = absl::StrCat("triggered by ", where);
    store::MaterialRevisionRecord up;
    up.type = "pipeline";
    up.upstream_pipeline = run->pipeline;
    up.upstream_counter = run->counter;
    up.upstream_stage = stage->name;
    up.upstream_stage_counter = stage->counter;
    spec.upstream = up;
    auto triggered = Trigger(tx, spec, effects);
    if (!triggered.ok()) {
      effects->events.push_back(absl::StrCat("could not trigger ", down->name,
                                             " after ", where, ": ",
                                             triggered.status().message()));
    }
  }

  int next = stage->stage_index + 1;
  // The run goes on only if this is the newest attempt of the latest stage
  // that ran; re-running an earlier stage does not re-run later ones.
  auto stages = tx.StageRuns(run->id);
  for (const auto& s : stages) {
    if (s.stage_index > stage->stage_index) return absl::OkStatus();
  }
  if (next >= static_cast<int>(pipeline->stages.size())) {
    tx.SetPipelineRunState(run->id, "passed", true);
    effects->events.push_back(absl::StrCat("pipeline ", run->pipeline, "/",
                                           run->counter, " passed"));
    return absl::OkStatus();
  }
  if (pipeline->stages[next].approval.type == config::Approval::Type::kManual) {
    tx.SetPipelineRunState(run->id, "awaiting_approval", false);
    return absl::OkStatus();
  }
  return ScheduleStage(tx, *run, *pipeline, next, "", effects);
}

absl::StatusOr<store::PipelineRunRecord> RunPlanner::Approve(
    store::Tx& tx, const std::string& pipeline_name, int64_t counter,
    const std::string& stage_name, const std::string& user, PlanEffects* effects) {
  auto run = tx.FindPipelineRun(pipeline_name, counter);
  if (!run) {
    return absl::NotFoundError(
        absl::StrCat("no run ", pipeline_name, "/", counter));
  }
  ASSIGN_OR_RETURN(auto config, ConfigOf(tx, *run));
  const config::Pipeline* pipeline = config->FindPipeline(run->pipeline);
  if (pipeline == nullptr) return absl::InternalError("run's pipeline not in its config");
  int index = pipeline->StageIndex(stage_name);
  if (index < 0) {
    return absl::NotFoundError(absl::StrCat("pipeline ", pipeline_name, " run ",
                                            counter, " has no stage '", stage_name, "'"));
  }
  const config::Stage& stage = pipeline->stages[index];
  if (!stage.approval.users.empty()) {
    bool allowed = false;
    for (const auto& u : stage.approval.users) allowed |= u == user;
    if (!allowed) {
      return absl::PermissionDeniedError(absl::StrCat(
          "user '", user, "' may not approve stage ", stage_name, " (allowed: ",
          absl::StrJoin(stage.approval.users, ", "), ")"));
    }
  }
  auto stages = tx.StageRuns(run->id);
  for (const auto& s : stages) {
    if (s.name == stage_name) {
      return absl::FailedPreconditionError(absl::StrCat(
          "stage ", pipeline_name, "/", counter, "/", stage_name,
          " has already run (state ", s.state, ")"));
    }
  }
  if (index > 0) {
    const std::string& prev = pipeline->stages[index - 1].name;
    std::string prev_state = "not_run";
    for (const auto& s : stages) {
      if (s.name == prev) prev_state = s.state;  // ordered: newest attempt last
    }
    bool ok = prev_state == "passed" ||
              (!stage.approval.allow_only_on_success &&
               (prev_state == "failed" || prev_state == "cancelled"));
    if (!ok) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot approve ", pipeline_name, "/", counter, "/", stage_name,
          ": previous stage ", prev, " is ", prev_state));
    }
  }
  effects->events.push_back(absl::StrCat("approved ", pipeline_name, "/", counter,
                                         "/", stage_name, " by ", user));
  RETURN_IF_ERROR(ScheduleStage(tx, *run, *pipeline, index, user, effects));
  auto fresh = tx.GetPipelineRun(run->id);
  return fresh ? *fresh : *run;
}

absl::StatusOr<store::PipelineRunRecord> RunPlanner::Cancel(
    store::Tx& tx, const std::string& pipeline_name, int64_t counter,
    const std::string& stage_name, const std::string& user, PlanEffects* effects) {
  auto run = tx.FindPipelineRun(pipeline_name, counter);
  if (!run) {
    return absl::NotFoundError(absl::StrCat("no run ", pipeline_name, "/", counter));
  }
  std::optional<store::StageRunRecord> stage;
  for (auto& s : tx.StageRuns(run->id)) {
    if (s.name == stage_name) stage = std::move(s);  // ordered: newest attempt last
  }
  std::string where = absl::StrCat(pipeline_name, "/", counter, "/", stage_name);
  if (!stage) {
    return absl::FailedPreconditionError(
        absl::StrCat("stage ", where, " has not run: nothing to cancel"));
  }
  absl::StrAppend(&where, "/", stage->counter);
  if (stage->state != "building" && stage->state != "queued") {
    return absl::FailedPreconditionError(
        absl::StrCat("stage ", where, " is already ", stage->state));
  }
  const std::string reason = absl::StrCat("cancelled by ", user);
  effects->events.push_back(absl::StrCat("stage ", where, " ", reason));
  if (stage->state == "queued") {
    // It never started: no jobs exist, the run ends here.
    tx.SetStageRunState(stage->id, "cancelled", true);
    tx.SetPipelineRunState(run->id, "cancelled", true);
  } else {
    std::map<std::string, store::JobRunRecord> newest;
    for (auto& j : tx.JobRunsOfStage(stage->id)) newest[j.name] = std::move(j);
    for (const auto& [name, j] : newest) {
      if (j.state == "scheduled") {
        tx.TransitionJob(j.id, {"scheduled"}, "cancelled", "", reason);
        effects->ended_jobs.push_back(j.id);
      } else if (j.state == "assigned" || j.state == "running") {
        tx.SetCancelReason(j.id, reason);
        effects->cancels.push_back({j.id, j.agent_id, reason});
      }
    }
    if (effects->cancels.empty()) RETURN_IF_ERROR(SettleStage(tx, stage->id, effects));
  }
  auto fresh = tx.GetPipelineRun(run->id);
  return fresh ? *fresh : *run;
}

}  // namespace gantry
