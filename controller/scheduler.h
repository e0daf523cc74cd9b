// The scheduler: the single writer of pipeline state. Every public method
// posts onto one strand (one thread, one database connection), runs its
// transaction there, updates memory after the commit and only then answers
// through its callback. Agent sessions are driven from here: a scheduled job
// is pushed to an idle matching connected agent as soon as it is committed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/agent_channel.h"
#include "controller/auth.h"
#include "controller/config_cache.h"
#include "controller/executor.h"
#include "controller/matching.h"
#include "controller/run_planner.h"
#include "controller/store/db.h"
#include "gantry/v1/agent.pb.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

struct SchedulerOptions {
  std::string controller_url;  // sent to agents as GANTRY_CONTROLLER_URL
  std::string register_key_hash;
  absl::Duration heartbeat_interval = absl::Seconds(5);
  // An agent silent this long is lost, and so is the job it was running.
  absl::Duration agent_lost_timeout = absl::Seconds(30);
  // Per job attempt; later output is dropped after a truncation marker.
  int64_t max_console_bytes = 100 << 20;
};

template <typename T>
using Reply = std::function<void(absl::StatusOr<T>)>;

class Scheduler {
 public:
  Scheduler(std::unique_ptr<store::Db> db, ConfigCache* configs,
            SchedulerOptions options);
  ~Scheduler();

  // Loads agents, the current config and unfinished jobs; blocks until done.
  absl::Status Start();
  void Stop();
  // Ends every agent session (agents reconnect to the next controller) and
  // refuses new ones, so the gRPC server can shut down without waiting for
  // streams that never end by themselves.
  void CloseSessions();

  // --- operator calls
  void ApplyConfig(std::vector<v1::ConfigFile> files, std::string author,
                   Reply<v1::ApplyConfigResponse> done);
  void Trigger(v1::TriggerPipelineRequest request, std::string user,
               Reply<v1::PipelineRun> done);
  void Approve(v1::StageRequest request, std::string user,
               Reply<v1::PipelineRun> done);
  void CancelStage(v1::StageRequest request, std::string user,
                   Reply<v1::PipelineRun> done);
  void ListAgents(Reply<v1::ListAgentsResponse> done);
  void UpdateAgent(v1::UpdateAgentRequest request, Reply<v1::Agent> done);

  // --- agent calls
  void Register(v1::RegisterRequest request, Reply<v1::RegisterResponse> done);
  void AgentConnected(std::shared_ptr<AgentChannel> channel, v1::Hello hello);
  void AgentMessage(std::shared_ptr<AgentChannel> channel, v1::AgentMessage message);
  void AgentDisconnected(std::shared_ptr<AgentChannel> channel);

 private:
  struct AgentState {
    store::AgentRecord record;
    std::shared_ptr<AgentChannel> channel;  // null while disconnected
    int64_t attempt = 0;                    // the job run it holds, 0 if idle
    std::string building;                   // "P/N/S/J" of that job
    absl::Time last_contact = absl::InfinitePast();
    int64_t recorded_contact_ms = 0;  // last_contact as last written (Unix ms)
    bool lost = false;  // went silent; cleared by its next hello
  };
  struct PendingJob : ScheduledJob {
    std::string locator;  // P/N/S/C/J, for logs
    std::string reason;   // why it waits, as last stored
  };

  // Runs on the strand.
  void DoApplyConfig(const std::vector<v1::ConfigFile>& files,
                     const std::string& author, const Reply<v1::ApplyConfigResponse>& done);
  // Manual triggers, planned in batches (scheduler_triggers.cc).
  struct TriggerCall {
    TriggerSpec spec;
    Reply<v1::PipelineRun> done;
    v1::PipelineRun view;  // the new run, once planned
  };
  static constexpr size_t kMaxTriggerBatch = 128;
  void DrainTriggers();
  // Plans calls[begin, end) in one transaction; their views on success.
  // `refused`: planning returned an error (not a database failure).
  absl::Status TriggerBatch(std::vector<TriggerCall>& calls, size_t begin, size_t end,
                            bool* refused);
  void DoHello(const std::shared_ptr<AgentChannel>& channel, const v1::Hello& hello,
               absl::Time received);

  // Agent input, in arrival order (scheduler_reports.cc).
  struct Inbound {
    std::shared_ptr<AgentChannel> channel;
    std::optional<v1::Hello> hello;  // else `message`
    v1::AgentMessage message;
    absl::Time received;
  };
  // A job started, console chunk or job completed report, and what its
  // write found.
  struct Report {
    AgentState* agent;
    const v1::AgentMessage* message;
    bool owned = false;  // started, console: the attempt is the agent's
    enum class Outcome { kRecorded, kDuplicate, kRefused } outcome = Outcome::kRefused;
    std::string result;  // completed: as recorded
    PlanEffects effects;
  };
  static constexpr size_t kMaxReportBatch = 512;
  void Deliver(Inbound in);
  void DrainInbox();
  // Writes the reports in one transaction (one by one if that fails), then
  // acknowledges each and dispatches once.
  void WriteReports(std::vector<Report>& reports);
  absl::Status WriteReport(store::Tx& tx, Report& report);
  void ApplyReport(Report& report);
  void ReportNotWritten(const Report& report, const absl::Status& why);

  // Applies what a committed transaction changed: queue new jobs, log, dispatch.
  void ApplyEffects(const PlanEffects& effects, bool dispatch = true);
  // Adds scheduled job runs to the pending queue.
  void EnqueueJobs(const std::vector<ScheduledJob>& jobs);
  // Pushes pending jobs to idle matching connected agents, oldest first.
  void Dispatch();
  // Periodic: marks silent agents lost (and their jobs), and records why
  // each waiting job waits.
  void Tick(absl::Time now);
  void MarkLost(AgentState& agent, const std::string& why);
  // Writes agents' last contact times in one statement. Hellos and
  // heartbeats do not write; this runs every kRecordContactsEvery and at
  // shutdown, so `agent list` after a restart is at most that stale.
  static constexpr absl::Duration kRecordContactsEvery = absl::Seconds(30);
  void RecordContacts();
  void UpdateWaitingReasons();
  // Assigns each job to its agent in one transaction, then sends them.
  struct Pairing {
    AgentState* agent;
    PendingJob job;
  };
  static constexpr size_t kMaxAssignBatch = 256;
  void AssignBatch(const std::vector<Pairing>& batch);
  // A batch and, once AssignInTx ran, the Assign of each pairing that took.
  struct Assignment {
    std::vector<Pairing> batch;
    std::vector<std::optional<v1::ControllerMessage>> messages;
  };
  // Inside the caller's transaction: scheduled -> assigned for each pairing.
  absl::Status AssignInTx(store::Tx& tx, Assignment* assignment, PlanEffects* effects);
  // After the commit: the agents hold their jobs and hear of them.
  void SendAssignments(const Assignment& assignment);
  // Newly scheduled jobs paired with idle matching agents no older queued
  // job could use, for assignment in the transaction that scheduled them.
  std::vector<Pairing> PairWithIdleAgents(const std::vector<ScheduledJob>& jobs);
  // SendAssignments, and the assigned jobs dropped from effects to queue.
  void AssignedInline(const Assignment& assignment, PlanEffects* effects);
  absl::StatusOr<v1::Assign> BuildAssignment(store::Tx& tx, const ScheduledJob& job);

  AgentProfile ProfileOf(const AgentState& agent) const;
  v1::ControllerMessage WelcomeMessage(const AgentState& agent) const;
  AgentState* AgentOfChannel(const AgentChannel* channel);
  AgentState* FindAgent(const std::string& id_or_name, absl::Status* error);
  v1::Agent AgentView(const AgentState& agent) const;
  std::string LocatorOf(store::Tx& tx, int64_t job_run_id);

  std::unique_ptr<store::Db> db_;
  ConfigCache* configs_;
  SchedulerOptions options_;
  RunPlanner planner_;
  Strand strand_;

  // Strand-only state.
  std::map<std::string, AgentState> agents_;  // by id
  std::unordered_map<const AgentChannel*, std::string> channel_agent_;
  std::map<int64_t, PendingJob> pending_;  // by job run id: oldest first
  absl::Time contacts_recorded_at_ = absl::InfinitePast();

  std::mutex ticker_mu_;
  std::condition_variable ticker_cv_;
  bool stopping_ = false;
  std::thread ticker_;

  std::mutex inbox_mu_;
  std::vector<Inbound> inbox_;  // guarded by inbox_mu_
  std::vector<TriggerCall> triggers_;  // guarded by inbox_mu_
  bool closing_ = false;  // strand-only: CloseSessions ran
};

}  // namespace gantry
