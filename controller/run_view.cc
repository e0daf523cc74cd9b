#include "controller/run_view.h"

#include "absl/strings/str_cat.h"
#include "controller/materials/material_commits_view.h"
#include "controller/planner/env_lock.h"

namespace gantry {
namespace {

void FillJob(const store::JobRunRecord& j, const AgentNames& agents, v1::JobRun* out) {
  out->set_name(j.name);
  out->set_attempt_id(j.id);
  out->set_state(std::string(Name(j.state)));
  out->set_agent_id(j.agent_id);
  auto it = agents.find(j.agent_id);
  if (it != agents.end()) out->set_agent_name(it->second);
  out->set_reason(j.reason);
  out->set_copied_from_attempt(j.copied_from);
  if (j.scheduled_at) SetTimestamp(j.scheduled_at, out->mutable_scheduled_at());
  if (j.started_at) SetTimestamp(j.started_at, out->mutable_started_at());
  if (j.finished_at) SetTimestamp(j.finished_at, out->mutable_finished_at());
}

}  // namespace

void SetTimestamp(int64_t unix_ms, google::protobuf::Timestamp* ts) {
  ts->set_seconds(unix_ms / 1000);
  ts->set_nanos(static_cast<int32_t>((unix_ms % 1000) * 1000000));
}

void BuildRunView(store::Tx& tx, const store::PipelineRunRecord& run, const config::Config* config,
                  const AgentNames& agents, v1::PipelineRun* out) {
  store::RunRows rows;
  rows.run = run;
  rows.materials = tx.RunMaterials(run.id);
  rows.variables = tx.RunVariables(run.id);
  rows.stages = tx.StageRuns(run.id);
  for (const auto& s : rows.stages) {
    for (auto& j : tx.JobRunsOfStage(s.id)) rows.jobs.push_back(std::move(j));
  }
  rows.approvals = tx.ApprovalsOfRuns({run.id});
  BuildRunView(rows, config, agents, out);
  FillMaterialCommits(tx, run.pipeline, out->mutable_cause());
  // Why a queued stage waits: the train of its own stage, or its
  // environment's deploy lock (read from the runs, as the planner decides).
  for (v1::StageRun& st : *out->mutable_stages()) {
    if (st.state() != "queued") continue;
    const config::Environment* env =
        config != nullptr ? LockedEnvironmentOf(*config, run.pipeline) : nullptr;
    if (env == nullptr) {
      st.set_waiting_reason("waiting behind an earlier run of this stage");
      continue;
    }
    auto holder = tx.EnvLockHolder(env->pipelines);
    st.set_waiting_reason(EnvLockWaitReason(
        env->name, holder ? absl::StrCat(holder->first, "/", holder->second) : ""));
  }
}

namespace {

void FillCause(const store::RunRows& rows, v1::PipelineRun* out) {
  const store::PipelineRunRecord& run = rows.run;
  auto* cause = out->mutable_cause();
  cause->set_kind(run.cause_kind);
  cause->set_user(run.trigger_user);
  cause->set_message(run.cause_message);
  for (const auto& m : rows.materials) {
    auto* mr = cause->add_materials();
    mr->set_material(m.material);
    mr->set_type(m.type);
    mr->set_revision(m.revision);
    mr->set_upstream_pipeline(m.upstream_pipeline);
    mr->set_upstream_counter(m.upstream_counter);
    mr->set_upstream_stage(m.upstream_stage);
    mr->set_upstream_stage_counter(m.upstream_stage_counter);
  }
  for (const auto& v : rows.variables) {
    auto* var = out->add_variables();
    var->set_name(v.name);
    var->set_value(v.secure ? "********" : v.value);
    var->set_secure(v.secure);
  }
}

void AddStageRun(const store::RunRows& rows, const store::StageRunRecord& s,
                 const AgentNames& agents, v1::PipelineRun* out) {
  auto* st = out->add_stages();
  st->set_name(s.name);
  st->set_counter(s.counter);
  st->set_state(Name(s.state));
  st->set_approval(s.approval);
  st->set_approved_by(s.approved_by);
  if (s.config_revision != rows.run.config_revision) st->set_config_revision(s.config_revision);
  SetTimestamp(s.created_at, st->mutable_created_at());
  if (s.finished_at) SetTimestamp(s.finished_at, st->mutable_finished_at());
  for (const auto& j : rows.jobs) {
    if (j.stage_run_id == s.id) FillJob(j, agents, st->add_jobs());
  }
  for (const auto& a : rows.approvals) {
    // Approvals before the quorum came before the stage run (its first).
    bool before = a.stage_run_id == 0 && a.stage == s.name && s.counter == 1;
    if (a.stage_run_id != s.id && !before) continue;
    auto* approval = st->add_approvals();
    approval->set_user(a.user);
    SetTimestamp(a.at, approval->mutable_at());
    approval->set_comment(a.comment);
  }
}

// A configured stage that has not run: not_run, or the gate the run waits at.
void AddStageNotRun(const store::RunRows& rows, const config::Stage& stage, bool is_gate,
                    v1::PipelineRun* out) {
  auto* st = out->add_stages();
  st->set_name(stage.name);
  bool manual = stage.approval.type == config::Approval::Type::kManual;
  st->set_approval(manual ? "manual" : "success");
  st->set_state(is_gate ? "awaiting_approval" : "not_run");
  if (manual) st->set_approvals_required(stage.approval.required);
  // The approvals a gate short of its quorum has so far.
  for (const auto& a : rows.approvals) {
    if (a.stage_run_id != 0 || a.stage != stage.name) continue;
    auto* approval = st->add_approvals();
    approval->set_user(a.user);
    SetTimestamp(a.at, approval->mutable_at());
    approval->set_comment(a.comment);
  }
  for (const auto& job : stage.jobs) {
    auto* j = st->add_jobs();
    j->set_name(job.name);
    j->set_state("not_run");
  }
}

}  // namespace

void BuildRunView(const store::RunRows& rows, const config::Config* config,
                  const AgentNames& agents, v1::PipelineRun* out) {
  const store::PipelineRunRecord& run = rows.run;
  out->set_pipeline(run.pipeline);
  out->set_counter(run.counter);
  out->set_label(run.label);
  out->set_state(Name(run.state));
  out->set_config_revision(run.config_revision);
  SetTimestamp(run.created_at, out->mutable_created_at());
  FillCause(rows, out);

  // Newest attempt of each stage.
  std::map<std::string, store::StageRunRecord> latest;
  for (const auto& s : rows.stages) {
    auto it = latest.find(s.name);
    if (it == latest.end() || it->second.counter < s.counter) latest[s.name] = s;
  }
  const config::Pipeline* pipeline =
      config != nullptr ? config->FindPipeline(run.pipeline) : nullptr;
  if (pipeline == nullptr) {
    for (const auto& [name, s] : latest) AddStageRun(rows, s, agents, out);
    return;
  }
  bool gate_marked = false;
  for (const auto& stage : pipeline->stages) {
    auto it = latest.find(stage.name);
    if (it != latest.end()) {
      AddStageRun(rows, it->second, agents, out);
      if (stage.approval.type == config::Approval::Type::kManual) {
        v1::StageRun* added = out->mutable_stages(out->stages_size() - 1);
        added->set_approvals_required(stage.approval.required);
      }
      continue;
    }
    // The first stage not run of a run waiting at a gate is the gate.
    bool is_gate = !gate_marked && run.state == RunState::kAwaitingApproval;
    gate_marked |= is_gate;
    AddStageNotRun(rows, stage, is_gate, out);
  }
}

}  // namespace gantry
