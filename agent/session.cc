#include "agent/session.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/artifact_client.h"
#include "agent/paths.h"
#include "agent/registration.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "spdlog/spdlog.h"

namespace gantry::agent {

using gantry::v1::AgentMessage;
using gantry::v1::ControllerMessage;

namespace {

std::string Describe(const grpc::Status& s) {
  if (s.ok()) return "stream closed by the controller";
  return FromGrpcStatus(s).ToString();
}

std::string Seconds(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
}

constexpr absl::Duration kUnreachableWarningInterval = absl::Seconds(30);

bool Retryable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable ||
         code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kResourceExhausted ||
         code == absl::StatusCode::kAborted ||
         code == absl::StatusCode::kInternal ||
         code == absl::StatusCode::kUnknown;
}

}  // namespace

// Routes one job's reports into the session; dropped once the attempt is
// abandoned (the outbox no longer holds it).
class Session::AttemptSink : public JobSink {
 public:
  AttemptSink(Session* session, int64_t attempt_id)
      : session_(session), attempt_id_(attempt_id) {}

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

Session::Session(SessionOptions options) : options_(std::move(options)) {
  options_.runner.work_dir = options_.work_dir;
  if (options_.runner.controller_url.empty()) {
    options_.runner.controller_url = options_.controller_address;
  }
  heartbeat_interval_ = options_.default_heartbeat;
}

Session::~Session() {
  std::unique_ptr<Job> job;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    job = std::move(job_);
  }
  // JobRunner's destructor aborts and joins; its sink calls need mu_.
  job.reset();
}

std::string Session::agent_id() const {
  absl::MutexLock lock(&mu_);
  return identity_ ? identity_->agent_id : "";
}

void Session::Stop() {
  absl::MutexLock lock(&mu_);
  if (!stopping_) {
    stopping_ = true;
    spdlog::info("stopping");
    if (JobActive()) job_->runner->Cancel("agent is shutting down");
  } else if (JobActive()) {
    spdlog::warn("stopping now: killing attempt {}",
                 job_->runner->attempt_id());
    job_->runner->Abort("agent is shutting down");
  }
  cv_.SignalAll();
}

bool Session::WaitForStop(absl::Duration delay) {
  absl::Time deadline = absl::Now() + delay;
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return stopping_;
}

bool Session::JobActive() const { return job_ && !job_->completed; }

std::shared_ptr<grpc::Channel> Session::Dial() const {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
              absl::ToInt64Milliseconds(options_.keepalive_time));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
              absl::ToInt64Milliseconds(options_.keepalive_timeout));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  // Channels to the same address with the same arguments would otherwise
  // share one subchannel from gRPC's global pool, and with it the dead
  // connection's reconnect backoff that a new channel is meant to escape.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Only a channel that outlives its session reconnects by itself: the one
  // a running job's artifact transfers were given. Keep gRPC's backoff there
  // (up to 120 s by default) as short as ours after a restart.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              std::max<int64_t>(
                  1, absl::ToInt64Milliseconds(options_.backoff.initial)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.backoff.restart_max)));
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS stays at gRPC's 20 s: it is the
  // subchannel's minimum connect timeout (each attempt's deadline), not a
  // backoff, and a few hundred ms would only abandon handshakes that a busy,
  // just-restarted controller has not finished yet, each abandoned socket
  // left on the controller (docs/performance.md). rpc_timeout bounds a hung
  // connect.
  return grpc::CreateCustomChannel(options_.controller_address, grpc::InsecureChannelCredentials(),
                                   args);
}

absl::Status Session::Run() {
  if (absl::Status s = MakeDirs(options_.work_dir); !s.ok()) return s;

  Backoff backoff(options_.backoff, options_.random);
  absl::Time last_unreachable_warning = absl::InfinitePast();

  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    // A new channel per attempt, so that each attempt dials: a channel whose
    // connection failed sits in gRPC's own reconnect backoff, failing our
    // calls at once until its timer fires, however often we retry. The
    // timing of attempts is ours alone (Backoff).
    std::shared_ptr<grpc::Channel> channel = Dial();
    auto stub = gantry::v1::AgentService::NewStub(channel);
    {
      absl::MutexLock lock(&mu_);
      channel_ = channel;
    }
    absl::Duration retry_after;
    absl::Status identity = EnsureIdentity(*stub, backoff, &retry_after);
    if (!identity.ok()) return identity;
    if (retry_after > absl::ZeroDuration()) {
      if (WaitForStop(retry_after)) break;
      continue;
    }

    StreamEnd end = RunStream(*stub);
    if (end.welcomed) {
      backoff.ResetAfterSession();
    } else if (end.got_message) {
      backoff.Reset();
    }
    absl::Duration delay = backoff.Next();
    std::string why = Describe(end.status);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      std::string id = identity_ ? identity_->agent_id : "";
      switch (end.status.error_code()) {
        case grpc::StatusCode::NOT_FOUND:
          spdlog::warn(
              "controller does not know agent {} ({}); registering again", id,
              why);
          AbandonEverything("agent registering again");
          identity_.reset();
          register_again_ = true;
          break;
        case grpc::StatusCode::PERMISSION_DENIED:
        case grpc::StatusCode::UNAUTHENTICATED:
          delay = std::max(delay, options_.rejected_retry_delay);
          spdlog::error(
              "controller rejected the credentials of agent {} ({}); an "
              "admin must fix the agent on the controller, or delete {} to "
              "register again; retrying in {}",
              id, why, IdentityPath(options_.work_dir), Seconds(delay));
          break;
        default:
          // Quiet while the retry is young (a controller restart), then a
          // warning every half minute rather than one per attempt.
          if (backoff.attempts() <= 3) {
            spdlog::info("session ended: {}; reconnecting in {}", why,
                         Seconds(delay));
          } else if (absl::Now() - last_unreachable_warning >= kUnreachableWarningInterval) {
            last_unreachable_warning = absl::Now();
            spdlog::warn("controller unreachable: {}; reconnecting in {} (attempt {})", why,
                         Seconds(delay), backoff.attempts());
          } else {
            spdlog::debug("controller unreachable: {}; reconnecting in {}", why, Seconds(delay));
          }
      }
    }
    if (WaitForStop(delay)) break;
  }

  FinishJobForShutdown();
  std::unique_ptr<Job> job;
  {
    absl::MutexLock lock(&mu_);
    job = std::move(job_);
  }
  job.reset();
  spdlog::info("stopped");
  return absl::OkStatus();
}

absl::Status Session::EnsureIdentity(
    gantry::v1::AgentService::StubInterface& stub, Backoff& backoff,
    absl::Duration* retry_after) {
  *retry_after = absl::ZeroDuration();
  {
    absl::MutexLock lock(&mu_);
    if (identity_) return absl::OkStatus();
  }
  const std::string path = IdentityPath(options_.work_dir);
  bool register_again;
  {
    absl::MutexLock lock(&mu_);
    register_again = register_again_;
  }
  if (!register_again) {
    auto loaded = LoadIdentity(path);
    if (loaded.ok()) {
      absl::MutexLock lock(&mu_);
      identity_ = *loaded;
      return absl::OkStatus();
    }
    // An unreadable identity is not silently replaced: registering again
    // would leave the old agent behind on the controller.
    if (!absl::IsNotFound(loaded.status())) return loaded.status();
  }

  RegistrationRequest request;
  request.register_key = options_.register_key;
  request.name = options_.name.empty() ? options_.hostname : options_.name;
  request.hostname = options_.hostname;
  request.resources = options_.resources;
  request.environments = options_.environments;
  auto registered = RegisterAgent(stub, request, options_.rpc_timeout);
  if (!registered.ok()) {
    const absl::Status& s = registered.status();
    if (absl::IsFailedPrecondition(s) && options_.register_key.empty()) {
      return s;
    }
    if (Retryable(s.code())) {
      *retry_after = backoff.Next();
      spdlog::info("cannot register with {} yet: {}; retrying in {}",
                   options_.controller_address, s.ToString(),
                   Seconds(*retry_after));
    } else {
      *retry_after = std::max(backoff.Next(), options_.rejected_retry_delay);
      spdlog::error(
          "controller refused to register this agent: {}; "
          "retrying in {}",
          s.ToString(), Seconds(*retry_after));
    }
    return absl::OkStatus();
  }
  if (absl::Status saved = SaveIdentity(path, registered->identity);
      !saved.ok()) {
    return saved;
  }
  spdlog::info("registered as agent {} (name {}, state {})",
               registered->identity.agent_id, registered->identity.name,
               registered->state);
  absl::MutexLock lock(&mu_);
  identity_ = registered->identity;
  register_again_ = false;
  return absl::OkStatus();
}

AgentMessage Session::MakeHello() {
  AgentMessage m;
  auto* hello = m.mutable_hello();
  hello->set_agent_id(identity_->agent_id);
  hello->set_token(identity_->token);
  for (auto& held : outbox_.Held()) *hello->add_held() = std::move(held);
  for (const auto& r : options_.resources) hello->add_resources(r);
  for (const auto& e : options_.environments) hello->add_environments(e);
  hello->set_hostname(options_.hostname);
  return m;
}

Session::StreamEnd Session::RunStream(
    gantry::v1::AgentService::StubInterface& stub) {
  // No deadline: the stream lives as long as the connection; keepalive
  // detects a dead peer.
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_)
      return {grpc::Status(grpc::StatusCode::CANCELLED, "stopping")};
    context_ = &context;
    stream_up_ = true;
    reader_done_ = false;
    got_message_ = false;
    welcomed_ = false;
    closing_ = false;
    queue_.clear();
    queue_.push_back(MakeHello());
  }
  absl::Time welcome_deadline = absl::Now() + options_.rpc_timeout;
  std::unique_ptr<Stream> stream = stub.Session(&context);
  std::thread writer([this, s = stream.get()] { WriterLoop(s); });
  std::thread reader([this, s = stream.get()] { ReaderLoop(s); });
  Supervise(welcome_deadline);
  reader.join();
  {
    absl::MutexLock lock(&mu_);
    stream_up_ = false;
    cv_.SignalAll();
  }
  writer.join();
  StreamEnd end;
  end.status = stream->Finish();
  absl::MutexLock lock(&mu_);
  end.got_message = got_message_;
  end.welcomed = welcomed_;
  context_ = nullptr;
  welcomed_ = false;
  queue_.clear();
  return end;
}

void Session::Supervise(absl::Time welcome_deadline) {
  absl::MutexLock lock(&mu_);
  bool welcome_timed_out = false;
  while (!reader_done_ && !stopping_) {
    if (!welcomed_ && !welcome_timed_out) {
      if (cv_.WaitWithDeadline(&mu_, welcome_deadline) && !welcomed_ &&
          !reader_done_ && !stopping_) {
        spdlog::warn("no Welcome from the controller within {}",
                     Seconds(options_.rpc_timeout));
        welcome_timed_out = true;
        context_->TryCancel();
      }
    } else {
      cv_.Wait(&mu_);
    }
  }
  if (reader_done_) return;

  // Stopping with the stream up: let a cancelled job finish and report.
  absl::Time job_deadline =
      absl::Now() + options_.runner.kill_grace + options_.shutdown_job_timeout;
  while (JobActive() && !reader_done_) {
    if (cv_.WaitWithDeadline(&mu_, job_deadline)) {
      if (JobActive()) job_->runner->Abort("agent is shutting down");
      job_deadline = absl::InfiniteFuture();
    }
  }
  // Wait for the controller to acknowledge what the job reported.
  absl::Time drain_deadline = absl::Now() + options_.shutdown_drain;
  while (!reader_done_ && welcomed_ &&
         !(outbox_.Empty() && queue_.empty() && !writing_)) {
    if (cv_.WaitWithDeadline(&mu_, drain_deadline)) break;
  }
  if (reader_done_) return;
  // Half-close; the controller ends the stream, or we cancel it shortly.
  closing_ = true;
  cv_.SignalAll();
  absl::Time close_deadline = absl::Now() + absl::Seconds(1);
  while (!reader_done_) {
    if (cv_.WaitWithDeadline(&mu_, close_deadline)) break;
  }
  if (!reader_done_) context_->TryCancel();
}

void Session::FinishJobForShutdown() {
  absl::MutexLock lock(&mu_);
  absl::Time deadline =
      absl::Now() + options_.runner.kill_grace + options_.shutdown_job_timeout;
  while (JobActive()) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) {
      if (JobActive()) job_->runner->Abort("agent is shutting down");
      deadline = absl::InfiniteFuture();
    }
  }
}

void Session::ReaderLoop(Stream* stream) {
  ControllerMessage message;
  while (stream->Read(&message)) {
    {
      absl::MutexLock lock(&mu_);
      got_message_ = true;
    }
    Handle(message);
  }
  absl::MutexLock lock(&mu_);
  reader_done_ = true;
  stream_up_ = false;
  cv_.SignalAll();
}

void Session::WriterLoop(Stream* stream) {
  mu_.Lock();
  while (true) {
    while (stream_up_ && queue_.empty() && !closing_ &&
           !(welcomed_ && absl::Now() >= next_heartbeat_)) {
      if (welcomed_) {
        cv_.WaitWithDeadline(&mu_, next_heartbeat_);
      } else {
        cv_.Wait(&mu_);
      }
    }
    if (!stream_up_) break;
    AgentMessage message;
    bool half_close = false;
    if (welcomed_ && absl::Now() >= next_heartbeat_) {
      // On a fixed schedule even while busy: the controller's liveness
      // check should not depend on how much output a job makes.
      message.mutable_heartbeat();
      next_heartbeat_ = absl::Now() + heartbeat_interval_;
    } else if (!queue_.empty()) {
      message = std::move(queue_.front());
      queue_.pop_front();
    } else {
      half_close = true;
    }
    writing_ = true;
    mu_.Unlock();
    bool ok = half_close ? stream->WritesDone() : stream->Write(message);
    mu_.Lock();
    writing_ = false;
    cv_.SignalAll();
    if (!ok) {
      // The stream is broken; make sure the reader notices too.
      if (context_ != nullptr) context_->TryCancel();
      break;
    }
    if (half_close) break;
  }
  mu_.Unlock();
}

void Session::Deliver(std::optional<AgentMessage> message) {
  if (!message || !stream_up_ || !welcomed_) return;
  queue_.push_back(std::move(*message));
  cv_.SignalAll();
}

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
      outbox_.AckConsole(message.console_ack().attempt_id(),
                         message.console_ack().sequence());
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
  heartbeat_interval_ =
      welcome.heartbeat_interval_ms() > 0
          ? absl::Milliseconds(welcome.heartbeat_interval_ms())
          : options_.default_heartbeat;
  next_heartbeat_ = absl::Now() + heartbeat_interval_;
  welcomed_ = true;
  std::vector<AgentMessage> backlog = outbox_.Backlog();
  for (auto& m : backlog) queue_.push_back(std::move(m));
  cv_.SignalAll();
  spdlog::info("connected to {} as agent {} (state {}{})",
               options_.controller_address,
               identity_ ? identity_->agent_id : "?", welcome.state(),
               backlog.empty() ? ""
                               : absl::StrCat("; re-sending ", backlog.size(),
                                              " unacknowledged message(s)"));
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
    previous = std::move(job_);
    job_ = std::make_unique<Job>();
    job_->sink = std::make_unique<AttemptSink>(this, id);
    JobRunnerOptions runner_options = options_.runner;
    if (channel_ != nullptr && identity_ &&
        (!runner_options.fetch_handler || !runner_options.artifact_uploader)) {
      auto client = std::make_shared<ArtifactClient>(
          gantry::v1::AgentService::NewStub(channel_), identity_->agent_id,
          identity_->token);
      if (!runner_options.fetch_handler) runner_options.fetch_handler = client;
      if (!runner_options.artifact_uploader) {
        runner_options.artifact_uploader = client;
      }
    }
    job_->runner = std::make_unique<JobRunner>(std::move(runner_options),
                                               assign, job_->sink.get());
    spdlog::info("assigned {}/{}/{}/{}/{} attempt {} ({} task(s))",
                 assign.pipeline(), assign.pipeline_counter(), assign.stage(),
                 assign.stage_counter(), assign.job(), id, assign.tasks_size());
    job_->runner->Start();
  }
  previous.reset();  // joins the finished job's thread
}

void Session::OnCancel(const gantry::v1::Cancel& cancel) {
  absl::MutexLock lock(&mu_);
  const int64_t id = cancel.attempt_id();
  if (JobActive() && job_->runner->attempt_id() == id) {
    spdlog::info("cancelling attempt {}: {}", id, cancel.reason());
    job_->runner->Cancel(cancel.reason().empty() ? "cancelled by the controller"
                                                 : cancel.reason());
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
    job_->runner->Abort(abandon.reason().empty() ? "abandoned"
                                                 : abandon.reason());
  }
  outbox_.Forget(id);
  cv_.SignalAll();
}

void Session::AbandonEverything(const std::string& reason) {
  if (JobActive()) {
    job_->aborted = true;
    job_->runner->Abort(reason);
  }
  outbox_.Clear();
}

void Session::JobFinished(int64_t attempt_id, const JobReport& report) {
  absl::MutexLock lock(&mu_);
  Deliver(outbox_.Completed(attempt_id, report));
  if (job_ && job_->runner->attempt_id() == attempt_id) job_->completed = true;
  if (report.result == JobResult::kPassed) {
    spdlog::info("finished attempt {}: passed", attempt_id);
  } else {
    spdlog::info("finished attempt {}: {} ({})", attempt_id,
                 JobResultName(report.result), report.reason);
  }
  cv_.SignalAll();
}

}  // namespace gantry::agent
