// Plain structs for rows, so nothing outside controller/store sees pqxx.
// Times are Unix milliseconds; 0 means "not yet".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "controller/model/states.h"

namespace gantry::store {

struct ConfigFileRecord {
  std::string path;
  std::string content;
};

struct ConfigRevisionRecord {
  int64_t revision = 0;
  std::string author;
  int64_t created_at = 0;
  std::string content_hash;
  std::string diff;
  std::vector<ConfigFileRecord> files;
};

struct ApiTokenRecord {
  int64_t id = 0;
  std::string user_name;
  std::string name;
  std::string token_hash;
  std::string created_by;
  int64_t created_at = 0;
  int64_t expires_at = 0;  // 0 = never
};

// One audit_log row (docs/security.md).
struct AuditRecord {
  std::string actor;
  std::string source;
  std::string action;
  std::string target;
  std::string outcome;  // ok | denied | failed
  std::string reason;
  int64_t at = 0;
  int64_t id = 0;  // set when read back
};

// Which audit rows to read, newest last. Empty fields do not filter.
struct AuditQuery {
  int64_t since = 0;  // Unix ms
  std::string actor;
  std::string pipeline;  // the pipeline and anything under it ("p/3/deploy")
  int limit = 1000;
};

// An upstream trigger kept while its pipeline is paused or locked.
struct PipelineWaitingTrigger {
  std::string upstream_pipeline;  // "" = nothing waits
  int64_t upstream_counter = 0;
  std::string upstream_stage;
  int32_t upstream_stage_counter = 0;
  std::string user;
  std::string message;
};

struct PipelineRecord {
  std::string name;
  int64_t last_counter = 0;
  bool paused = false;
  std::string pause_reason;
  std::string paused_by;
  // Pause and lock (migration 0008).
  int64_t paused_at = 0;
  int64_t locked_by = 0;  // the counter of the run holding the lock; 0 = none
  // The newest upstream trigger that arrived while paused or locked:
  // waiting.upstream_pipeline is "" when none waits.
  PipelineWaitingTrigger waiting;
};

struct PipelineRunRecord {
  int64_t id = 0;
  std::string pipeline;
  int64_t counter = 0;
  std::string label;
  RunState state = RunState::kBuilding;
  int64_t config_revision = 0;
  std::string cause_kind;  // manual | upstream
  std::string trigger_user;
  std::string cause_message;
  int64_t created_at = 0;
  int64_t finished_at = 0;
};

struct VariableRecord {
  std::string name;
  std::string value;
  bool secure = false;
};

struct MaterialRevisionRecord {
  std::string material;
  std::string type;  // git | pipeline
  std::string revision;
  std::string upstream_pipeline;
  int64_t upstream_counter = 0;
  std::string upstream_stage;
  int32_t upstream_stage_counter = 0;
};

struct StageRunRecord {
  int64_t id = 0;
  int64_t run_id = 0;
  std::string pipeline;
  std::string name;
  int32_t stage_index = 0;
  int32_t counter = 0;
  StageState state = StageState::kBuilding;
  std::string approval;  // success | manual
  std::string approved_by;
  int64_t created_at = 0;
  int64_t finished_at = 0;
  // The config revision the attempt runs under when it is not its run's
  // (a re-run --with-current-config); 0 = the run's own.
  int64_t config_revision = 0;
  // A re-run --failed-jobs: when it starts, the jobs that passed in the
  // attempt before it are copied instead of run.
  bool rerun_failed_jobs = false;
};

// One approval of a stage's manual gate (stage_approvals, migrations 0007
// and 0009): who, when and why. A gate needing `required` approvers gets its
// first ones before its stage run exists: those have stage_run_id 0 and are
// found by run and stage name; the one that completes the quorum creates the
// stage run and names it.
struct StageApprovalRecord {
  int64_t stage_run_id = 0;  // 0 while the gate waits for more approvers
  std::string user;
  int64_t at = 0;
  std::string comment;
  int64_t run_id = 0;
  std::string stage;  // the stage's name
};

// A deploy: a passed attempt of a pipeline's deploy stage (or, with none
// marked, the passing of its run). docs/rollback.md defines it.
struct DeploymentRecord {
  std::string pipeline;
  int64_t counter = 0;
  std::string label;
  std::string stage;
  int stage_counter = 0;  // > 1: a re-run of that stage
  std::string triggered_by;
  int64_t at = 0;  // ms since the epoch, when the stage passed
  int64_t run_id = 0;
  int64_t stage_run_id = 0;
};

// A material of a deployed run: a git revision, or the upstream run it came from.
struct DeployedMaterialRecord {
  int64_t run_id = 0;
  std::string material;
  std::string revision;
  std::string upstream_pipeline;  // "" for a git material
  int64_t upstream_counter = 0;
  std::string upstream_label;
};

// A `gantry rollback`: the stage attempt that re-ran an earlier deploy.
struct RollbackRecord {
  std::string environment;
  int64_t stage_run_id = 0;  // the re-run attempt
  int64_t from_run_id = 0;   // the run deployed until then
  int64_t to_run_id = 0;     // the run whose deploy runs again
  std::string by;
  std::string reason;
  int64_t at = 0;  // ms since the epoch
  // Read back only (for history): the replaced run's locator and label.
  std::string from_pipeline;
  int64_t from_counter = 0;
  std::string from_label;
};

// A version marked bad in an environment by a rollback: the run that had
// deployed it, with that run's materials (what must not be taken again).
struct BadVersionRecord {
  std::string environment;
  int64_t run_id = 0;
  std::string pipeline;
  int64_t counter = 0;
  std::string label;
  std::vector<MaterialRevisionRecord> materials;
  std::string marked_by;
  std::string reason;
  int64_t marked_at = 0;
  std::string cleared_by;  // "" while the mark holds
  int64_t cleared_at = 0;
  std::string clear_reason;
};

// A run waiting for an environment's deploy lock: its queued stage.
struct EnvLockWaiterRecord {
  std::string pipeline;
  int64_t counter = 0;
  std::string stage;
  int64_t queued_at = 0;
};

struct JobRunRecord {
  int64_t id = 0;  // the attempt id
  int64_t stage_run_id = 0;
  std::string name;
  std::string config_job;
  JobState state = JobState::kScheduled;
  std::string agent_id;
  std::string reason;
  int64_t scheduled_at = 0;
  int64_t assigned_at = 0;
  int64_t started_at = 0;
  int64_t finished_at = 0;
  int64_t console_bytes = 0;
  int64_t last_sequence = 0;
  bool console_truncated = false;
  // Set by a stage cancel while the attempt still runs on its agent.
  std::string cancel_reason;
  // A `run_instances: all` instance: the agent it must run on.
  std::string pinned_agent;
  // A job that passed in an earlier attempt of the stage, copied into a
  // re-run of the failed jobs without running: the attempt whose console
  // and artifacts it has (the first one that ran). 0 = it ran itself.
  int64_t copied_from = 0;

  // The attempt that holds this job's console and artifacts.
  int64_t OutputAttempt() const { return copied_from != 0 ? copied_from : id; }
};

struct AgentRecord {
  std::string id;
  std::string name;
  std::string hostname;
  std::string token_hash;
  AgentConfigState state = AgentConfigState::kPending;
  // In effect: what matching reads (see the admission fields below).
  std::vector<std::string> resources;
  std::vector<std::string> environments;
  int64_t created_at = 0;
  int64_t last_contact = 0;
  // Admission (migration 0006): what the agent asks for, what its register
  // key allows ("*" = anything), and what an admin assigned (in effect
  // instead of the request when set).
  std::vector<std::string> requested_resources;
  std::vector<std::string> requested_environments;
  std::vector<std::string> allowed_resources;
  std::vector<std::string> allowed_environments;
  std::optional<std::vector<std::string>> assigned_resources;
  std::optional<std::vector<std::string>> assigned_environments;
  std::string register_key;  // "bootstrap", a key's name, "" = none
};

// A scoped register key (agent_keys); never the key itself.
struct AgentKeyRecord {
  int64_t id = 0;
  std::string name;
  std::string key_hash;
  std::vector<std::string> resources;  // "*" = anything
  std::vector<std::string> environments;
  std::string created_by;
  int64_t created_at = 0;
  int64_t revoked_at = 0;  // 0 = live
  std::string revoked_by;
};

struct ArtifactRecord {
  int64_t job_run_id = 0;
  std::string path;
  std::string kind;  // build | test
  int64_t size = 0;
  std::string sha256;
  bool executable = false;
  std::string xxh128;  // empty for files stored before it was recorded
};

struct ConsoleSlice {
  std::string data;
  int64_t next_offset = 0;
};

// One batch of a run's files deleted by retention (Tx::DeleteRunFiles).
struct RetentionBatch {
  std::vector<std::string> digests;  // of the artifact rows deleted, maybe repeated
  int64_t artifacts = 0;
  int64_t artifact_bytes = 0;
  int64_t console_chunks = 0;
  bool done = false;  // nothing of the run was left: it left the queue
};

}  // namespace gantry::store
