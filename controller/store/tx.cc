#include "controller/store/tx.h"

#include <algorithm>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "controller/store/statements.h"
#include "controller/store/tx_rows.h"

namespace gantry::store {

std::optional<std::string> Tx::GetSetting(const std::string& key) {
  auto r = work_.exec_prepared(kGetSetting, key);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::string>();
}

void Tx::SetSetting(const std::string& key, const std::string& value) {
  work_.exec_prepared(kSetSetting, key, value);
}

int64_t Tx::CurrentConfigRevision() {
  auto r = work_.exec_prepared(kCurrentConfigRevision);
  return r[0][0].as<int64_t>();
}

std::optional<ConfigRevisionRecord> Tx::GetConfigRevision(int64_t revision) {
  auto r = work_.exec_prepared(kGetConfigRevision, revision);
  if (r.empty()) return std::nullopt;
  ConfigRevisionRecord rec;
  rec.revision = r[0][0].as<int64_t>();
  rec.author = r[0][1].as<std::string>();
  rec.created_at = r[0][2].as<int64_t>();
  rec.content_hash = r[0][3].as<std::string>();
  rec.diff = r[0][4].as<std::string>();
  for (const auto& f : work_.exec_prepared(kGetConfigRevisionFiles, revision)) {
    rec.files.push_back({f[0].as<std::string>(), f[1].as<std::string>()});
  }
  return rec;
}

int64_t Tx::InsertConfigRevision(const std::string& author, const std::string& content_hash,
                                 const std::string& diff,
                                 const std::vector<ConfigFileRecord>& files) {
  auto r = work_.exec_prepared(kInsertConfigRevision, author, content_hash, diff);
  int64_t revision = r[0][0].as<int64_t>();
  int position = 0;
  for (const auto& f : files) {
    work_.exec_prepared(kInsertConfigRevisionFile, revision, position++, f.path, f.content);
  }
  return revision;
}

void Tx::EnsurePipeline(const std::string& name) { work_.exec_prepared(kEnsurePipeline, name); }

std::optional<PipelineRecord> Tx::GetPipeline(const std::string& name) {
  auto r = work_.exec_prepared(kGetPipeline, name);
  if (r.empty()) return std::nullopt;
  return PipelineFromRow(r[0]);
}

void Tx::EnsurePipeline(const std::string& name, bool start_paused, const std::string& by) {
  if (!start_paused) return EnsurePipeline(name);
  work_.exec_prepared(kEnsurePipelinePaused, name, by);
}

std::optional<PipelineRunRecord> Tx::FindPipelineRun(const std::string& pipeline, int64_t counter) {
  pqxx::result r = counter > 0 ? work_.exec_prepared(kFindPipelineRunByCounter, pipeline, counter)
                               : work_.exec_prepared(kFindPipelineRunNewest, pipeline);
  if (r.empty()) return std::nullopt;
  return RunFromRow(r[0]);
}

std::optional<PipelineRunRecord> Tx::GetPipelineRun(int64_t run_id) {
  auto r = work_.exec_prepared(kGetPipelineRun, run_id);
  if (r.empty()) return std::nullopt;
  return RunFromRow(r[0]);
}

std::vector<PipelineRunRecord> Tx::PipelineHistory(const std::string& pipeline, int limit) {
  std::vector<PipelineRunRecord> out;
  for (const auto& row : work_.exec_prepared(kPipelineHistory, pipeline, limit)) {
    out.push_back(RunFromRow(row));
  }
  return out;
}

std::vector<PipelineRunRecord> Tx::DownstreamRuns(const std::string& pipeline, int64_t counter) {
  std::vector<PipelineRunRecord> out;
  for (const auto& row : work_.exec_prepared(kDownstreamRuns, pipeline, counter)) {
    out.push_back(RunFromRow(row));
  }
  return out;
}

std::vector<VariableRecord> Tx::RunVariables(int64_t run_id) {
  std::vector<VariableRecord> out;
  for (const auto& r : work_.exec_prepared(kRunVariables, run_id)) {
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<bool>()});
  }
  return out;
}

std::vector<MaterialRevisionRecord> Tx::RunMaterials(int64_t run_id) {
  std::vector<MaterialRevisionRecord> out;
  for (const auto& r : work_.exec_prepared(kRunMaterials, run_id)) {
    out.push_back(MaterialFromRow(r, 0));
  }
  return out;
}

std::optional<std::pair<PipelineRunRecord, StageRunRecord>> Tx::LatestPassedStage(
    const std::string& pipeline, const std::string& stage) {
  auto r = work_.exec_prepared(kLatestPassedStage, pipeline, stage);
  if (r.empty()) return std::nullopt;
  auto s = GetStageRun(r[0][0].as<int64_t>());
  auto p = GetPipelineRun(s->run_id);
  return std::make_pair(*p, *s);
}

std::vector<StageRunRecord> Tx::StageRuns(int64_t run_id) {
  std::vector<StageRunRecord> out;
  for (const auto& r : work_.exec_prepared(kStageRuns, run_id)) {
    out.push_back(StageFromRow(r));
  }
  return out;
}

std::optional<StageRunRecord> Tx::GetStageRun(int64_t stage_run_id) {
  auto r = work_.exec_prepared(kGetStageRun, stage_run_id);
  if (r.empty()) return std::nullopt;
  return StageFromRow(r[0]);
}

std::vector<JobRunRecord> Tx::JobRunsOfStage(int64_t stage_run_id) {
  std::vector<JobRunRecord> out;
  for (const auto& r : work_.exec_prepared(kJobRunsOfStage, stage_run_id)) {
    out.push_back(JobFromRow(r));
  }
  return out;
}

std::optional<JobRunRecord> Tx::GetJobRun(int64_t job_run_id, bool for_update) {
  auto r = work_.exec_prepared(for_update ? kGetJobRunForUpdate : kGetJobRun, job_run_id);
  if (r.empty()) return std::nullopt;
  return JobFromRow(r[0]);
}

ConsoleSlice Tx::ReadConsole(int64_t job_run_id, int64_t offset, int64_t max_bytes) {
  ConsoleSlice slice;
  slice.next_offset = offset;
  for (const auto& r : work_.exec_prepared(kReadConsole, job_run_id, offset)) {
    int64_t start = r[0].as<int64_t>();
    pqxx::binarystring data(r[1]);
    std::string bytes = data.str();
    int64_t skip = offset > start ? offset - start : 0;
    if (skip >= static_cast<int64_t>(bytes.size())) continue;
    slice.data.append(bytes, static_cast<size_t>(skip), std::string::npos);
    slice.next_offset = start + static_cast<int64_t>(bytes.size());
    offset = slice.next_offset;
    if (static_cast<int64_t>(slice.data.size()) >= max_bytes) break;
  }
  return slice;
}

}  // namespace gantry::store
