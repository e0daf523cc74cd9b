#include "controller/scheduling/db_cold_store.h"

#include "controller/store/tx.h"

namespace gantry {
namespace {

const char* SequenceOf(IdKind kind) {
  switch (kind) {
    case IdKind::kRun:
      return "pipeline_runs_id_seq";
    case IdKind::kStage:
      return "stage_runs_id_seq";
    case IdKind::kJob:
      return "job_runs_id_seq";
  }
  return "";
}

constexpr size_t kBlock = 512;

}  // namespace

absl::StatusOr<std::shared_ptr<const config::Config>> DbColdStore::Config(int64_t revision) {
  std::shared_ptr<const config::Config> config;
  absl::Status st = db_->Run("ReadConfig", [&](store::Tx& tx) -> absl::Status {
    auto got = configs_->Get(tx, revision);
    if (!got.ok()) return got.status();
    config = *got;
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return config;
}

absl::StatusOr<std::optional<store::RunRows>> DbColdStore::LoadRun(const std::string& pipeline,
                                                                   int64_t counter) {
  std::optional<store::RunRows> out;
  absl::Status st = db_->Run("LoadRun", [&](store::Tx& tx) {
    out.reset();
    auto run = tx.FindPipelineRun(pipeline, counter);
    if (!run) return absl::OkStatus();
    auto rows = tx.LoadRuns({run->id});
    if (!rows.empty()) out = std::move(rows.front());
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::optional<store::RunRows>> DbColdStore::LoadRunOfJob(int64_t job_run_id) {
  std::optional<store::RunRows> out;
  absl::Status st = db_->Run("LoadRunOfJob", [&](store::Tx& tx) {
    out.reset();
    auto run_id = tx.RunOfJob(job_run_id);
    if (!run_id) return absl::OkStatus();
    auto rows = tx.LoadRuns({*run_id});
    if (!rows.empty()) out = std::move(rows.front());
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::optional<std::pair<store::PipelineRunRecord, store::StageRunRecord>>>
DbColdStore::LatestPassedStage(const std::string& pipeline, const std::string& stage) {
  std::optional<std::pair<store::PipelineRunRecord, store::StageRunRecord>> out;
  absl::Status st = db_->Run("LatestPassedStage", [&](store::Tx& tx) {
    out = tx.LatestPassedStage(pipeline, stage);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::vector<store::DeploymentRecord>> DbColdStore::Deployments(
    const std::vector<std::string>& pipelines, const std::vector<std::string>& deploy_stages,
    int64_t limit) {
  std::vector<store::DeploymentRecord> out;
  absl::Status st = db_->Run("Deployments", [&](store::Tx& tx) {
    out = tx.Deployments(pipelines, deploy_stages, limit);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

absl::Status DbColdStore::Refill(IdKind kind, size_t count) {
  std::vector<int64_t> ids;
  absl::Status st = db_->Run("ReserveIds", [&](store::Tx& tx) {
    ids = tx.ReserveIds(SequenceOf(kind), static_cast<int>(count));
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  auto& pool = pools_[kind];
  pool.insert(pool.end(), ids.begin(), ids.end());
  return absl::OkStatus();
}

absl::StatusOr<int64_t> DbColdStore::Next(IdKind kind) {
  auto& pool = pools_[kind];
  if (pool.empty()) {
    absl::Status st = Refill(kind, kBlock);
    if (!st.ok()) return st;
  }
  int64_t id = pool.front();
  pool.pop_front();
  return id;
}

absl::Status DbColdStore::Reserve(size_t count) {
  for (IdKind kind : {IdKind::kRun, IdKind::kStage, IdKind::kJob}) {
    size_t have = pools_[kind].size();
    if (have >= count) continue;
    absl::Status st = Refill(kind, std::max(kBlock, count - have));
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace gantry
