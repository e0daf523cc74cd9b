// The scheduler: the single writer of pipeline state. Every change runs on
// one strand (one thread, one database connection) as part of a batch:
// whatever is waiting (agent reports, triggers, hellos) is taken at once,
// each item becomes planner operations on the in-memory RunModel, queued
// jobs are paired with idle agents, and the batch's writes commit in one
// transaction. Only then are agents and operators told; if the commit
// fails, memory is reloaded from the database and nothing is acknowledged.
//
//   edge (controller/rpc) -> Scheduler (this: strand, inbox, batches)
//     -> AgentRegistry, Dispatcher, Planner (decisions, in memory)
//     -> store::Tx::ApplyWrites (the batch's SQL)
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/agent_channel.h"
#include "controller/audit/audit_log.h"
#include "controller/auth.h"
#include "controller/clock.h"
#include "controller/config_cache.h"
#include "controller/executor.h"
#include "controller/planner/planner.h"
#include "controller/planner/run_model.h"
#include "controller/scheduling/admission.h"
#include "controller/scheduling/agent_registry.h"
#include "controller/scheduling/assignment_builder.h"
#include "controller/scheduling/change_notice.h"
#include "controller/scheduling/config_apply.h"
#include "controller/scheduling/db_cold_store.h"
#include "controller/scheduling/dispatcher.h"
#include "controller/scheduling/timer_schedule.h"
#include "controller/store/db.h"
#include "gantry/v1/agent.pb.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

struct SchedulerOptions {
  std::string controller_url;  // sent to agents as GANTRY_CONTROLLER_URL
  std::string register_key_hash;
  absl::Duration heartbeat_interval = absl::Seconds(5);
  // An agent silent this long is lost, and so is the job it was running. A
  // `run_instances: all` copy whose agent stays away this long fails.
  absl::Duration agent_lost_timeout = absl::Seconds(30);
  // Per job attempt; later output is dropped after a truncation marker.
  int64_t max_console_bytes = 100 << 20;
  // The zone timer specs are read in (GoCD: the server's), scheduler_timers.cc.
  absl::TimeZone timer_zone = absl::LocalTimeZone();
  // Agent input waiting for the strand, in bytes: past it, sessions stop
  // reading (gRPC flow control then holds the agents back) until it drains.
  size_t max_inbox_bytes = 64 << 20;
  // Agent admission (scheduler_admission.cc): agents waiting for approval
  // at most (past it, a registration without a valid key is refused and
  // nothing is written), and the rate of registrations without a valid key.
  int max_pending_agents = 100;
  RegisterLimits register_limits;
  // Registrations and refused agent sessions are recorded here; may be null.
  AuditLog* audit = nullptr;
};

template <typename T>
using Reply = std::function<void(absl::StatusOr<T>)>;

// A bad-version mark as the API shows it (scheduler_rollback.cc).
void BadVersionView(const store::BadVersionRecord& mark, v1::BadVersion* out);

class Scheduler {
 public:
  Scheduler(std::unique_ptr<store::Db> db, ConfigCache* configs, SchedulerOptions options,
            Clock* clock);
  ~Scheduler();

  // The agent auto-register key's hash, known once the controller leads
  // (bootstrap.h); before Start.
  void SetRegisterKeyHash(std::string hash) { options_.register_key_hash = std::move(hash); }
  // Loads agents, the current config and unfinished runs; blocks until done.
  absl::Status Start();
  // The gRPC server serves now: lost-agent clocks of agents holding jobs
  // start here, not at Start, so a slow start-up costs no agent its job.
  void Serving();
  void Stop();
  // Ends every agent session (agents reconnect to the next controller) and
  // refuses new ones, so the gRPC server can shut down without waiting for
  // streams that never end by themselves.
  void CloseSessions();
  // Called when memory cannot be rebuilt from the database after a failed
  // commit: the process should exit and be restarted from the database.
  void set_fatal_handler(std::function<void(const absl::Status&)> fn) { fatal_ = std::move(fn); }
  // Told on the strand after each batch's commit what it changed
  // (change_notice.h); must only post the notice elsewhere. Set before Start.
  void set_change_listener(ChangeListener fn) { change_listener_ = std::move(fn); }
  // Tasks waiting for the strand (a metric).
  size_t StrandQueueLength() const { return strand_.queued(); }
  // Returns once everything posted before it has run (tests).
  void Sync();
  // Git materials (scheduler_materials.cc; controller/materials/). Set
  // before Start: the newest fetched commits (the default revision of a
  // git material) and how a trigger's git revisions are resolved to full
  // SHAs, off the strand, before it is delivered.
  using GitRevisionResolver =
      std::function<void(TriggerSpec, std::function<void(absl::StatusOr<TriggerSpec>)>)>;
  void SetGitMaterials(const GitHeads* heads, GitRevisionResolver resolver);
  // A trigger for a new commit: into the inbox like an operator's.
  void TriggerForMaterial(TriggerSpec spec, Reply<v1::PipelineRun> done);

  // --- operator calls
  void ApplyConfig(std::vector<v1::ConfigFile> files, std::string author,
                   Reply<v1::ApplyConfigResponse> done);
  // A new revision made by `apply` on the strand (a config repository's
  // commit, controller/config_repo/), put in force as ApplyConfig's is.
  void ApplyConfigWith(std::function<absl::StatusOr<AppliedConfig>(store::Db&)> apply,
                       std::string author, Reply<v1::ApplyConfigResponse> done);
  // The edge has checked `who` may operate the pipeline; gates (who may
  // approve a stage) are the planner's to check.
  void Trigger(v1::TriggerPipelineRequest request, Principal who, Reply<v1::PipelineRun> done);
  void Approve(v1::StageRequest request, Principal who, Reply<v1::PipelineRun> done);
  void CancelStage(v1::StageRequest request, Principal who, Reply<v1::PipelineRun> done);
  void RerunStage(v1::StageRequest request, Principal who, Reply<v1::PipelineRun> done);
  void ListAgents(Reply<v1::ListAgentsResponse> done);
  // Typed rollbacks and bad-version marks (scheduler_rollback.cc); the edge
  // has checked deploy permission on the environment.
  void Rollback(v1::RollbackRequest request, Principal who, Reply<v1::RollbackResponse> done);
  void ClearBadVersion(v1::ClearBadVersionRequest request, Principal who,
                       Reply<v1::ListBadVersionsResponse> done);
  // Pause and locks (scheduler_controls.cc); the edge has checked that
  // `who` may operate the pipeline.
  void Pause(v1::PausePipelineRequest request, Principal who, Reply<v1::PipelineControls> done);
  void Unpause(v1::PipelineRequest request, Principal who, Reply<v1::PipelineControls> done);
  void Unlock(v1::PipelineRequest request, Principal who, Reply<v1::PipelineControls> done);
  void UpdateAgent(v1::UpdateAgentRequest request, Reply<v1::Agent> done);

  // --- agent admission (scheduler_admission.cc). The edge has checked that
  // the caller of an operator call is an admin; `who` is who it was.
  // `source` is the caller's address (rate limits, audit log).
  void Register(v1::RegisterRequest request, std::string source,
                Reply<v1::RegisterResponse> done);
  void SetAgent(v1::SetAgentRequest request, Reply<v1::Agent> done);
  void DeleteAgent(v1::DeleteAgentRequest request, Principal who, Reply<v1::Agent> done);
  void CreateAgentKey(v1::CreateAgentKeyRequest request, Principal who,
                      Reply<v1::CreateAgentKeyResponse> done);
  void ListAgentKeys(v1::ListAgentKeysRequest request, Reply<v1::ListAgentKeysResponse> done);
  void RevokeAgentKey(v1::RevokeAgentKeyRequest request, Principal who,
                      Reply<v1::AgentKey> done);

  // --- agent calls
  // Both return false when the inbox is full: the session must stop reading
  // until the scheduler calls its channel's ResumeReads.
  bool AgentConnected(std::shared_ptr<AgentChannel> channel, v1::Hello hello);
  bool AgentMessage(std::shared_ptr<AgentChannel> channel, v1::AgentMessage message);
  void AgentDisconnected(std::shared_ptr<AgentChannel> channel);

 private:
  // One unit of work on the strand: planner operations, then pairing, one
  // commit, and what to do once it is known whether the commit held.
  struct Assignment {
    AgentSession* agent;
    AssignmentInput input;
    std::shared_ptr<v1::ControllerMessage> message;
  };
  struct Batch {
    Effects effects;
    std::vector<Assignment> assignments;
    std::vector<std::function<void()>> after_commit;
    std::vector<std::function<void(const absl::Status&)>> on_failure;
    absl::Status failed;  // a planner operation failed after changing memory
  };
  // What agents and operators sent, in arrival order.
  struct Inbound {
    std::shared_ptr<AgentChannel> channel;
    std::optional<v1::Hello> hello;
    std::optional<v1::AgentMessage> message;
    std::optional<TriggerSpec> trigger;
    Reply<v1::PipelineRun> trigger_done;
    absl::Time received;
    size_t bytes = 0;
  };

  // scheduler.cc: batches, commits, reloads.
  void Prepare(Batch& batch);
  void Commit(Batch& batch);
  void AssignInBatch(Batch& batch);
  void ApplyEffects(const Effects& effects);
  absl::Status Resync();
  absl::Status LoadRuns();
  void AfterOperation(Batch& batch, const absl::Status& st);
  // One operator operation on a run as its own batch; answers with the run.
  void RunOperation(const std::function<absl::StatusOr<int64_t>(Effects*)>& operation,
                    const Reply<v1::PipelineRun>& done);
  v1::PipelineRun RunView(int64_t run_id);

  // scheduler_controls.cc: one pause/unpause/unlock as its own batch,
  // answered with the pipeline's controls; and after a config apply, the
  // controls reloaded (a pipeline new with `paused: true`) and the planner
  // told (locks no longer configured, waiting triggers).
  void ControlsOperation(const std::string& pipeline,
                         const std::function<absl::Status(Effects*)>& operation,
                         const Reply<v1::PipelineControls>& done);
  void ConfigApplied(Batch& batch);

  // scheduler_agents.cc: the inbox, hellos, reports, liveness.
  bool Deliver(Inbound in);
  void DrainInbox();
  void Hello(Batch& batch, const std::shared_ptr<AgentChannel>& channel, const v1::Hello& hello,
             absl::Time received);
  void Fence(Batch& batch, AgentSession& agent, const v1::Hello& hello);
  void Report(Batch& batch, AgentSession& agent, const v1::AgentMessage& message);
  void ReportConsole(Batch& batch, AgentSession& agent, const v1::ConsoleChunk& chunk);
  void ReportCompleted(Batch& batch, AgentSession& agent, const v1::JobCompleted& done);
  void TriggerItem(Batch& batch, Inbound& in);
  // A hello from another process than the one connected as that agent:
  // refused, the session in place untouched.
  bool RefuseClone(AgentSession& agent, const std::shared_ptr<AgentChannel>& channel,
                   const v1::Hello& hello, absl::Time received);

  // scheduler_admission.cc
  // The register key's scope (bootstrap, a live scoped key), or nullopt.
  std::optional<store::AgentKeyRecord> RegisterKeyScope(const std::string& key);
  absl::StatusOr<v1::RegisterResponse> Admit(const v1::RegisterRequest& request,
                                             const std::string& source, AuditEntry& audit);
  absl::Status LoadAgentKeys();
  // Commits an agent change and lets the next batch pair with it.
  void AgentsChanged();
  void Audit(AuditEntry entry);
  void Tick(absl::Time now);
  void RecordContacts(absl::Time now);

  // scheduler_timers.cc: pipeline timers, checked every second.
  absl::Status StartTimers();
  void FireTimers(absl::Time now);
  // For `only_on_changes`: whether a new run would take a material revision
  // the pipeline's newest run did not.
  absl::StatusOr<bool> MaterialsChanged(const config::Pipeline& pipeline);

  std::unique_ptr<store::Db> db_;
  ConfigCache* configs_;
  SchedulerOptions options_;
  Clock* clock_;
  DbColdStore cold_;
  RunModel model_;
  Planner planner_;
  AgentRegistry agents_;
  Dispatcher dispatcher_;
  std::function<void(const absl::Status&)> fatal_;
  GitRevisionResolver git_resolver_;  // may be empty (no poller)
  const GitHeads* git_heads_ = nullptr;  // may be null (no poller)
  TimerSchedule timers_{options_.timer_zone};  // strand-only
  void ResolveThenDeliver(TriggerSpec spec, Reply<v1::PipelineRun> done);
  ChangeListener change_listener_;
  Strand strand_;

  // Strand-only.
  bool closing_ = false;
  bool profiles_changed_ = true;  // agents or environments changed since Prepare
  absl::Time contacts_recorded_at_ = absl::InfinitePast();
  static constexpr absl::Duration kRecordContactsEvery = absl::Seconds(30);
  static constexpr size_t kMaxAssignBatch = 256;
  static constexpr size_t kMaxItemsPerBatch = 512;

  std::mutex inbox_mu_;
  std::vector<Inbound> inbox_;                         // guarded by inbox_mu_
  size_t inbox_bytes_ = 0;                             // guarded by inbox_mu_
  std::vector<std::shared_ptr<AgentChannel>> paused_;  // guarded by inbox_mu_

  // Admission, strand-only: live scoped register keys by hash (loaded on
  // first use), and the limiter of registrations without a valid key.
  std::optional<std::map<std::string, store::AgentKeyRecord>> agent_keys_;
  RegisterLimiter register_limiter_{options_.register_limits};
  absl::Time limited_warning_at_ = absl::InfinitePast();
  int64_t limited_since_warning_ = 0;
};

}  // namespace gantry
