// Job attempt operations: assign, start, console, complete, lose, reclaim.
// Fencing lives here: an agent's report counts only for the attempt memory
// says is that agent's.
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/planner/planner.h"

namespace gantry {

void Planner::FinishJob(int64_t attempt, JobState state, const std::string& reason) {
  store::JobRunRecord& j = model_->ChangeJob(attempt);
  j.state = state;
  j.reason = reason;
  j.finished_at = now_;
}

absl::StatusOr<const store::JobRunRecord*> Planner::FindAttempt(int64_t attempt) {
  ASSIGN_OR_RETURN(RunEntry * run, LoadRunOfJob(attempt));
  if (run == nullptr) return nullptr;
  return &run->jobs.at(attempt);
}

bool Planner::Assign(int64_t attempt, const std::string& agent_id) {
  store::JobRunRecord* job = model_->FindJob(attempt);
  if (job == nullptr || job->state != JobState::kScheduled) return false;
  store::JobRunRecord& j = model_->ChangeJob(attempt);
  j.state = JobState::kAssigned;
  j.agent_id = agent_id;
  j.reason.clear();
  j.assigned_at = now_;
  return true;
}

absl::StatusOr<ReportOutcome> Planner::Start(int64_t attempt, const std::string& agent_id) {
  ASSIGN_OR_RETURN(RunEntry * run, LoadRunOfJob(attempt));
  if (run == nullptr) return ReportOutcome::kRefused;
  const store::JobRunRecord& job = run->jobs.at(attempt);
  // Only the agent the attempt was assigned to may start it.
  if (job.agent_id != agent_id || job.state == JobState::kLost) return ReportOutcome::kRefused;
  if (job.state != JobState::kAssigned) return ReportOutcome::kDuplicate;
  store::JobRunRecord& j = model_->ChangeJob(attempt);
  j.state = JobState::kRunning;
  j.started_at = now_;
  return ReportOutcome::kRecorded;
}

absl::StatusOr<ReportOutcome> Planner::Console(int64_t attempt, const std::string& agent_id,
                                               int64_t sequence, const std::string& data,
                                               int64_t max_bytes) {
  ASSIGN_OR_RETURN(RunEntry * run, LoadRunOfJob(attempt));
  if (run == nullptr) return ReportOutcome::kRefused;
  const store::JobRunRecord& job = run->jobs.at(attempt);
  // A lost attempt is fenced: its old agent's late lines are refused.
  if (job.agent_id != agent_id || job.state == JobState::kLost) return ReportOutcome::kRefused;
  if (sequence <= job.last_sequence) return ReportOutcome::kDuplicate;
  store::JobRunRecord& j = model_->ChangeJob(attempt);
  j.last_sequence = sequence;
  if (j.console_truncated) return ReportOutcome::kRecorded;  // acknowledged, dropped
  std::string stored = data;
  bool truncate = max_bytes > 0 && j.console_bytes + static_cast<int64_t>(data.size()) > max_bytes;
  if (truncate) {
    stored.resize(static_cast<size_t>(std::max<int64_t>(0, max_bytes - j.console_bytes)));
    // Whole lines only: the kept part ends at its last newline, and the
    // marker is a line of its own. A chunk need not end a line, so when
    // nothing of this one is kept the marker starts with a newline.
    size_t line_end = stored.rfind('\n');
    stored.resize(line_end == std::string::npos ? 0 : line_end + 1);
    if (stored.empty() && j.console_bytes > 0) stored.push_back('\n');
    stored += absl::StrCat("[gantry] console log truncated at ", max_bytes,
                           " bytes: later output of this job is not kept\n");
    j.console_truncated = true;
  }
  model_->AddConsole({attempt, sequence, j.console_bytes, stored});
  j.console_bytes += static_cast<int64_t>(stored.size());
  return ReportOutcome::kRecorded;
}

absl::StatusOr<ReportOutcome> Planner::Complete(int64_t attempt, const std::string& agent_id,
                                                JobState result, const std::string& reason,
                                                Effects* effects) {
  ASSIGN_OR_RETURN(RunEntry * run, LoadRunOfJob(attempt));
  if (run == nullptr) return ReportOutcome::kRefused;
  const store::JobRunRecord& job = run->jobs.at(attempt);
  if (job.agent_id != agent_id) return ReportOutcome::kRefused;
  if (IsFinal(job.state)) {
    return job.state == result ? ReportOutcome::kDuplicate : ReportOutcome::kRefused;
  }
  if (!IsHeld(job.state)) return ReportOutcome::kRefused;
  int64_t stage_id = job.stage_run_id;
  FinishJob(attempt, result, reason);
  effects->released.push_back(attempt);
  work_.push_back({Step::Kind::kSettle, stage_id, {}});
  RETURN_IF_ERROR(Drain(effects));
  return ReportOutcome::kRecorded;
}

absl::StatusOr<bool> Planner::Lose(int64_t attempt, const std::string& agent_id,
                                   const std::string& reason, Effects* effects) {
  ASSIGN_OR_RETURN(RunEntry * run, LoadRunOfJob(attempt));
  if (run == nullptr) return false;
  const store::JobRunRecord job = run->jobs.at(attempt);
  if (job.agent_id != agent_id || !IsHeld(job.state)) return false;
  const store::StageRunRecord& stage = run->stages.at(job.stage_run_id);
  std::string where = JobLocator(*run, stage, job);
  effects->released.push_back(attempt);
  FinishJob(attempt, JobState::kLost, reason);
  if (!job.cancel_reason.empty()) {
    // It was being cancelled: the cancel stands, nothing is rescheduled.
    FinishJob(attempt, JobState::kCancelled,
              absl::StrCat(job.cancel_reason, " (agent lost: ", reason, ")"));
    work_.push_back({Step::Kind::kSettle, stage.id, {}});
    RETURN_IF_ERROR(Drain(effects));
    return true;
  }
  const config::Job* job_cfg = JobConfig(*run, stage, job.config_job);
  if (job_cfg != nullptr && job_cfg->on_agent_lost == config::OnAgentLost::kReschedule) {
    RETURN_IF_ERROR(InsertJob(*run, *run->PipelineOf(stage), stage, *job_cfg, job.name,
                              job.pinned_agent, effects));
    effects->events.push_back(
        absl::StrCat(where, " lost (", reason, "): rescheduled as a new attempt"));
    return true;
  }
  effects->events.push_back(absl::StrCat(where, " lost (", reason, "): failing it"));
  work_.push_back({Step::Kind::kSettle, stage.id, {}});
  RETURN_IF_ERROR(Drain(effects));
  return true;
}

absl::Status Planner::Reclaim(int64_t attempt, const std::string& agent_id,
                              const std::string& agent_name, Effects* effects) {
  ASSIGN_OR_RETURN(RunEntry * run, LoadRunOfJob(attempt));
  if (run == nullptr) return absl::OkStatus();
  const store::JobRunRecord& job = run->jobs.at(attempt);
  if (job.agent_id != agent_id) return absl::OkStatus();
  effects->released.push_back(attempt);
  if (IsHeld(job.state) && !job.cancel_reason.empty()) {
    // Its stage was cancelled and the agent no longer runs it: the cancel is
    // done. Requeued, the job would run again in a cancelled stage.
    int64_t stage_id = job.stage_run_id;
    std::string reason = job.cancel_reason;
    FinishJob(attempt, JobState::kCancelled, reason);
    work_.push_back({Step::Kind::kSettle, stage_id, {}});
  } else if (job.state == JobState::kAssigned) {
    // Never started: safe to hand to any agent.
    store::JobRunRecord& j = model_->ChangeJob(attempt);
    j.state = JobState::kScheduled;
    j.agent_id.clear();
    j.assigned_at = 0;
    if (auto q = QueueEntry(attempt)) effects->queued.push_back(std::move(*q));
  } else if (job.state == JobState::kRunning) {
    int64_t stage_id = job.stage_run_id;
    FinishJob(attempt, JobState::kFailed,
              absl::StrCat("agent ", agent_name, " restarted and lost the job"));
    work_.push_back({Step::Kind::kSettle, stage_id, {}});
  }
  return Drain(effects);
}

absl::Status Planner::FailUnrunnable(int64_t attempt, const std::string& reason, Effects* effects) {
  store::JobRunRecord* job = model_->FindJob(attempt);
  if (job == nullptr || job->state != JobState::kScheduled) return absl::OkStatus();
  int64_t stage_id = job->stage_run_id;
  FinishJob(attempt, JobState::kFailed, reason);
  effects->unqueued.push_back(attempt);
  work_.push_back({Step::Kind::kSettle, stage_id, {}});
  return Drain(effects);
}

void Planner::SetWaitingReason(int64_t attempt, const std::string& reason) {
  store::JobRunRecord* job = model_->FindJob(attempt);
  if (job == nullptr || job->state != JobState::kScheduled || job->reason == reason) return;
  model_->ChangeJob(attempt).reason = reason;
}

}  // namespace gantry
