// The named state changes of pipeline runs, each applied inside the caller's
// transaction: TriggerPipeline, ScheduleStage, SettleStage (a job ended),
// ApproveStage. They only touch the database and report what memory must
// learn after the commit through PlanEffects.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/model.h"
#include "controller/config_cache.h"
#include "controller/matching.h"
#include "controller/store/records.h"
#include "controller/store/tx.h"

namespace gantry {

// What the strand must do once the transaction has committed.
struct CancelRequest {
  int64_t attempt_id = 0;
  std::string agent_id;
  std::string reason;
};

// A job run newly in state scheduled, with what dispatch and assignment
// need to know about it, so that neither reads back what was just written.
struct ScheduledJob {
  int64_t job_run_id = 0;
  std::string name;        // "build", or "build-runInstance-2"
  std::string config_job;  // its job in the run's config
  store::StageRunRecord stage;
  store::PipelineRunRecord run;
  JobRequirements requirements;
  std::string Locator() const;  // P/N/S/C/J
};

struct PlanEffects {
  std::vector<ScheduledJob> scheduled_jobs;  // job runs newly in state scheduled
  std::vector<int64_t> ended_jobs;      // scheduled job runs ended unassigned
  std::vector<CancelRequest> cancels;   // running attempts their agents must stop
  std::vector<std::string> events;      // one log line each
  void Clear() { *this = PlanEffects(); }
};

struct TriggerSpec {
  std::string pipeline;
  std::string user;
  std::string cause_kind = "manual";  // manual | upstream
  std::string message;
  std::map<std::string, std::string> revisions;  // material -> revision
  std::vector<store::VariableRecord> variables;  // trigger-time overrides
  // Set for an upstream trigger: the upstream stage run that passed.
  std::optional<store::MaterialRevisionRecord> upstream;
};

class RunPlanner {
 public:
  // `matching_agents` (ids of the enabled agents that match) serves
  // `run_instances: all`: one instance pinned to each.
  RunPlanner(ConfigCache* configs,
             std::function<std::vector<std::string>(const JobRequirements&)> matching_agents);

  absl::StatusOr<store::PipelineRunRecord> Trigger(store::Tx& tx,
                                                   const TriggerSpec& spec,
                                                   PlanEffects* effects);

  // Creates the next attempt of stage `stage_index` of `run` with its jobs.
  absl::Status ScheduleStage(store::Tx& tx, const store::PipelineRunRecord& run,
                             const config::Pipeline& pipeline, int stage_index,
                             const std::string& approved_by, PlanEffects* effects);

  // Called after a job of the stage reached a final state: when every job
  // has, settles the stage, then the run (next stage, gate, or the end),
  // and triggers downstream pipelines of a passed stage.
  absl::Status SettleStage(store::Tx& tx, int64_t stage_run_id,
                           PlanEffects* effects);

  // The agent running job attempt `job_run_id` went silent: the attempt
  // ends `lost`, then the job's on_agent_lost policy applies (fail: the stage
  // settles; reschedule: a new attempt of the job is scheduled). Returns
  // false if the attempt was not the agent's or already ended.
  absl::StatusOr<bool> LoseJob(store::Tx& tx, int64_t job_run_id,
                               const std::string& agent_id, const std::string& reason,
                               PlanEffects* effects);

  absl::StatusOr<store::PipelineRunRecord> Approve(store::Tx& tx,
                                                   const std::string& pipeline,
                                                   int64_t counter,
                                                   const std::string& stage,
                                                   const std::string& user,
                                                   PlanEffects* effects);

  // Cancels the newest attempt of the stage: scheduled jobs end `cancelled`
  // at once, assigned and running ones are recorded as cancel-requested and
  // returned in effects->cancels for their agents to stop; the stage settles
  // when the last of them reports.
  absl::StatusOr<store::PipelineRunRecord> Cancel(store::Tx& tx,
                                                  const std::string& pipeline,
                                                  int64_t counter,
                                                  const std::string& stage,
                                                  const std::string& user,
                                                  PlanEffects* effects);

  // Job run `job_run_id` as dispatch needs it (after a restart, or an
  // attempt handed back); nullopt if it is gone.
  absl::StatusOr<std::optional<ScheduledJob>> LoadScheduledJob(store::Tx& tx,
                                                               int64_t job_run_id);

  // Requirements of a job as configured in `pipeline` under the current
  // environments.
  JobRequirements Requirements(const config::Pipeline& pipeline,
                               const config::Job& job) const;

 private:
  // Inserts the stage's job runs and marks it building.
  absl::Status StartStage(store::Tx& tx, const store::PipelineRunRecord& run,
                          const config::Pipeline& pipeline,
                          const store::StageRunRecord& stage, PlanEffects* effects);
  // Starts the oldest run of `pipeline`/`stage` queued behind one that ended.
  absl::Status StartQueued(store::Tx& tx, const std::string& pipeline,
                           const std::string& stage, PlanEffects* effects);
  // Inserts a new attempt `name` of `job` and reports it scheduled.
  void InsertScheduledJob(store::Tx& tx, const store::PipelineRunRecord& run,
                          const config::Pipeline& pipeline, const store::StageRunRecord& stage,
                          const config::Job& job, const std::string& name,
                          const std::string& pinned_agent, PlanEffects* effects);
  absl::StatusOr<std::shared_ptr<const config::Config>> ConfigOf(
      store::Tx& tx, const store::PipelineRunRecord& run);

  ConfigCache* configs_;
  std::function<std::vector<std::string>(const JobRequirements&)> matching_agents_;
};

// passed, failed, cancelled or lost: the attempt will never change again.
bool IsFinalJobState(const std::string& state);

// "${COUNT}" and "${material}" / "${material[:N]}" expanded.
std::string ExpandLabel(const std::string& label_template, int64_t counter,
                        const std::vector<store::MaterialRevisionRecord>& materials);

}  // namespace gantry
