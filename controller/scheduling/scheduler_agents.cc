// Agent input: the inbox (with backpressure), hellos and fencing, reports
// (started, console, completed), and liveness ticks. Reports are planner
// operations in the current batch; their acknowledgements go out only once
// the batch has committed, so an acknowledged report is a stored one.
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/crypto.h"
#include "common/locator.h"
#include "common/names.h"
#include "controller/agent_messages.h"
#include "controller/scheduling/scheduler.h"
#include "controller/store/tx.h"

namespace gantry {
namespace {

std::vector<std::string> ToVector(const google::protobuf::RepeatedPtrField<std::string>& r) {
  return {r.begin(), r.end()};
}

v1::ControllerMessage ConsoleAck(int64_t attempt, int64_t sequence) {
  v1::ControllerMessage m;
  m.mutable_console_ack()->set_attempt_id(attempt);
  m.mutable_console_ack()->set_sequence(sequence);
  return m;
}

v1::ControllerMessage CompletionAck(int64_t attempt) {
  v1::ControllerMessage m;
  m.mutable_completion_ack()->set_attempt_id(attempt);
  return m;
}

}  // namespace

bool Scheduler::AgentConnected(std::shared_ptr<AgentChannel> channel, v1::Hello hello) {
  Inbound in;
  in.bytes = hello.ByteSizeLong();
  in.channel = std::move(channel);
  in.hello = std::move(hello);
  return Deliver(std::move(in));
}

bool Scheduler::AgentMessage(std::shared_ptr<AgentChannel> channel, v1::AgentMessage message) {
  Inbound in;
  in.bytes = message.ByteSizeLong();
  in.channel = std::move(channel);
  in.message = std::move(message);
  return Deliver(std::move(in));
}

void Scheduler::AgentDisconnected(std::shared_ptr<AgentChannel> channel) {
  strand_.Post([this, channel = std::move(channel)] {
    if (AgentSession* agent = agents_.Detach(channel.get(), clock_->Now())) {
      spdlog::info("agent {} disconnected", agent->record.name);
    }
  });
}

bool Scheduler::Deliver(Inbound in) {
  // Arrival time, not processing time: a slow database delays the strand,
  // not the agent.
  in.received = clock_->Now();
  bool post, full;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    post = inbox_.empty();
    inbox_bytes_ += in.bytes;
    full = inbox_bytes_ > options_.max_inbox_bytes;
    if (full && in.channel) paused_.push_back(in.channel);
    inbox_.push_back(std::move(in));
  }
  // One drain per non-empty inbox; hellos go through it too, so a session's
  // messages are never handled before its hello.
  if (post) strand_.Post([this] { DrainInbox(); });
  return !full;
}

void Scheduler::DrainInbox() {
  std::vector<Inbound> inbox;
  std::vector<std::shared_ptr<AgentChannel>> paused;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    inbox.swap(inbox_);
    paused.swap(paused_);
    inbox_bytes_ = 0;
  }
  // Sessions that stopped reading were alive all along; they read again.
  absl::Time now = clock_->Now();
  for (const auto& channel : paused) {
    agents_.Touch(channel.get(), now);
    channel->ResumeReads();
  }
  for (size_t begin = 0; begin < inbox.size(); begin += kMaxItemsPerBatch) {
    size_t end = std::min(inbox.size(), begin + kMaxItemsPerBatch);
    Batch batch;
    Prepare(batch);
    for (size_t i = begin; i < end; ++i) {
      Inbound& in = inbox[i];
      if (in.trigger) {
        TriggerItem(batch, in);
      } else if (in.hello) {
        Hello(batch, in.channel, *in.hello, in.received);
      } else if (AgentSession* agent = agents_.ByChannel(in.channel.get())) {
        agent->last_contact = std::max(agent->last_contact, in.received);
        Report(batch, *agent, *in.message);
      }
      // else: its hello was refused or replaced.
    }
    Commit(batch);
  }
}

void Scheduler::Hello(Batch& batch, const std::shared_ptr<AgentChannel>& channel,
                      const v1::Hello& hello, absl::Time received) {
  AgentSession* found = agents_.ById(hello.agent_id());
  if (found == nullptr) {
    channel->Close(absl::NotFoundError("unknown agent id: register again"));
    return;
  }
  AgentSession& agent = *found;
  if (closing_) {
    channel->Close(absl::UnavailableError("controller shutting down"));
    return;
  }
  if (!ConstantTimeEquals(Sha256Hex(hello.token()), agent.record.token_hash)) {
    spdlog::warn("agent {} presented a wrong token", agent.record.name);
    channel->Close(absl::UnauthenticatedError("wrong agent token"));
    return;
  }
  if (RefuseClone(agent, channel, hello, received)) return;
  agents_.Attach(agent, channel, received);
  agent.session_nonce = hello.session_nonce();
  // What the agent asks for takes effect within its key's scope, or as an
  // admin assigned it (admission.h).
  store::AgentRecord updated = agent.record;
  updated.hostname = hello.hostname().substr(0, kMaxNameLength);
  updated.requested_resources = ValidNames(ToVector(hello.resources()));
  updated.requested_environments = ValidNames(ToVector(hello.environments()));
  ApplyScope(updated);
  // The usual reconnect changes nothing: no commit, so a fleet reconnecting
  // after a controller restart is not queued behind thousands of fsyncs.
  if (agent.record.hostname != updated.hostname ||
      agent.record.requested_resources != updated.requested_resources ||
      agent.record.requested_environments != updated.requested_environments ||
      agent.record.resources != updated.resources ||
      agent.record.environments != updated.environments) {
    absl::Status st = db_->Run("UpdateAgentInfo", [&](store::Tx& tx) {
      tx.UpdateAgentInfo(updated);
      return absl::OkStatus();
    });
    if (!st.ok()) {
      agents_.CloseSession(agent, absl::UnavailableError("controller database unavailable"),
                           received);
      return;
    }
    agent.record = std::move(updated);
    profiles_changed_ = true;
  }
  const auto& resources = agent.record.resources;
  const auto& environments = agent.record.environments;
  spdlog::info("agent {} connected ({}, resources [{}], environments [{}])", agent.record.name,
               Name(agent.record.state), absl::StrJoin(resources, ","),
               absl::StrJoin(environments, ","));
  channel->Send(agents_.Welcome(agent, options_.heartbeat_interval));
  Fence(batch, agent, hello);
}

void Scheduler::Fence(Batch& batch, AgentSession& agent, const v1::Hello& hello) {
  // The agent keeps only the attempt memory says is its own.
  bool still_holds_ours = false;
  bool interrupted_ours = false;
  for (const auto& held : hello.held()) {
    if (held.interrupted()) {
      // An earlier process of the agent took it and died: the job may have
      // run without the controller hearing that it started, so it is never
      // handed out again as unstarted. It ends lost (on_agent_lost decides
      // what follows). Nothing to abandon: no process holds it any more.
      if (held.attempt_id() == agent.attempt && !interrupted_ours) {
        interrupted_ours = true;
        AfterOperation(batch, planner_
                                  .Lose(agent.attempt, agent.record.id,
                                        "the agent restarted while holding it (it may have run)",
                                        &batch.effects)
                                  .status());
      }
      continue;
    }
    if (held.attempt_id() == agent.attempt) {
      still_holds_ours = true;
      const store::JobRunRecord* job = model_.FindJob(held.attempt_id());
      // A stage cancel made while it was away still applies.
      if (job != nullptr && !job->cancel_reason.empty() && !held.finished()) {
        agent.channel->Send(CancelMessage(held.attempt_id(), job->cancel_reason));
      }
      continue;
    }
    auto job = planner_.FindAttempt(held.attempt_id());
    if (!job.ok()) {
      AfterOperation(batch, job.status());
      continue;
    }
    // A finished attempt it re-reports is acknowledged when the report comes.
    bool finished_duplicate = *job != nullptr && (*job)->agent_id == agent.record.id &&
                              IsFinal((*job)->state) && held.finished();
    if (!finished_duplicate) agent.channel->Send(AbandonMessage(held.attempt_id()));
  }
  if (agent.attempt != 0 && !still_holds_ours && !interrupted_ours) {
    AfterOperation(
        batch, planner_.Reclaim(agent.attempt, agent.record.id, agent.record.name, &batch.effects));
  }
}

bool Scheduler::RefuseClone(AgentSession& agent, const std::shared_ptr<AgentChannel>& channel,
                            const v1::Hello& hello, absl::Time received) {
  if (!agent.channel || agent.channel == channel) return false;
  // The same process reconnecting (a network blip): its old session is
  // stale, and the new one replaces it.
  if (!hello.session_nonce().empty() && hello.session_nonce() == agent.session_nonce) return false;
  std::string why = absl::StrCat(
      "agent ", agent.record.name, " (", agent.record.id, ") is already connected from ",
      agent.channel->peer().empty() ? "another process" : agent.channel->peer(),
      ": another process with the same identity (a copied agent.json?) is refused while that "
      "session is open");
  // A clone retries slowly, but one that does not must not fill the logs.
  if (received - agent.clone_audited_at >= absl::Minutes(1)) {
    agent.clone_audited_at = received;
    spdlog::warn("refused a session from {}: {}", channel->peer(), why);
    Audit({absl::StrCat("agent:", agent.record.name), channel->peer(), "agent.connect",
           absl::StrCat("agent:", agent.record.name), AuditOutcome::kDenied, why});
  }
  channel->Close(absl::AlreadyExistsError(why));
  return true;
}

// Unacknowledged, a report is sent again by the agent after reconnecting.
static std::function<void(const absl::Status&)> ResendOnFailure(
    std::shared_ptr<AgentChannel> channel) {
  return [channel](const absl::Status& why) {
    channel->Close(absl::UnavailableError(absl::StrCat("report not stored: ", why.message())));
  };
}

void Scheduler::Report(Batch& batch, AgentSession& agent, const v1::AgentMessage& m) {
  switch (m.kind_case()) {
    case v1::AgentMessage::kJobStarted: {
      int64_t attempt = m.job_started().attempt_id();
      auto outcome = planner_.Start(attempt, agent.record.id);
      if (!outcome.ok()) return AfterOperation(batch, outcome.status());
      if (*outcome == ReportOutcome::kRefused) agent.channel->Send(AbandonMessage(attempt));
      batch.on_failure.push_back(ResendOnFailure(agent.channel));
      return;
    }
    case v1::AgentMessage::kConsole:
      return ReportConsole(batch, agent, m.console());
    case v1::AgentMessage::kJobCompleted:
      return ReportCompleted(batch, agent, m.job_completed());
    case v1::AgentMessage::kTaskResult:
      spdlog::debug("attempt {} task {} {}", m.task_result().attempt_id(),
                    m.task_result().task_index(), m.task_result().outcome());
      return;
    case v1::AgentMessage::kHello:
      agents_.CloseSession(agent, absl::InvalidArgumentError("hello sent twice"), clock_->Now());
      return;
    case v1::AgentMessage::kHeartbeat:
    case v1::AgentMessage::KIND_NOT_SET:
      return;
  }
}

void Scheduler::ReportConsole(Batch& batch, AgentSession& agent, const v1::ConsoleChunk& c) {
  auto outcome = planner_.Console(c.attempt_id(), agent.record.id, c.sequence(), c.data(),
                                  options_.max_console_bytes);
  if (!outcome.ok()) return AfterOperation(batch, outcome.status());
  v1::ControllerMessage reply = *outcome == ReportOutcome::kRefused
                                    ? AbandonMessage(c.attempt_id())
                                    : ConsoleAck(c.attempt_id(), c.sequence());
  batch.after_commit.push_back([channel = agent.channel, reply] { channel->Send(reply); });
  batch.on_failure.push_back(ResendOnFailure(agent.channel));
}

void Scheduler::ReportCompleted(Batch& batch, AgentSession& agent, const v1::JobCompleted& done) {
  int64_t attempt = done.attempt_id();
  std::optional<JobState> result = ParseJobState(done.result());
  if (!result || !IsFinal(*result) || *result == JobState::kLost) result = JobState::kFailed;
  std::string where = agent.building;
  auto outcome =
      planner_.Complete(attempt, agent.record.id, *result, done.reason(), &batch.effects);
  if (!outcome.ok()) return AfterOperation(batch, outcome.status());
  if (agent.attempt == attempt) {
    agent.attempt = 0;
    agent.building.clear();
  }
  v1::ControllerMessage reply = CompletionAck(attempt);
  if (*outcome == ReportOutcome::kRefused) {
    spdlog::warn("refused completion of attempt {} from agent {}: not its attempt", attempt,
                 agent.record.name);
    reply = AbandonMessage(attempt);
  } else if (*outcome == ReportOutcome::kRecorded) {
    spdlog::info("{} {} on {}", where.empty() ? absl::StrCat(attempt) : where, Name(*result),
                 agent.record.name);
  }
  batch.after_commit.push_back([channel = agent.channel, reply] { channel->Send(reply); });
  batch.on_failure.push_back(ResendOnFailure(agent.channel));
}

void Scheduler::Tick(absl::Time now) {
  // Shutting down: agents can no longer reach us, so silence means nothing.
  if (closing_) return;
  if (now - contacts_recorded_at_ >= kRecordContactsEvery) RecordContacts(now);
  Batch batch;
  Prepare(batch);
  for (AgentSession* agent : agents_.Silent(now, options_.agent_lost_timeout)) {
    std::string why = absl::StrCat(
        "agent ", agent->record.name, " silent for ",
        absl::FormatDuration(absl::Trunc(now - agent->last_contact, absl::Milliseconds(100))));
    spdlog::warn("{}: marking it lost", why);
    agent->lost = true;
    agents_.CloseSession(*agent,
                         absl::UnavailableError("no heartbeat within the agent-lost timeout"), now);
    if (agent->attempt != 0) {
      AfterOperation(batch,
                     planner_.Lose(agent->attempt, agent->record.id, why, &batch.effects).status());
    }
    // Try again on the next tick if this batch does not commit.
    batch.on_failure.push_back([agent](const absl::Status&) { agent->lost = false; });
  }
  for (const auto& [attempt, reason] :
       dispatcher_.Stranded(agents_, now, options_.agent_lost_timeout)) {
    AfterOperation(batch, planner_.FailUnrunnable(attempt, reason, &batch.effects));
    dispatcher_.Remove(attempt);
  }
  for (const auto& [attempt, reason] : dispatcher_.WaitingReasons(agents_)) {
    planner_.SetWaitingReason(attempt, reason);
  }
  Commit(batch);
}

void Scheduler::RecordContacts(absl::Time now) {
  contacts_recorded_at_ = now;
  auto contacts = agents_.UnrecordedContacts();
  if (contacts.empty()) return;
  absl::Status st = db_->Run("RecordAgentContacts", [&](store::Tx& tx) {
    tx.RecordAgentContacts(contacts);
    return absl::OkStatus();
  });
  if (!st.ok()) {
    spdlog::warn("agent contact times not recorded: {}", st.ToString());
    return;
  }
  agents_.MarkRecorded(contacts);
}

}  // namespace gantry
