#include "controller/scheduling/assignment_builder.h"

#include "absl/strings/str_cat.h"
#include "controller/materials/git_assignment.h"
#include "controller/variables.h"
#include "common/secrets/cipher.h"

namespace gantry {
namespace {

const char* RunIfName(config::RunIf r) {
  return r == config::RunIf::kFailed ? "failed" : r == config::RunIf::kAny ? "any" : "passed";
}

void ToProtoTask(const config::Task& task, int64_t run_counter, const std::string& pipeline,
                 v1::Task* out) {
  out->set_run_if(RunIfName(task.run_if));
  if (task.kind == config::Task::Kind::kExec) {
    auto* exec = out->mutable_exec();
    exec->set_command(task.exec.command);
    for (const auto& a : task.exec.arguments) exec->add_arguments(a);
    exec->set_working_directory(task.exec.working_directory);
  } else {
    auto* fetch = out->mutable_fetch();
    fetch->set_pipeline(task.fetch.pipeline.empty() ? pipeline : task.fetch.pipeline);
    if (task.fetch.pipeline.empty() || task.fetch.pipeline == pipeline) {
      fetch->set_pipeline_counter(run_counter);
    }
    fetch->set_stage(task.fetch.stage);
    fetch->set_job(task.fetch.job);
    fetch->set_source(task.fetch.source);
    fetch->set_destination(task.fetch.destination);
    fetch->set_is_file(task.fetch.is_file);
    // Until the caller resolves the exact attempt: what the config names.
    fetch->set_locator(absl::StrCat(fetch->pipeline(), "/", task.fetch.stage, "/", task.fetch.job));
  }
  if (!task.on_cancel.empty()) {
    ToProtoTask(task.on_cancel.front(), run_counter, pipeline, out->mutable_on_cancel());
  }
}

// Built-ins, then environment, pipeline, stage and job variables, then the
// trigger's overrides: each layer replaces the one before.
void AddVariables(const RunEntry& entry, const store::StageRunRecord& stage,
                  const store::JobRunRecord& job, const config::Pipeline& pipeline,
                  const config::Job& job_cfg, const AssignmentInput& in, v1::Assign* a) {
  const store::PipelineRunRecord& run = entry.run;
  const config::Stage& stage_cfg = pipeline.stages[stage.stage_index];
  const config::Environment* env = in.current->EnvironmentOfPipeline(run.pipeline);
  std::vector<config::Variable> builtins = {
      {"GANTRY_PIPELINE_NAME", run.pipeline, false},
      {"GANTRY_PIPELINE_COUNTER", absl::StrCat(run.counter), false},
      {"GANTRY_PIPELINE_LABEL", run.label, false},
      {"GANTRY_STAGE_NAME", stage.name, false},
      {"GANTRY_STAGE_COUNTER", absl::StrCat(stage.counter), false},
      {"GANTRY_JOB_NAME", job.name, false},
      {"GANTRY_TRIGGER_USER", run.trigger_user, false},
      {"GANTRY_ENVIRONMENT_NAME", env ? env->name : "", false},
      {"GANTRY_CONTROLLER_URL", in.controller_url, false},
  };
  // Attempts after the first exist only through `stage rerun`, which always
  // re-runs the newest attempt.
  if (stage.counter > 1) {
    builtins.push_back({"GANTRY_RERUN_OF_STAGE_COUNTER", absl::StrCat(stage.counter - 1), false});
  }
  for (const auto& m : entry.materials) {
    builtins.push_back({config::RevisionVariableName(m.material), m.revision, false});
  }
  AddGitVariables(pipeline, &builtins);
  std::vector<config::Variable> overrides;
  for (const auto& v : entry.variables) overrides.push_back({v.name, v.value, v.secure});
  std::vector<config::Variable> merged =
      MergeVariables({&builtins, env ? &env->variables : nullptr, &pipeline.variables,
                      &stage_cfg.variables, &job_cfg.variables, &overrides});
  for (const auto& v : merged) {
    auto* var = a->add_variables();
    var->set_name(v.name);
    var->set_value(v.secure ? secrets::DecryptForJob(v.name, v.value) : v.value);
    var->set_secure(v.secure);
  }
}

}  // namespace

bool HasFetchTasks(const v1::Assign& assign) {
  for (const auto& t : assign.tasks()) {
    if (t.has_fetch()) return true;
  }
  return false;
}

absl::StatusOr<v1::Assign> BuildAssignment(const AssignmentInput& in) {
  const RunEntry& entry = *in.run;
  const store::PipelineRunRecord& run = entry.run;
  auto job_it = entry.jobs.find(in.attempt);
  if (job_it == entry.jobs.end()) return absl::InternalError("the attempt is not in its run");
  const store::JobRunRecord& job = job_it->second;
  const store::StageRunRecord& stage = entry.stages.at(job.stage_run_id);
  const config::Pipeline* pipeline = entry.PipelineOf(stage);
  if (pipeline == nullptr || stage.stage_index >= static_cast<int>(pipeline->stages.size())) {
    return absl::InternalError("the run's config has no such stage");
  }
  const config::Stage& stage_cfg = pipeline->stages[stage.stage_index];
  const config::Job* job_cfg = nullptr;
  for (const auto& j : stage_cfg.jobs) {
    if (j.name == job.config_job) job_cfg = &j;
  }
  if (job_cfg == nullptr) return absl::InternalError("the run's config has no such job");

  v1::Assign a;
  a.set_attempt_id(job.id);
  a.set_pipeline(run.pipeline);
  a.set_pipeline_counter(run.counter);
  a.set_pipeline_label(run.label);
  a.set_stage(stage.name);
  a.set_stage_counter(stage.counter);
  a.set_job(job.name);
  a.set_working_directory(absl::StrCat("pipelines/", run.pipeline));
  a.set_timeout_seconds(job_cfg->timeout_seconds);
  a.set_max_duration_seconds(job_cfg->max_duration_seconds);
  a.set_transfer_xxh128(true);
  for (const auto& t : job_cfg->tasks) ToProtoTask(t, run.counter, run.pipeline, a.add_tasks());
  for (const auto& art : job_cfg->artifacts) {
    v1::ArtifactSpec* spec = a.add_artifacts();
    spec->set_source(art.source);
    spec->set_destination(art.destination);
    spec->set_kind(art.kind == config::Artifact::Kind::kTest ? "test" : "build");
    spec->set_run_if(RunIfName(art.run_if));
  }

  AddVariables(entry, stage, job, *pipeline, *job_cfg, in, &a);
  AddGitCheckouts(*pipeline, stage_cfg, entry.materials, &a);
  return a;
}

}  // namespace gantry
