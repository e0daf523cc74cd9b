// Typed operations inside one transaction. A Tx is only ever handed out by
// Db::Run; its methods throw (pqxx errors), which Db::Run maps to a Status,
// so callers compose them freely and the whole function commits or not.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <map>

#include "controller/store/config_repo_records.h"
#include "controller/store/material_records.h"
#include "controller/store/records.h"
#include "controller/store/security_records.h"
#include "controller/store/timer_records.h"
#include "controller/store/lease_records.h"
#include "controller/store/write_batch.h"

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

  // --- identity (tx_identity.cc): tokens and the audit log
  // Returns the new token's id.
  int64_t InsertApiToken(const ApiTokenRecord& token);
  // Tokens not revoked (expired ones included: the registry checks expiry).
  std::vector<ApiTokenRecord> ApiTokens();
  // The token, if it was live until now.
  std::optional<ApiTokenRecord> RevokeApiToken(int64_t id, const std::string& by);
  void AppendAudit(const std::vector<AuditRecord>& rows);
  // The newest `limit` rows that match, oldest first.
  std::vector<AuditRecord> ReadAudit(const AuditQuery& query);

  // --- config revisions
  int64_t CurrentConfigRevision();  // 0 when none
  std::optional<ConfigRevisionRecord> GetConfigRevision(int64_t revision);
  int64_t InsertConfigRevision(const std::string& author,
                               const std::string& content_hash,
                               const std::string& diff,
                               const std::vector<ConfigFileRecord>& files);

  // --- pipelines
  void EnsurePipeline(const std::string& name);
  // The same; a pipeline new to the controller starts paused (by `by`)
  // when `start_paused` (config `paused: true`). An existing one keeps its
  // state.
  void EnsurePipeline(const std::string& name, bool start_paused, const std::string& by);
  std::optional<PipelineRecord> GetPipeline(const std::string& name);
  // Every pipeline's row: pause, lock and waiting trigger (tx_batch.cc).
  std::vector<PipelineRecord> PipelineControls();

  // --- pipeline runs
  // counter 0 = newest.
  std::optional<PipelineRunRecord> FindPipelineRun(const std::string& pipeline,
                                                   int64_t counter);
  std::optional<PipelineRunRecord> GetPipelineRun(int64_t run_id);
  std::vector<PipelineRunRecord> PipelineHistory(const std::string& pipeline,
                                                 int limit);
  std::vector<VariableRecord> RunVariables(int64_t run_id);
  std::vector<MaterialRevisionRecord> RunMaterials(int64_t run_id);
  // The runs that took pipeline/counter as a material, by pipeline and counter.
  std::vector<PipelineRunRecord> DownstreamRuns(const std::string& pipeline, int64_t counter);
  // The newest run of `pipeline` whose stage `stage` passed (any attempt).
  std::optional<std::pair<PipelineRunRecord, StageRunRecord>> LatestPassedStage(
      const std::string& pipeline, const std::string& stage);

  // --- stage runs
  std::vector<StageRunRecord> StageRuns(int64_t run_id);
  std::optional<StageRunRecord> GetStageRun(int64_t stage_run_id);

  // --- job runs (a job run is one attempt; its id is the attempt id)
  std::vector<JobRunRecord> JobRunsOfStage(int64_t stage_run_id);
  std::optional<JobRunRecord> GetJobRun(int64_t job_run_id, bool for_update);

  // --- console
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

  // --- batched writes and loads (tx_batch.cc)
  // `count` fresh values of `sequence` (e.g. "job_runs_id_seq"), so that
  // rows can be created in memory and inserted in one statement later.
  std::vector<int64_t> ReserveIds(const std::string& sequence, int count);
  void ApplyWrites(const WriteBatch& batch);
  std::map<std::string, int64_t> PipelineCounters();
  // Runs not finished: building or awaiting approval, or with a stage or
  // job not final.
  std::vector<int64_t> UnfinishedRunIds();
  std::vector<RunRows> LoadRuns(const std::vector<int64_t>& run_ids);
  std::optional<int64_t> RunOfJob(int64_t job_run_id);
  // The approvals of every stage attempt of these runs, oldest first.
  std::vector<StageApprovalRecord> ApprovalsOfRuns(const std::vector<int64_t>& run_ids);

  // --- the environment deploy lock, read from the runs of `pipelines` (an
  // environment's; tx_env_lock.cc; the rule is controller/planner/env_lock.h)
  // The run holding it, as pipeline and counter.
  std::optional<std::pair<std::string, int64_t>> EnvLockHolder(
      const std::vector<std::string>& pipelines);
  // Waiting runs, first to go first.
  std::vector<EnvLockWaiterRecord> EnvLockQueue(const std::vector<std::string>& pipelines);

  // --- what is deployed where (tx_deployments.cc). `deploy_stages` is
  // parallel to `pipelines`: each one's stage marked `deploys: true`, or ""
  // when the run passing is the deploy.
  // Every deploy, newest first, at most `limit`.
  std::vector<DeploymentRecord> Deployments(const std::vector<std::string>& pipelines,
                                            const std::vector<std::string>& deploy_stages,
                                            int64_t limit);
  // The newest deploy of each pipeline that has one.
  std::vector<DeploymentRecord> CurrentDeployments(const std::vector<std::string>& pipelines,
                                                   const std::vector<std::string>& deploy_stages);
  // The materials of these runs, by run then material name.
  std::vector<DeployedMaterialRecord> DeployedMaterials(const std::vector<int64_t>& run_ids);

  // --- rollbacks and bad versions (tx_rollbacks.cc)
  // Inserts the batch's rollbacks, marks and clears (after its stage runs).
  void ApplyRollbackWrites(const WriteBatch& batch);
  // Marks of `environment` ("" = all), newest first, with each run's
  // locator, label and materials; cleared ones too when `include_cleared`.
  std::vector<BadVersionRecord> BadVersions(const std::string& environment, bool include_cleared);
  // The rollbacks among these stage runs, with what each replaced.
  std::vector<RollbackRecord> RollbacksOfStageRuns(const std::vector<int64_t>& stage_run_ids);

  // --- git materials (tx_materials.cc; controller/materials/)
  // The revision the newest run of each pipeline built of each git material.
  std::vector<LastGitRevisionRecord> LastGitRevisions();
  // The commits (newest first) that brought `revision` to the pipeline's
  // material; kept as first recorded when called again.
  void RecordMaterialCommits(const std::string& pipeline, const std::string& material,
                             const std::string& revision,
                             const std::vector<MaterialCommitRecord>& commits);
  std::vector<MaterialCommitRecord> MaterialCommits(const std::string& pipeline,
                                                    const std::string& material,
                                                    const std::string& revision);

  // --- config repositories (tx_config_repos.cc; docs/config-repos.md)
  void SetConfigRevisionSource(int64_t revision, const ConfigRevisionSource& source);
  ConfigRevisionSource GetConfigRevisionSource(int64_t revision);
  std::vector<ConfigRepoStateRecord> ConfigRepoStates();
  void SetConfigRepoState(const ConfigRepoStateRecord& state);

  // --- pipeline timers (tx_timers.cc; controller/scheduling/timer_schedule.h)
  std::vector<TimerStateRecord> TimerStates();
  void SetTimerState(const TimerStateRecord& state);
  void DeleteTimerState(const std::string& pipeline);

  // --- the leader lease (tx_lease.cc; controller/leader/leader_lease.h)
  std::optional<LeaseRecord> Lease();
  // Ends every other database session named `application_name`, waiting
  // for each; returns how many ended.
  int EndSessionsOf(const std::string& application_name);
  // Takes the lease when it ran out or was this controller's (`holder_id`):
  // the new epoch, or 0 when another controller holds it.
  int64_t TakeLease(const std::string& holder_id, const std::string& holder_instance,
                    const std::string& address, double timeout_seconds);
  // False when the lease is no longer at `epoch`.
  bool RenewLease(int64_t epoch, double timeout_seconds);
  // Lets a standby take over at once (a clean stop).
  void ReleaseLease(int64_t epoch);

  // --- agents and their admission (tx_agents.cc)
  std::vector<AgentRecord> Agents();
  // Throws pqxx::unique_violation when the name is taken.
  void InsertAgent(const AgentRecord& agent);
  void SetAgentState(const std::string& id, AgentConfigState state);
  // What the agent's hello says, and what is in effect because of it.
  void UpdateAgentInfo(const AgentRecord& agent);
  // Records when each agent was last heard from (Unix milliseconds).
  void RecordAgentContacts(const std::vector<std::pair<std::string, int64_t>>& contacts);
  // An admin's assignment (assigned_*) and what is in effect because of it.
  void SetAgentAssignment(const AgentRecord& agent);
  void DeleteAgent(const std::string& id);
  // Fills in id, name (when empty) and created_at.
  void InsertAgentKey(AgentKeyRecord* key);
  // Live keys; revoked ones too when `all`.
  std::vector<AgentKeyRecord> AgentKeys(bool all);
  // False when the key does not exist or was revoked already.
  bool RevokeAgentKey(int64_t id, const std::string& by);

  // --- retention (tx_retention.cc; controller/retention/)
  // `run_ids` and every run they took as a pipeline material, transitively.
  std::vector<int64_t> RunsAndTheirUpstreams(const std::vector<int64_t>& run_ids);
  // Finished runs whose files are still kept, outside the newest
  // `keep_runs` of their pipeline (0: rule off) and finished more than
  // `keep_seconds` ago (0: rule off), not in `kept`; oldest first.
  std::vector<int64_t> RetentionCandidates(int keep_runs, int64_t keep_seconds,
                                           const std::vector<int64_t>& kept, int limit);
  // Stamps files_removed_at on those still finished and not picked before,
  // and queues them; returns those.
  std::vector<int64_t> MarkFilesRemoved(const std::vector<int64_t>& run_ids);
  std::vector<int64_t> RetentionQueue(int limit);
  // Deletes up to `max_rows` artifact rows of the run, or, once none is
  // left, up to `max_rows` console chunks; with nothing left, takes the run
  // off the queue. The jobs of `kept_stages` (names, any case) keep theirs.
  RetentionBatch DeleteRunFiles(int64_t run_id, int max_rows,
                                const std::vector<std::string>& kept_stages = {});
  // Whether the attempt still has artifacts or console output (a run that
  // retention picked keeps those of its `keep_artifacts` stages).
  bool JobFilesPresent(int64_t attempt_id);
  // Those of `digests` some artifact row still names.
  std::vector<std::string> ReferencedDigests(const std::vector<std::string>& digests);
  // When retention picked the run (Unix ms), if it did.
  std::optional<int64_t> FilesRemovedAt(int64_t run_id);

  // --- agents' certificates and cipher key rotation (tx_security.cc)
  void InsertAgentCertificate(const AgentCertificateRecord& cert);
  std::vector<AgentCertificateRecord> AgentCertificates();
  // Revokes the agent's certificates for `reason` ("agent disabled", "agent
  // deleted"); "" reinstates those that disabling revoked.
  void SetAgentCertificatesRevoked(const std::string& agent_id, const std::string& reason);
  // Every stored text holding a ciphertext (config files, revision diffs,
  // secure run variables), locked for update.
  std::vector<EncryptedText> EncryptedTexts();
  void UpdateEncryptedText(const EncryptedText& text);
  void SetConfigRevisionHash(int64_t revision, const std::string& content_hash);

 private:
  void ApplyPipelineControls(const std::vector<PipelineRecord>& rows);

  pqxx::transaction_base& work_;
};

}  // namespace gantry::store
