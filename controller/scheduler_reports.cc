// What agents report (hello, job started, console, task result, completion),
// taken from the session reactors in arrival order and written in batches:
// every report waiting when the strand gets to them shares one transaction,
// so a fleet streaming logs or finishing jobs costs one commit per batch
// instead of one per message. Each report is still persisted before it is
// acknowledged.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/agent_messages.h"
#include "controller/scheduler.h"
#include "controller/store/tx.h"

namespace gantry {

void Scheduler::AgentConnected(std::shared_ptr<AgentChannel> channel, v1::Hello hello) {
  Inbound in;
  in.channel = std::move(channel);
  in.hello = std::move(hello);
  Deliver(std::move(in));
}

void Scheduler::AgentMessage(std::shared_ptr<AgentChannel> channel, v1::AgentMessage message) {
  Inbound in;
  in.channel = std::move(channel);
  in.message = std::move(message);
  Deliver(std::move(in));
}

void Scheduler::Deliver(Inbound in) {
  // Arrival time, not processing time: a slow database delays the strand,
  // not the agent.
  in.received = absl::Now();
  bool post;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    post = inbox_.empty();
    inbox_.push_back(std::move(in));
  }
  // One drain per non-empty inbox; hellos go through it too, so a session's
  // messages are never handled before its hello.
  if (post) strand_.Post([this] { DrainInbox(); });
}

void Scheduler::DrainInbox() {
  std::vector<Inbound> inbox;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    inbox.swap(inbox_);
  }
  std::vector<Report> reports;
  auto flush = [&] {
    WriteReports(reports);
    reports.clear();
  };
  for (Inbound& in : inbox) {
    if (in.hello) {
      flush();
      DoHello(in.channel, *in.hello, in.received);
      continue;
    }
    AgentState* agent = AgentOfChannel(in.channel.get());
    if (agent == nullptr) continue;  // its hello was refused or replaced
    agent->last_contact = std::max(agent->last_contact, in.received);
    const v1::AgentMessage& m = in.message;
    switch (m.kind_case()) {
      case v1::AgentMessage::kJobStarted:
      case v1::AgentMessage::kConsole:
      case v1::AgentMessage::kJobCompleted:
        if (reports.size() >= kMaxReportBatch) flush();
        reports.push_back(Report{agent, &m});
        break;
      case v1::AgentMessage::kTaskResult:
        spdlog::debug("attempt {} task {} {}", m.task_result().attempt_id(),
                      m.task_result().task_index(), m.task_result().outcome());
        break;
      case v1::AgentMessage::kHello:
        flush();
        in.channel->Close(absl::InvalidArgumentError("hello sent twice"));
        break;
      case v1::AgentMessage::kHeartbeat:
      case v1::AgentMessage::KIND_NOT_SET:
        break;
    }
  }
  flush();
}

void Scheduler::WriteReports(std::vector<Report>& reports) {
  if (reports.empty()) return;
  bool refused = false;  // a report was refused, not the database lost
  absl::Status st = db_->Run("AgentReports", [&](store::Tx& tx) -> absl::Status {
    refused = false;
    for (Report& r : reports) {
      absl::Status one = WriteReport(tx, r);
      if (!one.ok()) {
        refused = true;
        return one;
      }
    }
    return absl::OkStatus();
  });
  if (st.ok()) {
    for (Report& r : reports) ApplyReport(r);
  } else if (reports.size() == 1 || !refused) {
    // The database failed (Db::Run already retried, or the commit is in
    // doubt): one by one would wait out the same outage once per report, or
    // write twice what did commit. Unacknowledged, the agents send them again.
    for (Report& r : reports) ReportNotWritten(r, st);
  } else {
    // One bad report must not hold back the rest: each on its own.
    spdlog::warn("a batch of {} agent reports failed ({}); writing them one by one",
                 reports.size(), st.ToString());
    for (Report& r : reports) {
      absl::Status one = db_->Run("AgentReport", [&](store::Tx& tx) { return WriteReport(tx, r); });
      if (one.ok()) {
        ApplyReport(r);
      } else {
        ReportNotWritten(r, one);
      }
    }
  }
  Dispatch();
}

absl::Status Scheduler::WriteReport(store::Tx& tx, Report& r) {
  // Re-run from the start when the transaction is retried.
  r.owned = false;
  r.outcome = Report::Outcome::kRefused;
  r.effects.Clear();
  const std::string& agent_id = r.agent->record.id;
  switch (r.message->kind_case()) {
    case v1::AgentMessage::kJobStarted: {
      int64_t attempt = r.message->job_started().attempt_id();
      if (tx.TransitionJob(attempt, {"assigned"}, "running", agent_id, "")) {
        r.owned = true;
        return absl::OkStatus();
      }
      // A repeat after a reconnect is fine; an attempt now someone else's is not.
      auto job = tx.GetJobRun(attempt, false);
      r.owned = job && job->agent_id == agent_id;
      return absl::OkStatus();
    }
    case v1::AgentMessage::kConsole: {
      const v1::ConsoleChunk& chunk = r.message->console();
      r.owned = chunk.attempt_id() == r.agent->attempt;
      if (!r.owned) {
        auto job = tx.GetJobRun(chunk.attempt_id(), false);
        // A lost attempt is fenced: its old agent's late lines are refused.
        if (!job || job->agent_id != agent_id || job->state == "lost") return absl::OkStatus();
        r.owned = true;
      }
      tx.AppendConsoleChunk(chunk.attempt_id(), chunk.sequence(), chunk.data(),
                           options_.max_console_bytes);
      return absl::OkStatus();
    }
    case v1::AgentMessage::kJobCompleted: {
      const v1::JobCompleted& completed = r.message->job_completed();
      r.result = completed.result();
      if (r.result != "passed" && r.result != "failed" && r.result != "cancelled") {
        r.result = "failed";
      }
      auto job = tx.GetJobRun(completed.attempt_id(), true);
      if (!job || job->agent_id != agent_id) return absl::OkStatus();
      if (IsFinalJobState(job->state)) {
        r.outcome = job->state == r.result ? Report::Outcome::kDuplicate : Report::Outcome::kRefused;
        return absl::OkStatus();
      }
      tx.TransitionJob(completed.attempt_id(), {"assigned", "running"}, r.result, agent_id,
                       completed.reason());
      r.outcome = Report::Outcome::kRecorded;
      return planner_.SettleStage(tx, job->stage_run_id, &r.effects);
    }
    default:
      return absl::OkStatus();
  }
}

void Scheduler::ApplyReport(Report& r) {
  AgentState& agent = *r.agent;
  auto send = [&](const v1::ControllerMessage& m) {
    if (agent.channel) agent.channel->Send(m);
  };
  switch (r.message->kind_case()) {
    case v1::AgentMessage::kJobStarted:
      if (!r.owned) send(AbandonMessage(r.message->job_started().attempt_id()));
      return;
    case v1::AgentMessage::kConsole: {
      const v1::ConsoleChunk& chunk = r.message->console();
      v1::ControllerMessage reply;
      if (!r.owned) {
        reply = AbandonMessage(chunk.attempt_id());
      } else {
        reply.mutable_console_ack()->set_attempt_id(chunk.attempt_id());
        reply.mutable_console_ack()->set_sequence(chunk.sequence());
      }
      send(reply);
      return;
    }
    case v1::AgentMessage::kJobCompleted: {
      int64_t attempt = r.message->job_completed().attempt_id();
      v1::ControllerMessage reply;
      if (r.outcome == Report::Outcome::kRefused) {
        spdlog::warn("refused completion of attempt {} from agent {}: not its attempt", attempt,
                     agent.record.name);
        reply = AbandonMessage(attempt);
      } else {
        reply.mutable_completion_ack()->set_attempt_id(attempt);
      }
      if (r.outcome == Report::Outcome::kRecorded) {
        spdlog::info("{} {} on {}",
                     agent.building.empty() ? absl::StrCat(attempt) : agent.building, r.result,
                     agent.record.name);
      }
      if (agent.attempt == attempt) {
        agent.attempt = 0;
        agent.building.clear();
      }
      send(reply);
      ApplyEffects(r.effects, /*dispatch=*/false);
      return;
    }
    default:
      return;
  }
}

void Scheduler::ReportNotWritten(const Report& r, const absl::Status& why) {
  // Unacknowledged: the agent sends it again (after reconnecting).
  switch (r.message->kind_case()) {
    case v1::AgentMessage::kConsole:
      spdlog::warn("console chunk {}#{} not stored: {}", r.message->console().attempt_id(),
                   r.message->console().sequence(), why.ToString());
      return;
    case v1::AgentMessage::kJobCompleted:
      spdlog::warn("completion of attempt {} not recorded: {}",
                   r.message->job_completed().attempt_id(), why.ToString());
      return;
    default:
      spdlog::warn("start of attempt {} not recorded: {}",
                   r.message->job_started().attempt_id(), why.ToString());
      return;
  }
}

}  // namespace gantry
