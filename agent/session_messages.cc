// What the controller tells a Session (Welcome, Assign, Cancel, Abandon,
// acks) and what its job reports back through the AttemptOutbox.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/artifact_client.h"
#include "agent/session.h"
#include "spdlog/spdlog.h"

namespace gantry::agent {

using gantry::v1::AgentMessage;
using gantry::v1::ControllerMessage;

// Routes one job's reports into the session; dropped once the attempt is
// abandoned (the outbox no longer holds it).
class Session::AttemptSink : public JobSink {
 public:
  AttemptSink(Session* session, int64_t attempt_id) : session_(session), attempt_id_(attempt_id) {}

  void OnJobStarted() override {
    absl::MutexLock lock(&session_->mu_);
    session_->Deliver(session_->outbox_.Started(attempt_id_));
  }
  void OnConsole(std::string data) override {
    absl::MutexLock lock(&session_->mu_);
    session_->Deliver(session_->outbox_.Console(attempt_id_, std::move(data)));
  }
  void OnTaskResult(const TaskReport& report) override {
    absl::MutexLock lock(&session_->mu_);
    session_->Deliver(session_->outbox_.TaskResult(attempt_id_, report));
  }
  void OnJobCompleted(const JobReport& report) override {
    session_->JobFinished(attempt_id_, report);
  }

 private:
  Session* const session_;
  const int64_t attempt_id_;
};

Session::Job::~Job() = default;

void Session::Handle(const ControllerMessage& message) {
  switch (message.kind_case()) {
    case ControllerMessage::kWelcome:
      OnWelcome(message.welcome());
      break;
    case ControllerMessage::kAssign:
      OnAssign(message.assign());
      break;
    case ControllerMessage::kCancel:
      OnCancel(message.cancel());
      break;
    case ControllerMessage::kConsoleAck: {
      absl::MutexLock lock(&mu_);
      outbox_.AckConsole(message.console_ack().attempt_id(), message.console_ack().sequence());
      cv_.SignalAll();
      break;
    }
    case ControllerMessage::kAbandon:
      OnAbandon(message.abandon());
      break;
    case ControllerMessage::kCompletionAck: {
      int64_t id = message.completion_ack().attempt_id();
      absl::MutexLock lock(&mu_);
      if (outbox_.AckCompletion(id)) {
        journal_.Remove(id);
        spdlog::debug("controller recorded the completion of attempt {}", id);
      } else {
        spdlog::warn(
            "CompletionAck for attempt {}, which has not finished "
            "here; ignored",
            id);
      }
      cv_.SignalAll();
      break;
    }
    case ControllerMessage::KIND_NOT_SET:
      spdlog::warn("empty message from the controller; ignored");
      break;
  }
}

void Session::OnWelcome(const gantry::v1::Welcome& welcome) {
  absl::MutexLock lock(&mu_);
  heartbeat_interval_ = welcome.heartbeat_interval_ms() > 0
                            ? absl::Milliseconds(welcome.heartbeat_interval_ms())
                            : options_.default_heartbeat;
  next_heartbeat_ = absl::Now() + heartbeat_interval_;
  welcomed_ = true;
  // The controller handled the Hello before welcoming it.
  for (int64_t id : interrupted_) journal_.Remove(id);
  interrupted_.clear();
  NoteRefused(welcome.refused_resources(), welcome.refused_environments());
  std::vector<AgentMessage> backlog = outbox_.Backlog();
  for (auto& m : backlog) queue_.push_back(std::move(m));
  cv_.SignalAll();
  spdlog::info("connected to {} as agent {} (state {}{})", dialed_,
               identity_ ? identity_->agent_id : "?", welcome.state(),
               backlog.empty()
                   ? ""
                   : absl::StrCat("; re-sending ", backlog.size(), " unacknowledged message(s)"));
}

void Session::NoteRefused(const google::protobuf::RepeatedPtrField<std::string>& resources,
                          const google::protobuf::RepeatedPtrField<std::string>& environments) {
  std::vector<std::string> parts;
  if (!resources.empty())
    parts.push_back(absl::StrCat("resources ", absl::StrJoin(resources, ",")));
  if (!environments.empty()) {
    parts.push_back(absl::StrCat("environments ", absl::StrJoin(environments, ",")));
  }
  std::string refused = absl::StrJoin(parts, " and ");
  if (refused == refused_) return;
  refused_ = refused;
  if (refused.empty()) {
    spdlog::info("the controller grants every resource and environment this agent asks for");
    return;
  }
  // Not an error: the agent works with the rest. An admin can assign them
  // (gantry agent set), or the agent can register with a key that allows them.
  spdlog::warn(
      "the controller refused {} for this agent: its register key does not allow them (or an "
      "admin assigned others); it runs without them",
      refused);
}

void Session::OnAssign(const gantry::v1::Assign& assign) {
  const int64_t id = assign.attempt_id();
  // An abandoned job is being killed: wait for it, so two never overlap.
  JobRunner* dying = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (JobActive() && job_->aborted) dying = job_->runner.get();
  }
  // Only this thread replaces job_, so `dying` stays valid.
  if (dying != nullptr) dying->Join();

  std::unique_ptr<Job> previous;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      spdlog::warn("ignoring Assign of attempt {}: agent is stopping", id);
      return;
    }
    if (JobActive()) {
      spdlog::warn("ignoring Assign of attempt {}: busy with attempt {}", id,
                   job_->runner->attempt_id());
      return;
    }
    if (!outbox_.Open(id)) {
      spdlog::warn("ignoring Assign of attempt {}: already held", id);
      return;
    }
    journal_.Add(id);
    previous = std::move(job_);
    job_ = std::make_unique<Job>();
    job_->sink = std::make_unique<AttemptSink>(this, id);
    JobRunnerOptions runner_options = options_.runner;
    if (channel_ != nullptr && identity_ &&
        (!runner_options.fetch_handler || !runner_options.artifact_uploader)) {
      // Each transfer call (and retry) takes the session's channel of the
      // moment: after a controller restart or a takeover, the session has
      // dialled again, maybe another controller.
      StubSource stubs =
          [this, first = channel_]() -> std::shared_ptr<gantry::v1::AgentService::StubInterface> {
        std::shared_ptr<grpc::Channel> now = channel();
        return gantry::v1::AgentService::NewStub(now != nullptr ? now : first);
      };
      auto client =
          std::make_shared<ArtifactClient>(std::move(stubs), identity_->agent_id, identity_->token);
      if (!runner_options.fetch_handler) runner_options.fetch_handler = client;
      if (!runner_options.artifact_uploader) {
        runner_options.artifact_uploader = client;
      }
    }
    job_->runner = std::make_unique<JobRunner>(std::move(runner_options), assign, job_->sink.get());
    spdlog::info("assigned {}/{}/{}/{}/{} attempt {} ({} task(s))", assign.pipeline(),
                 assign.pipeline_counter(), assign.stage(), assign.stage_counter(), assign.job(),
                 id, assign.tasks_size());
    job_->runner->Start();
  }
  previous.reset();  // joins the finished job's thread
}

void Session::OnCancel(const gantry::v1::Cancel& cancel) {
  absl::MutexLock lock(&mu_);
  const int64_t id = cancel.attempt_id();
  if (JobActive() && job_->runner->attempt_id() == id) {
    spdlog::info("cancelling attempt {}: {}", id, cancel.reason());
    job_->runner->Cancel(cancel.reason().empty() ? "cancelled by the controller" : cancel.reason());
  } else if (outbox_.Holds(id)) {
    spdlog::info("Cancel for attempt {}, which already finished", id);
  } else {
    spdlog::warn("Cancel for attempt {}, which this agent does not hold", id);
  }
}

void Session::OnAbandon(const gantry::v1::Abandon& abandon) {
  absl::MutexLock lock(&mu_);
  const int64_t id = abandon.attempt_id();
  spdlog::warn("controller abandoned attempt {}: {}", id, abandon.reason());
  if (JobActive() && job_->runner->attempt_id() == id) {
    job_->aborted = true;
    job_->runner->Abort(abandon.reason().empty() ? "abandoned" : abandon.reason());
  }
  outbox_.Forget(id);
  journal_.Remove(id);
  cv_.SignalAll();
}

void Session::AbandonEverything(const std::string& reason) {
  if (JobActive()) {
    job_->aborted = true;
    job_->runner->Abort(reason);
  }
  outbox_.Clear();
  journal_.Clear();
}

void Session::JobFinished(int64_t attempt_id, const JobReport& report) {
  absl::MutexLock lock(&mu_);
  Deliver(outbox_.Completed(attempt_id, report));
  if (job_ && job_->runner->attempt_id() == attempt_id) job_->completed = true;
  if (report.result == JobResult::kPassed) {
    spdlog::info("finished attempt {}: passed", attempt_id);
  } else {
    spdlog::info("finished attempt {}: {} ({})", attempt_id, JobResultName(report.result),
                 report.reason);
  }
  cv_.SignalAll();
}

}  // namespace gantry::agent
