// Typed operations inside one transaction. A Tx is only ever handed out by
// Db::Run; its methods throw (pqxx errors), which Db::Run maps to a Status,
// so callers compose them freely and the whole function commits or not.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "controller/store/records.h"

namespace pqxx {
class transaction_base;
}

namespace gantry::store {

class Tx {
 public:
  explicit Tx(pqxx::transaction_base& work) : work_(work) {}

  // --- settings and tokens
  std::optional<std::string> GetSetting(const std::string& key);
  void SetSetting(const std::string& key, const std::string& value);
  void InsertApiToken(const std::string& user, const std::string& role,
                      const std::string& token_hash);
  std::vector<ApiTokenRecord> ApiTokens();

  // --- config revisions
  int64_t CurrentConfigRevision();  // 0 when none
  std::optional<ConfigRevisionRecord> GetConfigRevision(int64_t revision);
  int64_t InsertConfigRevision(const std::string& author,
                               const std::string& content_hash,
                               const std::string& diff,
                               const std::vector<ConfigFileRecord>& files);

  // --- pipelines
  void EnsurePipeline(const std::string& name);
  std::optional<PipelineRecord> GetPipeline(const std::string& name);
  // Locks the pipeline row and returns its next run counter.
  int64_t NextCounter(const std::string& pipeline);

  // --- pipeline runs
  int64_t InsertPipelineRun(const PipelineRunRecord& run);
  void SetPipelineRunState(int64_t run_id, const std::string& state,
                           bool finished);
  // counter 0 = newest.
  std::optional<PipelineRunRecord> FindPipelineRun(const std::string& pipeline,
                                                   int64_t counter);
  std::optional<PipelineRunRecord> GetPipelineRun(int64_t run_id);
  std::vector<PipelineRunRecord> PipelineHistory(const std::string& pipeline,
                                                 int limit);
  void InsertRunVariables(int64_t run_id, const std::vector<VariableRecord>& vars);
  std::vector<VariableRecord> RunVariables(int64_t run_id);
  void InsertRunMaterials(int64_t run_id,
                          const std::vector<MaterialRevisionRecord>& materials);
  std::vector<MaterialRevisionRecord> RunMaterials(int64_t run_id);
  // The newest run of `pipeline` whose stage `stage` passed (any attempt).
  std::optional<std::pair<PipelineRunRecord, StageRunRecord>> LatestPassedStage(
      const std::string& pipeline, const std::string& stage);

  // --- stage runs
  int64_t InsertStageRun(const StageRunRecord& stage);
  void SetStageRunState(int64_t stage_run_id, const std::string& state,
                        bool finished);
  void SetStageApprovedBy(int64_t stage_run_id, const std::string& user);
  std::vector<StageRunRecord> StageRuns(int64_t run_id);
  std::optional<StageRunRecord> GetStageRun(int64_t stage_run_id);
  int32_t LatestStageCounter(int64_t run_id, const std::string& stage);
  // Whether another run of `pipeline` has stage `stage` building.
  bool OtherRunBuildingStage(const std::string& pipeline, const std::string& stage,
                             int64_t run_id);
  // The oldest queued stage run of `pipeline`/`stage`, if any.
  std::optional<StageRunRecord> OldestQueuedStage(const std::string& pipeline,
                                                  const std::string& stage);

  // --- job runs (a job run is one attempt; its id is the attempt id)
  // `pinned_agent`: only that agent may run it ("" = any matching agent).
  int64_t InsertJobRun(int64_t stage_run_id, const std::string& name,
                       const std::string& config_job, const std::string& pinned_agent = "");
  std::vector<JobRunRecord> JobRunsOfStage(int64_t stage_run_id);
  std::optional<JobRunRecord> GetJobRun(int64_t job_run_id, bool for_update);
  // Moves the job from one of `from` to `to`; returns false if it was in
  // none of them (the caller decides what a refused transition means).
  bool TransitionJob(int64_t job_run_id, const std::vector<std::string>& from,
                     const std::string& to, const std::string& agent_id,
                     const std::string& reason);
  std::vector<JobRunRecord> ActiveJobRuns();
  void SetJobReason(int64_t job_run_id, const std::string& reason);
  void SetCancelReason(int64_t job_run_id, const std::string& reason);

  // --- console
  // Stores the chunk unless `sequence` was stored already; returns whether it
  // was new. Chunks arrive in order per attempt. Past `max_bytes` (0: no
  // cap) the log ends with one truncation marker and later chunks are only
  // counted.
  bool AppendConsoleChunk(int64_t job_run_id, int64_t sequence,
                          const std::string& data, int64_t max_bytes);
  ConsoleSlice ReadConsole(int64_t job_run_id, int64_t offset, int64_t max_bytes);

  // --- artifacts (tx_artifacts.cc)
  // Records a file of a running attempt held by `agent_id`; replaces an
  // earlier upload of the same path. False if the attempt is not running
  // on that agent.
  bool RecordArtifact(const std::string& agent_id, const ArtifactRecord& artifact);
  // The attempt's files under `prefix` ("" = all; a file path or a directory
  // path), ordered by path.
  std::vector<ArtifactRecord> Artifacts(int64_t job_run_id, const std::string& prefix);
  // The token hash of an enabled agent, if there is one with this id.
  std::optional<std::string> EnabledAgentTokenHash(const std::string& agent_id);

  // --- agents
  std::vector<AgentRecord> Agents();
  void InsertAgent(const AgentRecord& agent);
  void SetAgentState(const std::string& id, const std::string& state);
  void UpdateAgentInfo(const std::string& id, const std::string& hostname,
                       const std::vector<std::string>& resources,
                       const std::vector<std::string>& environments);
  // Records when each agent was last heard from (Unix milliseconds).
  void RecordAgentContacts(const std::vector<std::pair<std::string, int64_t>>& contacts);

 private:
  pqxx::transaction_base& work_;
};

}  // namespace gantry::store
