// Session's life: the identity, one stream after another with backoff
// between them, and the shutdown. The stream itself is session_stream.cc;
// what the controller says and what a job reports, session_messages.cc.
#include "agent/session.h"

#include <sys/stat.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "agent/identity_lock.h"
#include "agent/paths.h"
#include "agent/registration.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "common/tls/pki.h"
#include "spdlog/spdlog.h"

namespace gantry::agent {
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
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kAborted ||
         code == absl::StatusCode::kInternal || code == absl::StatusCode::kUnknown;
}

// Quiet while the retry is young (a controller restart), then a warning
// every half minute rather than one per attempt.
void LogUnreachable(const std::string& why, absl::Duration delay, int attempts,
                    absl::Time* last_warning) {
  if (attempts <= 3) {
    spdlog::info("session ended: {}; reconnecting in {}", why, Seconds(delay));
  } else if (absl::Now() - *last_warning >= kUnreachableWarningInterval) {
    *last_warning = absl::Now();
    spdlog::warn("controller unreachable: {}; reconnecting in {} (attempt {})", why, Seconds(delay),
                 attempts);
  } else {
    spdlog::debug("controller unreachable: {}; reconnecting in {}", why, Seconds(delay));
  }
}

}  // namespace

Session::Session(SessionOptions options)
    : options_(std::move(options)),
      session_nonce_(RandomHex(16)),
      journal_(options_.work_dir.empty() ? "" : options_.work_dir + "/held-attempts") {
  options_.runner.work_dir = options_.work_dir;
  {
    absl::MutexLock lock(&mu_);
    interrupted_ = journal_.Load();
  }
  if (options_.runner.controller_url.empty()) {
    options_.runner.controller_url = options_.controller_address;
  }
  if (options_.controllers.empty()) {
    absl::StatusOr<std::vector<ControllerTarget>> parsed =
        ParseControllerTargets(options_.controller_address);
    if (parsed.ok()) {
      options_.controllers = *std::move(parsed);
    } else {
      targets_status_ = parsed.status();
    }
  }
  if (!options_.controllers.empty()) {
    rotation_ = std::make_unique<ControllerRotation>(options_.controllers);
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
    spdlog::warn("stopping now: killing attempt {}", job_->runner->attempt_id());
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

std::shared_ptr<grpc::Channel> Session::channel() const {
  absl::MutexLock lock(&mu_);
  return channel_;
}

std::string Session::MoveOn(absl::string_view message) {
  std::string before = rotation_->current().target;
  rotation_->Advance(message);
  if (rotation_->current().target == before) return "";
  return absl::StrCat("; next ", rotation_->current().Label());
}

bool Session::JobActive() const { return job_ && !job_->completed; }

std::shared_ptr<grpc::Channel> Session::Dial(std::string* cert_pem) const {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, absl::ToInt64Milliseconds(options_.keepalive_time));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, absl::ToInt64Milliseconds(options_.keepalive_timeout));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  // Channels to the same address with the same arguments would otherwise
  // share one subchannel from gRPC's global pool, and with it the dead
  // connection's reconnect backoff that a new channel is meant to escape.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Only a channel that outlives its session reconnects by itself: the one
  // a running job's artifact transfers were given. Keep gRPC's backoff there
  // (up to 120 s by default) as short as ours after a restart.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.backoff.initial)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.backoff.restart_max)));
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS stays at gRPC's 20 s: it is the
  // subchannel's minimum connect timeout (each attempt's deadline), not a
  // backoff, and a few hundred ms would only abandon handshakes that a busy,
  // just-restarted controller has not finished yet, each abandoned socket
  // left on the controller (docs/performance.md). rpc_timeout bounds a hung
  // connect.
  tls::ClientTls creds = options_.tls;
  {
    absl::MutexLock lock(&mu_);
    creds.key_pem = client_key_pem_;
    creds.cert_chain_pem = client_cert_pem_;
  }
  *cert_pem = creds.insecure ? "" : creds.cert_chain_pem;
  return DialController(rotation_->current(), creds, args);
}

absl::Status Session::Run() {
  if (!targets_status_.ok()) return targets_status_;
  // Identity, keys and workspaces: the agent's user only.
  if (absl::Status s = MakeDirs(options_.work_dir, 0700); !s.ok()) return s;
  ::chmod(options_.work_dir.c_str(), 0700);
  // Before agent.json is read: a second process on this work dir stops here.
  absl::StatusOr<IdentityLock> lock = IdentityLock::Acquire(options_.work_dir);
  if (!lock.ok()) return lock.status();

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
    std::string dialed_cert;
    std::shared_ptr<grpc::Channel> channel = Dial(&dialed_cert);
    auto stub = gantry::v1::AgentService::NewStub(channel);
    {
      absl::MutexLock lock(&mu_);
      channel_ = channel;
      dialed_ = rotation_->current().Label();
    }
    absl::Duration retry_after;
    absl::Status identity = EnsureIdentity(*stub, backoff, &retry_after);
    if (!identity.ok()) return identity;
    if (retry_after > absl::ZeroDuration()) {
      if (WaitForStop(retry_after)) break;
      continue;
    }
    {
      // Registered just now over a channel without this certificate (none
      // yet, or a revoked one): the session goes over a new one with it.
      absl::MutexLock lock(&mu_);
      if (!options_.tls.insecure && dialed_cert != client_cert_pem_) continue;
    }

    std::optional<absl::Duration> delay =
        ReconnectDelay(RunStream(*stub), backoff, &last_unreachable_warning);
    if (!delay || WaitForStop(*delay)) break;
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

std::optional<absl::Duration> Session::ReconnectDelay(const StreamEnd& end, Backoff& backoff,
                                                      absl::Time* last_unreachable_warning) {
  if (end.welcomed) {
    backoff.ResetAfterSession();
  } else if (end.got_message) {
    backoff.Reset();
  }
  absl::Duration delay = backoff.Next();
  std::string why = absl::StrCat(rotation_->current().Label(), ": ", Describe(end.status));
  absl::MutexLock lock(&mu_);
  if (stopping_) return std::nullopt;
  std::string id = identity_ ? identity_->agent_id : "";
  switch (end.status.error_code()) {
    case grpc::StatusCode::NOT_FOUND:
      spdlog::warn("controller does not know agent {} ({}); registering again", id, why);
      AbandonEverything("agent registering again");
      identity_.reset();
      register_again_ = true;
      break;
    case grpc::StatusCode::ALREADY_EXISTS:
      delay = std::max(delay, options_.clone_retry_delay);
      spdlog::error(
          "controller refused this session: {}; another process uses this agent's identity "
          "({}). This one takes over only once that one is gone; retrying in {}",
          why, IdentityPath(options_.work_dir), Seconds(delay));
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
      // Not an answer of the leader about this agent: try the leader it
      // named, or the next controller.
      absl::StrAppend(&why, MoveOn(end.status.error_message()));
      LogUnreachable(why, delay, backoff.attempts(), last_unreachable_warning);
  }
  return delay;
}

absl::Status Session::EnsureIdentity(gantry::v1::AgentService::StubInterface& stub,
                                     Backoff& backoff, absl::Duration* retry_after) {
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
      LoadClientCertificate();
      absl::MutexLock lock(&mu_);
      identity_ = *loaded;
      return absl::OkStatus();
    }
    // An unreadable identity is not silently replaced: registering again
    // would leave the old agent behind on the controller.
    if (!absl::IsNotFound(loaded.status())) return loaded.status();
  }
  return Register(stub, backoff, path, retry_after);
}

absl::Status Session::Register(gantry::v1::AgentService::StubInterface& stub, Backoff& backoff,
                               const std::string& identity_path, absl::Duration* retry_after) {
  RegistrationRequest request;
  request.register_key = options_.register_key;
  request.name = options_.name.empty() ? options_.hostname : options_.name;
  request.hostname = options_.hostname;
  request.resources = options_.resources;
  request.environments = options_.environments;
  // A key of our own, made here and never sent: the controller signs a
  // certificate for it, and that certificate is this agent's identity.
  std::string key_pem;
  if (!options_.tls.insecure) {
    absl::StatusOr<std::string> key = tls::GenerateKeyPem();
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> csr = tls::MakeCsr(*key, request.name);
    if (!csr.ok()) return csr.status();
    key_pem = *std::move(key);
    request.csr = *std::move(csr);
  }
  auto registered = RegisterAgent(stub, request, options_.rpc_timeout);
  if (!registered.ok()) {
    const absl::Status& s = registered.status();
    if (absl::IsFailedPrecondition(s) && options_.register_key.empty()) {
      return s;
    }
    if (absl::IsResourceExhausted(s)) {
      // Too many registrations without a key, or too many pending agents:
      // an admin has to act, and retrying fast only adds to the flood.
      *retry_after = std::max(backoff.Next(), options_.rejected_retry_delay);
      spdlog::error("controller cannot register this agent now: {}; retrying in {}", s.ToString(),
                    Seconds(*retry_after));
    } else if (Retryable(s.code())) {
      *retry_after = backoff.Next();
      std::string tried = rotation_->current().Label();
      std::string next = MoveOn(s.message());
      spdlog::info("cannot register with {} yet: {}; retrying in {}{}", tried, s.ToString(),
                   Seconds(*retry_after), next);
    } else {
      *retry_after = std::max(backoff.Next(), options_.rejected_retry_delay);
      spdlog::error(
          "controller refused to register this agent: {}; "
          "retrying in {}",
          s.ToString(), Seconds(*retry_after));
    }
    return absl::OkStatus();
  }
  // Key and certificate before agent.json: an identity on disk always has
  // its credentials beside it.
  if (!registered->certificate.empty()) {
    if (absl::Status st = WriteFileAtomic(ClientKeyPath(options_.work_dir), key_pem, 0600);
        !st.ok()) {
      return st;
    }
    if (absl::Status st =
            WriteFileAtomic(ClientCertPath(options_.work_dir), registered->certificate, 0600);
        !st.ok()) {
      return st;
    }
  }
  if (absl::Status saved = SaveIdentity(identity_path, registered->identity); !saved.ok()) {
    return saved;
  }
  spdlog::info("registered as agent {} (name {}, state {})", registered->identity.agent_id,
               registered->identity.name, registered->state);
  absl::MutexLock lock(&mu_);
  NoteRefused(registered->refused_resources, registered->refused_environments);
  if (!registered->certificate.empty()) {
    client_key_pem_ = std::move(key_pem);
    client_cert_pem_ = registered->certificate;
  }
  identity_ = registered->identity;
  register_again_ = false;
  return absl::OkStatus();
}

void Session::LoadClientCertificate() {
  const std::string key_path = ClientKeyPath(options_.work_dir);
  const std::string cert_path = ClientCertPath(options_.work_dir);
  absl::StatusOr<std::string> key = ReadFile(key_path);
  absl::StatusOr<std::string> cert = ReadFile(cert_path);
  if (!key.ok() || !cert.ok()) {
    if (!options_.tls.insecure) {
      spdlog::warn(
          "no client certificate ({} and {}): the controller accepts this agent only if it "
          "allows agents without one; delete {} and register again to get one",
          key_path, cert_path, IdentityPath(options_.work_dir));
    }
    return;
  }
  absl::MutexLock lock(&mu_);
  client_key_pem_ = *std::move(key);
  client_cert_pem_ = *std::move(cert);
}

void Session::Supervise(absl::Time welcome_deadline) {
  absl::MutexLock lock(&mu_);
  bool welcome_timed_out = false;
  while (!reader_done_ && !stopping_) {
    if (!welcomed_ && !welcome_timed_out) {
      if (cv_.WaitWithDeadline(&mu_, welcome_deadline) && !welcomed_ && !reader_done_ &&
          !stopping_) {
        spdlog::warn("no Welcome from the controller within {}", Seconds(options_.rpc_timeout));
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
  while (!reader_done_ && welcomed_ && !(outbox_.Empty() && queue_.empty() && !writing_)) {
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
  absl::Time deadline = absl::Now() + options_.runner.kill_grace + options_.shutdown_job_timeout;
  while (JobActive()) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) {
      if (JobActive()) job_->runner->Abort("agent is shutting down");
      deadline = absl::InfiniteFuture();
    }
  }
}

}  // namespace gantry::agent
