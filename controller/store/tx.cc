#include "controller/store/tx.h"

#include <algorithm>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "controller/store/statements.h"

namespace gantry::store {
namespace {

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipEmpty())) {
    out.emplace_back(part);
  }
  return out;
}

// The *FromRow readers take the columns in the order of RUN_COLUMNS,
// STAGE_COLUMNS and JOB_COLUMNS in statements.cc.
PipelineRunRecord RunFromRow(const pqxx::row& r) {
  PipelineRunRecord run;
  run.id = r[0].as<int64_t>();
  run.pipeline = r[1].as<std::string>();
  run.counter = r[2].as<int64_t>();
  run.label = r[3].as<std::string>();
  run.state = r[4].as<std::string>();
  run.config_revision = r[5].as<int64_t>();
  run.cause_kind = r[6].as<std::string>();
  run.trigger_user = r[7].as<std::string>();
  run.cause_message = r[8].as<std::string>();
  run.created_at = r[9].as<int64_t>();
  run.finished_at = r[10].as<int64_t>();
  return run;
}

StageRunRecord StageFromRow(const pqxx::row& r) {
  StageRunRecord s;
  s.id = r[0].as<int64_t>();
  s.run_id = r[1].as<int64_t>();
  s.name = r[2].as<std::string>();
  s.stage_index = r[3].as<int32_t>();
  s.counter = r[4].as<int32_t>();
  s.state = r[5].as<std::string>();
  s.approval = r[6].as<std::string>();
  s.approved_by = r[7].as<std::string>();
  s.created_at = r[8].as<int64_t>();
  s.finished_at = r[9].as<int64_t>();
  return s;
}

JobRunRecord JobFromRow(const pqxx::row& r) {
  JobRunRecord j;
  j.id = r[0].as<int64_t>();
  j.stage_run_id = r[1].as<int64_t>();
  j.name = r[2].as<std::string>();
  j.config_job = r[3].as<std::string>();
  j.state = r[4].as<std::string>();
  j.agent_id = r[5].as<std::string>();
  j.reason = r[6].as<std::string>();
  j.scheduled_at = r[7].as<int64_t>();
  j.assigned_at = r[8].as<int64_t>();
  j.started_at = r[9].as<int64_t>();
  j.finished_at = r[10].as<int64_t>();
  j.console_bytes = r[11].as<int64_t>();
  j.last_sequence = r[12].as<int64_t>();
  j.cancel_reason = r[13].as<std::string>();
  j.pinned_agent = r[14].as<std::string>();
  return j;
}

}  // namespace

std::optional<std::string> Tx::GetSetting(const std::string& key) {
  auto r = work_.exec_prepared(kGetSetting, key);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::string>();
}

void Tx::SetSetting(const std::string& key, const std::string& value) {
  work_.exec_prepared(kSetSetting, key, value);
}

void Tx::InsertApiToken(const std::string& user, const std::string& role,
                        const std::string& token_hash) {
  work_.exec_prepared(kInsertApiToken, user, role, token_hash);
}

std::vector<ApiTokenRecord> Tx::ApiTokens() {
  std::vector<ApiTokenRecord> out;
  for (const auto& r : work_.exec_prepared(kApiTokens)) {
    out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                   r[3].as<std::string>()});
  }
  return out;
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
  PipelineRecord p;
  p.name = r[0][0].as<std::string>();
  p.last_counter = r[0][1].as<int64_t>();
  p.paused = r[0][2].as<bool>();
  p.pause_reason = r[0][3].as<std::string>();
  p.paused_by = r[0][4].as<std::string>();
  return p;
}

int64_t Tx::NextCounter(const std::string& pipeline) {
  auto r = work_.exec_prepared(kNextCounter, pipeline);
  if (r.empty()) {
    EnsurePipeline(pipeline);
    return NextCounter(pipeline);
  }
  return r[0][0].as<int64_t>();
}

int64_t Tx::InsertPipelineRun(const PipelineRunRecord& run) {
  auto r =
      work_.exec_prepared(kInsertPipelineRun, run.pipeline, run.counter, run.label, run.state,
                          run.config_revision, run.cause_kind, run.trigger_user, run.cause_message);
  return r[0][0].as<int64_t>();
}

void Tx::SetPipelineRunState(int64_t run_id, const std::string& state, bool finished) {
  work_.exec_prepared(kSetPipelineRunState, run_id, state, finished);
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

void Tx::InsertRunVariables(int64_t run_id, const std::vector<VariableRecord>& vars) {
  int position = 0;
  for (const auto& v : vars) {
    work_.exec_prepared(kInsertRunVariables, run_id, position++, v.name, v.value, v.secure);
  }
}

std::vector<VariableRecord> Tx::RunVariables(int64_t run_id) {
  std::vector<VariableRecord> out;
  for (const auto& r : work_.exec_prepared(kRunVariables, run_id)) {
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<bool>()});
  }
  return out;
}

void Tx::InsertRunMaterials(int64_t run_id, const std::vector<MaterialRevisionRecord>& materials) {
  for (const auto& m : materials) {
    work_.exec_prepared(kInsertRunMaterials, run_id, m.material, m.type, m.revision,
                        m.upstream_pipeline, m.upstream_counter, m.upstream_stage,
                        m.upstream_stage_counter);
  }
}

std::vector<MaterialRevisionRecord> Tx::RunMaterials(int64_t run_id) {
  std::vector<MaterialRevisionRecord> out;
  for (const auto& r : work_.exec_prepared(kRunMaterials, run_id)) {
    MaterialRevisionRecord m;
    m.material = r[0].as<std::string>();
    m.type = r[1].as<std::string>();
    m.revision = r[2].as<std::string>();
    m.upstream_pipeline = r[3].as<std::string>();
    m.upstream_counter = r[4].as<int64_t>();
    m.upstream_stage = r[5].as<std::string>();
    m.upstream_stage_counter = r[6].as<int32_t>();
    out.push_back(std::move(m));
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

int64_t Tx::InsertStageRun(const StageRunRecord& stage) {
  auto r = work_.exec_prepared(kInsertStageRun, stage.run_id, stage.name, stage.stage_index,
                               stage.counter, stage.state, stage.approval, stage.approved_by);
  return r[0][0].as<int64_t>();
}

void Tx::SetStageRunState(int64_t stage_run_id, const std::string& state, bool finished) {
  work_.exec_prepared(kSetStageRunState, stage_run_id, state, finished);
}

void Tx::SetStageApprovedBy(int64_t stage_run_id, const std::string& user) {
  work_.exec_prepared(kSetStageApprovedBy, stage_run_id, user);
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

int32_t Tx::LatestStageCounter(int64_t run_id, const std::string& stage) {
  auto r = work_.exec_prepared(kLatestStageCounter, run_id, stage);
  return r[0][0].as<int32_t>();
}

bool Tx::OtherRunBuildingStage(const std::string& pipeline, const std::string& stage,
                               int64_t run_id) {
  auto r = work_.exec_prepared(kOtherRunBuildingStage, pipeline, stage, run_id);
  return !r.empty();
}

std::optional<StageRunRecord> Tx::OldestQueuedStage(const std::string& pipeline,
                                                    const std::string& stage) {
  auto r = work_.exec_prepared(kOldestQueuedStage, pipeline, stage);
  if (r.empty()) return std::nullopt;
  return GetStageRun(r[0][0].as<int64_t>());
}

int64_t Tx::InsertJobRun(int64_t stage_run_id, const std::string& name,
                         const std::string& config_job, const std::string& pinned_agent) {
  auto r = work_.exec_prepared(kInsertJobRun, stage_run_id, name, config_job, pinned_agent);
  return r[0][0].as<int64_t>();
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

bool Tx::TransitionJob(int64_t job_run_id, const std::vector<std::string>& from,
                       const std::string& to, const std::string& agent_id,
                       const std::string& reason) {
  // Timestamps follow the state: assigned_at, started_at, finished_at.
  const char* statement = kTransitionJobToFinished;
  if (to == "assigned") {
    statement = kTransitionJobToAssigned;
  } else if (to == "running") {
    statement = kTransitionJobToRunning;
  } else if (to == "scheduled") {
    statement = kTransitionJobToScheduled;
  }
  auto r =
      work_.exec_prepared(statement, job_run_id, to, agent_id, reason, absl::StrJoin(from, ","));
  return r.affected_rows() == 1;
}

std::vector<JobRunRecord> Tx::ActiveJobRuns() {
  std::vector<JobRunRecord> out;
  for (const auto& r : work_.exec_prepared(kActiveJobRuns)) {
    out.push_back(JobFromRow(r));
  }
  return out;
}

void Tx::SetCancelReason(int64_t job_run_id, const std::string& reason) {
  work_.exec_prepared(kSetCancelReason, job_run_id, reason);
}

void Tx::SetJobReason(int64_t job_run_id, const std::string& reason) {
  work_.exec_prepared(kSetJobReason, job_run_id, reason);
}

bool Tx::AppendConsoleChunk(int64_t job_run_id, int64_t sequence, const std::string& data,
                            int64_t max_bytes) {
  auto r = work_.exec_prepared(kAppendConsoleChunkClaim, job_run_id, sequence);
  if (r.empty()) return false;
  int64_t start = r[0][0].as<int64_t>();
  if (r[0][1].as<bool>()) return true;  // acknowledged, dropped
  std::string stored = data;
  bool truncate = max_bytes > 0 && start + static_cast<int64_t>(data.size()) > max_bytes;
  if (truncate) {
    stored.resize(static_cast<size_t>(std::max<int64_t>(0, max_bytes - start)));
    if (!stored.empty() && stored.back() != '\n') stored.push_back('\n');
    stored += "[gantry] console log truncated at " + std::to_string(max_bytes) +
              " bytes: later output of this job is not kept\n";
  }
  work_.exec_prepared(kAppendConsoleChunkCount, job_run_id, static_cast<int64_t>(stored.size()),
                      truncate);
  work_.exec_prepared(kAppendConsoleChunkInsert, job_run_id, sequence, start,
                      pqxx::binarystring(stored));
  return true;
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

std::vector<AgentRecord> Tx::Agents() {
  std::vector<AgentRecord> out;
  for (const auto& r : work_.exec_prepared(kAgents)) {
    AgentRecord a;
    a.id = r[0].as<std::string>();
    a.name = r[1].as<std::string>();
    a.hostname = r[2].as<std::string>();
    a.token_hash = r[3].as<std::string>();
    a.state = r[4].as<std::string>();
    a.resources = SplitList(r[5].as<std::string>());
    a.environments = SplitList(r[6].as<std::string>());
    a.created_at = r[7].as<int64_t>();
    a.last_contact = r[8].as<int64_t>();
    out.push_back(std::move(a));
  }
  return out;
}

void Tx::InsertAgent(const AgentRecord& a) {
  work_.exec_prepared(kInsertAgent, a.id, a.name, a.hostname, a.token_hash, a.state,
                      absl::StrJoin(a.resources, ","), absl::StrJoin(a.environments, ","));
}

void Tx::SetAgentState(const std::string& id, const std::string& state) {
  work_.exec_prepared(kSetAgentState, id, state);
}

void Tx::UpdateAgentInfo(const std::string& id, const std::string& hostname,
                         const std::vector<std::string>& resources,
                         const std::vector<std::string>& environments) {
  work_.exec_prepared(kUpdateAgentInfo, id, hostname, absl::StrJoin(resources, ","),
                      absl::StrJoin(environments, ","));
}

void Tx::RecordAgentContacts(const std::vector<std::pair<std::string, int64_t>>& contacts) {
  if (contacts.empty()) return;
  std::string ids, times;
  for (const auto& [id, ms] : contacts) {
    absl::StrAppend(&ids, ids.empty() ? "" : ",", id);
    absl::StrAppend(&times, times.empty() ? "" : ",", ms);
  }
  work_.exec_prepared(kRecordAgentContacts, ids, times);
}

}  // namespace gantry::store
