#include "controller/planner/run_model.h"

namespace gantry {

store::RunRows RunEntry::Rows() const {
  store::RunRows rows;
  rows.run = run;
  rows.materials = materials;
  rows.variables = variables;
  for (const auto& [id, s] : stages) rows.stages.push_back(s);
  for (const auto& [id, j] : jobs) rows.jobs.push_back(j);
  rows.approvals = approvals;
  rows.rerun_follows = rerun_follows;
  return rows;
}

void RunModel::Reset(std::map<std::string, int64_t> counters) {
  *this = RunModel();
  counters_ = std::move(counters);
}

const config::Config* RunEntry::ConfigOf(const store::StageRunRecord& stage) const {
  if (stage.config_revision == 0 || stage.config_revision == run.config_revision) {
    return config.get();
  }
  auto it = stage_configs.find(stage.config_revision);
  return it == stage_configs.end() ? nullptr : it->second.get();
}

const config::Pipeline* RunEntry::PipelineOf(const store::StageRunRecord& stage) const {
  const config::Config* c = ConfigOf(stage);
  return c != nullptr ? c->FindPipeline(run.pipeline) : nullptr;
}

void RunModel::Load(store::RunRows rows, RunConfigs configs) {
  RunEntry entry;
  entry.run = std::move(rows.run);
  entry.materials = std::move(rows.materials);
  entry.variables = std::move(rows.variables);
  entry.approvals = std::move(rows.approvals);
  entry.rerun_follows = rows.rerun_follows;
  entry.config = std::move(configs.run);
  entry.stage_configs = std::move(configs.stages);
  int64_t id = entry.run.id;
  for (auto& s : rows.stages) {
    run_of_stage_[s.id] = id;
    IndexStage(s);
    entry.stages.emplace(s.id, std::move(s));
  }
  for (auto& j : rows.jobs) {
    run_of_job_[j.id] = id;
    entry.jobs.emplace(j.id, std::move(j));
  }
  runs_[id] = std::move(entry);
}

RunEntry* RunModel::FindRun(int64_t run_id) {
  auto it = runs_.find(run_id);
  return it == runs_.end() ? nullptr : &it->second;
}

RunEntry* RunModel::FindRun(const std::string& pipeline, int64_t counter) {
  for (auto& [id, e] : runs_) {
    if (e.run.pipeline == pipeline && e.run.counter == counter) return &e;
  }
  return nullptr;
}

RunEntry* RunModel::RunOfStage(int64_t stage_id) {
  auto it = run_of_stage_.find(stage_id);
  return it == run_of_stage_.end() ? nullptr : FindRun(it->second);
}

RunEntry* RunModel::RunOfJob(int64_t job_id) {
  auto it = run_of_job_.find(job_id);
  return it == run_of_job_.end() ? nullptr : FindRun(it->second);
}

store::StageRunRecord* RunModel::FindStage(int64_t stage_id) {
  RunEntry* e = RunOfStage(stage_id);
  if (e == nullptr) return nullptr;
  auto it = e->stages.find(stage_id);
  return it == e->stages.end() ? nullptr : &it->second;
}

store::JobRunRecord* RunModel::FindJob(int64_t job_id) {
  RunEntry* e = RunOfJob(job_id);
  if (e == nullptr) return nullptr;
  auto it = e->jobs.find(job_id);
  return it == e->jobs.end() ? nullptr : &it->second;
}

std::vector<int64_t> RunModel::ActiveStages(const std::string& pipeline,
                                            const std::string& stage) const {
  auto it = active_stages_.find({pipeline, stage});
  if (it == active_stages_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

void RunModel::IndexStage(const store::StageRunRecord& s) {
  auto key = std::make_pair(s.pipeline, s.name);
  if (IsFinal(s.state)) {
    auto it = active_stages_.find(key);
    if (it == active_stages_.end()) return;
    it->second.erase(s.id);
    if (it->second.empty()) active_stages_.erase(it);
  } else {
    active_stages_[key].insert(s.id);
  }
}

int64_t RunModel::NextCounter(const std::string& pipeline) {
  changed_counters_.insert(pipeline);
  return ++counters_[pipeline];
}

RunEntry& RunModel::AddRun(RunEntry entry) {
  int64_t id = entry.run.id;
  new_runs_.insert(id);
  RunEntry& e = runs_[id] = std::move(entry);
  return e;
}

store::StageRunRecord& RunModel::AddStage(store::StageRunRecord stage) {
  int64_t id = stage.id;
  new_stages_.insert(id);
  run_of_stage_[id] = stage.run_id;
  IndexStage(stage);
  return runs_.at(stage.run_id).stages[id] = std::move(stage);
}

store::JobRunRecord& RunModel::AddJob(store::JobRunRecord job) {
  int64_t id = job.id;
  int64_t run_id = run_of_stage_.at(job.stage_run_id);
  new_jobs_.insert(id);
  run_of_job_[id] = run_id;
  return runs_.at(run_id).jobs[id] = std::move(job);
}

store::PipelineRunRecord& RunModel::ChangeRun(int64_t run_id) {
  changed_runs_.insert(run_id);
  return runs_.at(run_id).run;
}

store::StageRunRecord& RunModel::ChangeStage(int64_t stage_id) {
  changed_stages_.insert(stage_id);
  return *FindStage(stage_id);
}

store::JobRunRecord& RunModel::ChangeJob(int64_t job_id) {
  changed_jobs_.insert(job_id);
  return *FindJob(job_id);
}

void RunModel::SetStageState(int64_t stage_id, StageState state, int64_t finished_at) {
  store::StageRunRecord& s = ChangeStage(stage_id);
  s.state = state;
  s.finished_at = finished_at;
  IndexStage(s);
}

void RunModel::AddApproval(store::StageApprovalRecord approval) {
  runs_.at(approval.run_id).approvals.push_back(approval);
  approvals_.push_back(std::move(approval));
}

bool RunModel::dirty() const {
  return !new_runs_.empty() || !changed_runs_.empty() || !new_stages_.empty() ||
         !changed_stages_.empty() || !new_jobs_.empty() || !changed_jobs_.empty() ||
         !console_.empty() || !changed_counters_.empty() || !approvals_.empty() ||
         controls_.dirty() || bad_versions_.dirty() || !rollbacks_.empty() ||
         !rerun_follows_.empty();
}

void RunModel::SetRerunFollows(int64_t run_id, bool follows) {
  RunEntry& run = runs_.at(run_id);
  if (run.rerun_follows == follows) return;
  run.rerun_follows = follows;
  rerun_follows_.emplace_back(run_id, follows);
}

store::WriteBatch RunModel::TakeWrites() {
  store::WriteBatch b;
  for (const auto& p : changed_counters_) b.counters.emplace_back(p, counters_[p]);
  for (int64_t id : new_runs_) {
    const RunEntry& e = runs_.at(id);
    b.new_runs.push_back(e.run);
    for (const auto& m : e.materials) b.materials.push_back({id, m});
    int32_t position = 0;
    for (const auto& v : e.variables) b.variables.push_back({id, position++, v});
  }
  for (int64_t id : changed_runs_) {
    if (!new_runs_.count(id)) b.changed_runs.push_back(runs_.at(id).run);
  }
  for (int64_t id : new_stages_) b.new_stages.push_back(*FindStage(id));
  for (int64_t id : changed_stages_) {
    if (!new_stages_.count(id)) b.changed_stages.push_back(*FindStage(id));
  }
  for (int64_t id : new_jobs_) b.new_jobs.push_back(*FindJob(id));
  for (int64_t id : changed_jobs_) {
    if (!new_jobs_.count(id)) b.changed_jobs.push_back(*FindJob(id));
  }
  b.console = std::move(console_);
  console_.clear();
  b.approvals = std::move(approvals_);
  approvals_.clear();
  b.pipeline_controls = controls_.TakeWrites();
  bad_versions_.TakeWrites(&b);
  b.rollbacks = std::move(rollbacks_);
  rollbacks_.clear();
  b.rerun_follows = std::move(rerun_follows_);
  rerun_follows_.clear();
  new_runs_.clear();
  changed_runs_.clear();
  new_stages_.clear();
  changed_stages_.clear();
  new_jobs_.clear();
  changed_jobs_.clear();
  changed_counters_.clear();
  return b;
}

void RunModel::EvictFinished() {
  for (auto it = runs_.begin(); it != runs_.end();) {
    const RunEntry& e = it->second;
    bool finished =
        e.run.state != RunState::kBuilding && e.run.state != RunState::kAwaitingApproval;
    for (const auto& [id, s] : e.stages) finished &= IsFinal(s.state);
    for (const auto& [id, j] : e.jobs) finished &= IsFinal(j.state);
    if (!finished || new_runs_.count(it->first) || changed_runs_.count(it->first)) {
      ++it;
      continue;
    }
    for (const auto& [id, s] : e.stages) run_of_stage_.erase(id);
    for (const auto& [id, j] : e.jobs) run_of_job_.erase(id);
    it = runs_.erase(it);
  }
}

}  // namespace gantry
