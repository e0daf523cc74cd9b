// The run state machine. Every change to a run, stage or job is one named
// operation here, decided in memory on the RunModel (no SQL), with what
// must happen outside the database returned as Effects. The caller commits
// the model's writes after a batch of operations and acts on the effects
// only then; if the commit fails it reloads the model.
//
// An operation either refuses (an error status, nothing changed) or
// succeeds. A refusal is checked before anything changes; an error after a
// change (a cold read failing half-way) leaves the model to be reloaded,
// which the caller does for any non-refusal error.
//
// Chains (a stage passes → downstream pipelines trigger → their first stage
// starts → ...) run from a work list, not by recursion.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/model.h"
#include "controller/config_cache.h"
#include "controller/matching.h"
#include "controller/planner/cold_store.h"
#include "controller/planner/effects.h"
#include "controller/planner/gates.h"
#include "controller/planner/run_model.h"

namespace gantry {

class GitHeads;  // git_revisions.h

struct TriggerSpec {
  std::string pipeline;
  std::string user;
  // A manual trigger's caller's roles (with `user`): a trigger opens the
  // first stage on their behalf, so that stage's approval lists are checked.
  std::vector<std::string> roles;
  std::string cause_kind = "manual";  // manual | upstream
  std::string message;
  std::map<std::string, std::string> revisions;  // material -> revision
  std::vector<store::VariableRecord> variables;  // trigger-time overrides
  // Set for an upstream trigger: the upstream stage run that passed.
  std::optional<store::MaterialRevisionRecord> upstream;
};

// `gantry rollback ENV [--to P/N] --reason R` (planner_rollback.cc).
struct RollbackSpec {
  std::string environment;
  std::string to_pipeline;  // "": the last good deploy
  int64_t to_counter = 0;
  std::string reason;
  std::string user;
};
struct RollbackOutcome {
  int64_t run_id = 0;            // the run whose deploy stage runs again
  store::DeploymentRecord from;  // what was deployed, now marked bad
  store::DeploymentRecord to;    // the deploy repeated
  std::vector<store::MaterialRevisionRecord> from_materials, to_materials;
};

// `gantry stage rerun` flags (planner_rerun.cc).
struct RerunOptions {
  // The run goes on to its later stages afterwards, as their approvals say.
  bool and_following = false;
  // Today's config instead of the run's own revision. `expected_revision`,
  // when not 0, is the revision the caller was shown the difference
  // against: a re-run under another one is refused.
  bool with_current_config = false;
  int64_t expected_revision = 0;
  // Only the jobs that did not pass run; the passed ones are copied into
  // the new attempt with their console and artifacts.
  bool failed_jobs = false;
};

// What a new stage attempt runs: under which config revision (0: the run's
// own) and whether only the jobs that failed before.
struct AttemptKind {
  int64_t config_revision = 0;
  bool failed_jobs = false;
};

// How an agent's report about an attempt was taken.
enum class ReportOutcome {
  kRecorded,   // changed the attempt
  kDuplicate,  // already recorded (a re-send after a reconnect): acknowledge
  kRefused,    // not this agent's attempt (fenced): tell it to abandon
};

class Planner {
 public:
  Planner(RunModel* model, ConfigCache* configs, ColdStore* cold, IdSource* ids);

  // Set by the caller before each batch.
  void set_now_ms(int64_t now) { now_ = now; }
  // Forgets pending steps (after a failed batch, when memory is reloaded).
  void Reset() {
    work_.clear();
    env_released_.clear();
  }
  // Enabled agents as dispatch sees them, for `run_instances: all`.
  void set_agents(std::vector<AgentProfile> agents) { agents_ = std::move(agents); }
  // What the material poller has fetched: the default revision of a git
  // material (git_revisions.h). May stay null.
  void set_git_heads(const GitHeads* heads) { git_heads_ = heads; }

  // --- operator operations; each returns the run it acted on (its id).
  absl::StatusOr<int64_t> Trigger(const TriggerSpec& spec, Effects* effects);
  // Opens the stage's manual gate for `who` (CheckGate against the run's
  // own config revision), recording who, when and `comment`.
  absl::StatusOr<int64_t> Approve(const std::string& pipeline, int64_t counter,
                                  const std::string& stage, const GateActor& who,
                                  const std::string& comment, Effects* effects);
  absl::StatusOr<int64_t> Cancel(const std::string& pipeline, int64_t counter,
                                 const std::string& stage, const std::string& user,
                                 Effects* effects);
  // Runs stage `stage` of the run again as a new attempt (counter + 1) in
  // the run's own config revision, materials and variables
  // (planner_rerun.cc). Only that stage runs. Refuses (FAILED_PRECONDITION)
  // while a stage of the run is active, the pipeline is paused or locked
  // by another run, or the stage never ran in the run.
  // `options` (RerunOptions) widen or narrow what runs.
  absl::StatusOr<int64_t> Rerun(const std::string& pipeline, int64_t counter,
                                const std::string& stage, const std::string& user, Effects* effects,
                                const RerunOptions& options = {});

  // Re-runs the deploy stage of the last good deploy into the environment
  // (or of the run named), records the rollback and marks the version it
  // replaces as bad there (planner_rollback.cc, docs/rollback.md).
  absl::StatusOr<RollbackOutcome> Rollback(const RollbackSpec& spec, Effects* effects);
  // Clears the environment's marks on run pipeline/counter, or on runs that
  // took it from upstream; NOT_FOUND when there is none.
  absl::StatusOr<std::vector<store::BadVersionRecord>> ClearBadVersions(
      const std::string& environment, const std::string& pipeline, int64_t counter,
      const std::string& user, const std::string& reason);

  // --- pause and locks (planner_controls.cc). Each refuses with
  // FAILED_PRECONDITION when there is nothing to do (already paused, not
  // locked, the holding run still building).
  absl::Status Pause(const std::string& pipeline, const std::string& user,
                     const std::string& reason);
  // A trigger that waited while the pipeline was paused runs now.
  absl::Status Unpause(const std::string& pipeline, const std::string& user, Effects* effects);
  absl::Status Unlock(const std::string& pipeline, const std::string& user, Effects* effects);
  // After a config apply (and a reload of the controls): locks of pipelines
  // no longer lockable are released, waiting triggers no longer held back
  // run.
  absl::Status ConfigChanged(Effects* effects);

  // --- job operations
  // scheduled -> assigned to `agent_id`; false if the attempt is no longer
  // scheduled (cancelled meanwhile).
  bool Assign(int64_t attempt, const std::string& agent_id);
  // The agent started it: assigned -> running.
  absl::StatusOr<ReportOutcome> Start(int64_t attempt, const std::string& agent_id);
  // A console chunk, stored unless its sequence was; past `max_bytes` the
  // log ends with one truncation marker.
  absl::StatusOr<ReportOutcome> Console(int64_t attempt, const std::string& agent_id,
                                        int64_t sequence, const std::string& data,
                                        int64_t max_bytes);
  // The agent finished it with `result` (passed | failed | cancelled).
  absl::StatusOr<ReportOutcome> Complete(int64_t attempt, const std::string& agent_id,
                                         JobState result, const std::string& reason,
                                         Effects* effects);
  // Its agent went silent: the attempt ends lost, then on_agent_lost applies
  // (fail, or a new attempt). False if it was not that agent's.
  absl::StatusOr<bool> Lose(int64_t attempt, const std::string& agent_id, const std::string& reason,
                            Effects* effects);
  // Its agent came back without it: back to the queue if it never started,
  // failed if it was running.
  absl::Status Reclaim(int64_t attempt, const std::string& agent_id, const std::string& agent_name,
                       Effects* effects);
  // A scheduled attempt that can never run (its pinned agent is gone, its
  // job left the run's config) fails with `reason`.
  absl::Status FailUnrunnable(int64_t attempt, const std::string& reason, Effects* effects);
  // Why a scheduled attempt waits (shown by `pipeline show`).
  void SetWaitingReason(int64_t attempt, const std::string& reason);

  // The attempt, from memory or (for a finished run) the database; null if
  // there is no such attempt.
  absl::StatusOr<const store::JobRunRecord*> FindAttempt(int64_t attempt);

  // Requirements of `job` of `pipeline` under the current environments.
  JobRequirements Requirements(const config::Pipeline& pipeline, const config::Job& job) const;
  // The attempt's requirements and locator, for the dispatch queue.
  std::optional<QueuedJob> QueueEntry(int64_t attempt) const;

 private:
  struct Step {
    enum class Kind { kSettle, kTrigger } kind;
    int64_t stage_id = 0;
    TriggerSpec spec;
  };
  absl::Status Drain(Effects* effects);
  absl::StatusOr<int64_t> DoTrigger(const TriggerSpec& spec, Effects* effects);
  // FAILED_PRECONDITION when a material takes, without the operator naming
  // it, an upstream run marked bad in the pipeline's environment.
  absl::Status CheckBadVersions(const config::Pipeline& pipeline, const TriggerSpec& spec,
                                const std::vector<store::MaterialRevisionRecord>& materials) const;
  absl::StatusOr<std::vector<store::MaterialRevisionRecord>> ResolveMaterials(
      const config::Pipeline& pipeline, const TriggerSpec& spec);
  // With `approval_comment`, an operator opened the stage: the approval is
  // recorded (approved_by, now, the comment).
  // `attempt`: the new attempt's config revision (`pipeline` is of it) and
  // whether it re-runs failed jobs only.
  absl::Status ScheduleStage(RunEntry& run, const config::Pipeline& pipeline, int stage_index,
                             const std::string& approved_by, Effects* effects,
                             std::optional<std::string> approval_comment = std::nullopt,
                             AttemptKind attempt = {});
  void StartStage(RunEntry& run, int64_t stage_id, Effects* effects);
  // A re-run of failed jobs: a passed job of the attempt before is copied
  // (true) instead of scheduled.
  bool CopyPassedJob(RunEntry& run, const store::StageRunRecord& stage, const std::string& name);
  // The pipeline of the newest stage attempt's revision: the stages a run
  // goes on to take the revision of the one before them.
  const config::Pipeline* FlowPipeline(const RunEntry& run, int64_t* revision) const;
  absl::Status InsertJob(RunEntry& run, const config::Pipeline& pipeline,
                         const store::StageRunRecord& stage, const config::Job& job,
                         const std::string& name, const std::string& pinned_agent,
                         Effects* effects);
  absl::Status SettleStage(int64_t stage_id, Effects* effects);
  void SettleRun(RunEntry& run, const config::Pipeline& pipeline,
                 const store::StageRunRecord& stage, Effects* effects);
  void StartQueued(const std::string& pipeline, const std::string& stage, Effects* effects);
  // The environment deploy lock (env_lock.cc). Whether `run`'s next stage
  // must queue for its environment's lock (and why); noting that a run let
  // go of it; starting the oldest waiter of every environment let go of.
  bool EnvLockBlocks(const RunEntry& run, std::string* reason) const;
  void NoteEnvLockRelease(const RunEntry& run);
  void StartEnvLockWaiters(Effects* effects);
  void SetRunState(RunEntry& run, RunState state);
  void FinishJob(int64_t attempt, JobState state, const std::string& reason);
  // The run (loaded from the database if it is not in memory).
  absl::StatusOr<RunEntry*> LoadRun(const std::string& pipeline, int64_t counter);
  absl::StatusOr<RunEntry*> LoadRunOfJob(int64_t attempt);
  absl::StatusOr<RunEntry*> AddLoaded(std::optional<store::RunRows> rows);
  const config::Pipeline* PipelineOf(const RunEntry& run) const;
  // planner_controls.cc: refusals, the waiting trigger, the lock.
  config::LockBehavior LockBehaviorOf(const std::string& pipeline) const;
  int64_t LockHolder(const std::string& pipeline) const;  // a counter; 0 = unlocked
  absl::Status CheckTriggerAllowed(const std::string& pipeline) const;
  absl::Status CheckStageAllowed(const RunEntry& run, const std::string& what) const;
  // An upstream trigger of a paused or locked pipeline is kept (true).
  bool KeepWaiting(const TriggerSpec& spec, Effects* effects);
  void RunWaiting(const std::string& pipeline);
  void TakeLock(const RunEntry& run, bool stops_at_gate);
  void ReleaseLock(const std::string& pipeline, const std::string& why, Effects* effects);
  void ReleaseLockAfter(const RunEntry& run, const store::StageRunRecord& stage, Effects* effects);
  const config::Job* JobConfig(const RunEntry& run, const store::StageRunRecord& stage,
                               const std::string& config_job) const;

  RunModel* model_;
  ConfigCache* configs_;
  ColdStore* cold_;
  IdSource* ids_;
  int64_t now_ = 0;
  std::vector<AgentProfile> agents_;
  const GitHeads* git_heads_ = nullptr;
  std::deque<Step> work_;
  std::set<std::string> env_released_;  // locked environments a run let go of
};

std::string JobLocator(const RunEntry& run, const store::StageRunRecord& stage,
                       const store::JobRunRecord& job);

}  // namespace gantry
