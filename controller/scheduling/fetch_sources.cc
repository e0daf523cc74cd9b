#include "controller/scheduling/fetch_sources.h"

#include "controller/artifacts/fetch_resolver.h"

namespace gantry {

void FillFetchSources(store::Tx& tx, const AssignmentInput& in, v1::Assign* assign) {
  const RunEntry& entry = *in.run;
  const store::JobRunRecord& job = entry.jobs.at(in.attempt);
  const store::StageRunRecord& stage = entry.stages.at(job.stage_run_id);
  const config::Pipeline* pipeline = entry.PipelineOf(stage);
  if (pipeline == nullptr || stage.stage_index >= static_cast<int>(pipeline->stages.size())) return;
  const config::Job* job_cfg = nullptr;
  for (const auto& j : pipeline->stages[stage.stage_index].jobs) {
    if (j.name == job.config_job) job_cfg = &j;
  }
  if (job_cfg == nullptr) return;
  for (size_t i = 0; i < job_cfg->tasks.size() && i < static_cast<size_t>(assign->tasks_size());
       ++i) {
    const config::Task& t = job_cfg->tasks[i];
    if (t.kind != config::Task::Kind::kFetch) continue;
    auto from = ResolveFetch(tx, entry.run, t.fetch);
    if (!from.ok()) continue;
    v1::FetchTask* fetch = assign->mutable_tasks(static_cast<int>(i))->mutable_fetch();
    fetch->set_pipeline(from->run.pipeline);
    fetch->set_pipeline_counter(from->run.counter);
    fetch->set_stage_counter(from->stage.counter);
    fetch->set_locator(from->Locator());
  }
}

}  // namespace gantry
