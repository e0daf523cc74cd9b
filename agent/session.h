// The agent's side of AgentService: registers once, then keeps one Session
// stream open to the controller, runs what it is assigned (one job at a
// time) and delivers everything the job reports, surviving reconnects.
//
// Threads, per stream: a reader (Read loop, reacts to controller messages),
// a writer (the only caller of Write: one write in flight, drains an
// outgoing queue, sends heartbeats) and the caller of Run(), which
// supervises: it waits for the stream to end or for Stop(), then reconnects
// through a capped jittered backoff (backoff.h: capped at restart_max for a
// while after a welcomed session, so a controller restart costs the agent
// under a second). Every attempt dials a new channel, so retries are never
// held back by gRPC's own reconnect backoff. With several controllers
// (--controller a:8150,b:8150, or a name with several addresses; see
// common/controller_targets.h) each attempt dials the current one; an
// attempt that fails (no connection, UNAVAILABLE, a standby's "not the
// leader (leader at X)", registration included) moves the next attempt to
// X if named, else to the next controller, round robin. After a takeover
// the agent thus reaches the new leader and re-reports what it kept, as
// after a controller restart. A job runs on its JobRunner's
// own thread and survives reconnects; what it reports is kept in an
// AttemptOutbox until acked and re-sent, right after the next Welcome,
// before anything newer.
//
// Connection outcomes:
//   UNAVAILABLE and other failures  reconnect with backoff
//   NOT_FOUND (agent id unknown)    abandon held attempts, register again
//   PERMISSION_DENIED/UNAUTHENTICATED  logged as a credentials problem;
//                                   retried every rejected_retry_delay (an
//                                   admin may fix it on the controller)
//   ALREADY_EXISTS (another process  logged; retried every clone_retry_delay,
//     is connected as this agent)   so this one takes over only once the
//                                   other is gone
//
// Run() holds DIR/agent.lock (identity_lock.h) so that a second agent on the
// same work dir refuses to start, and every Hello carries a nonce of this
// process, so the controller refuses a copy of agent.json elsewhere.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/attempt_journal.h"
#include "agent/attempt_outbox.h"
#include "agent/backoff.h"
#include "agent/identity.h"
#include "agent/job_runner.h"
#include "common/controller_targets.h"
#include "common/tls/client_tls.h"
#include "gantry/v1/agent.grpc.pb.h"

namespace gantry::agent {

struct SessionOptions {
  // --controller as given: host:port of the controller's gRPC endpoint, or
  // several, comma-separated.
  std::string controller_address;
  // controller_address parsed; empty: parsed by the Session.
  std::vector<ControllerTarget> controllers;
  // How the controller is verified (agent/controller_trust.h); plaintext
  // unless main sets it, as the fake controllers of unit tests serve.
  tls::ClientTls tls{.insecure = true};
  // --work-dir (paths.h).
  std::string work_dir;
  // Trimmed contents of --register-key-file; only needed without identity.
  std::string register_key;
  std::string name;
  std::string hostname;
  std::vector<std::string> resources;
  std::vector<std::string> environments;

  BackoffOptions backoff;
  // Injected for tests; null: a seeded generator.
  Backoff::RandomSource random;
  // Wait between retries when the controller rejects the token or key.
  absl::Duration rejected_retry_delay = absl::Seconds(60);
  // Wait between retries while another process is connected as this agent.
  absl::Duration clone_retry_delay = absl::Seconds(15);
  // Deadline of Register, and of the Welcome after a Hello.
  absl::Duration rpc_timeout = absl::Seconds(10);
  // gRPC keepalive pings. The default stays above gRPC servers' default
  // minimum ping interval (5 min), so an idle controller does not answer
  // our pings with GOAWAY (too_many_pings).
  absl::Duration keepalive_time = absl::Seconds(330);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  // Used when the Welcome does not say.
  absl::Duration default_heartbeat = absl::Seconds(10);
  // On Stop(): how long a cancelled job may take beyond runner.kill_grace
  // (its on_cancel task) before it is aborted, and how long to wait for the
  // controller to acknowledge what the job reported.
  absl::Duration shutdown_job_timeout = absl::Seconds(30);
  absl::Duration shutdown_drain = absl::Seconds(5);

  // work_dir and controller_url are filled in from the fields above. Unless
  // set (tests), fetch_handler and artifact_uploader are an ArtifactClient
  // over this session's channel with the agent's identity, made per job.
  JobRunnerOptions runner;
};

class Session {
 public:
  explicit Session(SessionOptions options);
  // Run() must have returned.
  ~Session();

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Registers if DIR/agent.json is missing, then keeps a session open until
  // Stop(). Returns an error only when the agent cannot work at all (the
  // identity file is unreadable or cannot be written, no register key).
  absl::Status Run();

  // Asks Run() to return: a running job is cancelled (and reported, if the
  // controller is reachable), then the stream is closed. Returns at once;
  // a second call aborts the running job without waiting for on_cancel.
  // Safe from any thread.
  void Stop();

  // The agent id once known ("" before registration).
  std::string agent_id() const;

  // The channel of the latest connection attempt (null before the first):
  // a job's artifact transfers take it at each call and retry, so they
  // follow the controller the session follows.
  std::shared_ptr<grpc::Channel> channel() const;

 private:
  class AttemptSink;
  struct Job {
    ~Job();  // in session_messages.cc, where AttemptSink is complete
    std::unique_ptr<AttemptSink> sink;
    std::unique_ptr<JobRunner> runner;
    bool completed = false;  // OnJobCompleted ran
    bool aborted = false;    // abandoned: killed, reports dropped
  };
  using Stream =
      grpc::ClientReaderWriterInterface<gantry::v1::AgentMessage, gantry::v1::ControllerMessage>;
  struct StreamEnd {
    grpc::Status status;
    bool got_message = false;
    bool welcomed = false;
  };

  // A new channel to the current controller, with no connection history;
  // with the agent's client certificate once it has one (*cert_pem: which).
  std::shared_ptr<grpc::Channel> Dial(std::string* cert_pem) const;
  // After an attempt at the current controller failed with `message`: the
  // next one goes elsewhere when there is an elsewhere. Returns "" or
  // "; next X" for the log.
  std::string MoveOn(absl::string_view message);
  // Reads DIR/agent.key and agent.crt, when both are there.
  void LoadClientCertificate();

  // Loads or obtains the identity. Errors: fatal ones as returned status;
  // retryable ones set *retry_after.
  absl::Status EnsureIdentity(gantry::v1::AgentService::StubInterface& stub, Backoff& backoff,
                              absl::Duration* retry_after);
  // Registers and saves the identity to `identity_path`; errors as above.
  absl::Status Register(gantry::v1::AgentService::StubInterface& stub, Backoff& backoff,
                        const std::string& identity_path, absl::Duration* retry_after);
  StreamEnd RunStream(gantry::v1::AgentService::StubInterface& stub);
  // What the end of a stream means for the next attempt: how long to wait
  // before it (acting on NOT_FOUND, logging the rest), or nullopt once
  // stopping.
  std::optional<absl::Duration> ReconnectDelay(const StreamEnd& end, Backoff& backoff,
                                               absl::Time* last_unreachable_warning);
  // Waits for the stream to end or for Stop(); on Stop, finishes the job
  // and drains before cancelling the stream.
  void Supervise(absl::Time welcome_deadline);
  void ReaderLoop(Stream* stream);
  void WriterLoop(Stream* stream);
  // Waits for the running job (no stream): cancel was already requested.
  void FinishJobForShutdown();
  // Sleeps `delay` unless Stop() comes first. True if stopping.
  bool WaitForStop(absl::Duration delay);

  void Handle(const gantry::v1::ControllerMessage& message);
  void OnWelcome(const gantry::v1::Welcome& welcome);
  // Logs what the controller refused of our request, when that changed.
  void NoteRefused(const google::protobuf::RepeatedPtrField<std::string>& resources,
                   const google::protobuf::RepeatedPtrField<std::string>& environments)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnAssign(const gantry::v1::Assign& assign);
  void OnCancel(const gantry::v1::Cancel& cancel);
  void OnAbandon(const gantry::v1::Abandon& abandon);

  gantry::v1::AgentMessage MakeHello() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues `message` if a welcomed stream is up (else the outbox has it).
  void Deliver(std::optional<gantry::v1::AgentMessage> message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void JobFinished(int64_t attempt_id, const JobReport& report);
  bool JobActive() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Kills the running job without reporting it and forgets every attempt.
  void AbandonEverything(const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  SessionOptions options_;
  // Why options_.controller_address cannot be used (Run() returns it).
  absl::Status targets_status_;
  // Which controller the next attempt dials. Only Run()'s thread uses it.
  std::unique_ptr<ControllerRotation> rotation_;
  // Random, per process: told apart from a copy of agent.json elsewhere.
  const std::string session_nonce_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<AgentIdentity> identity_ ABSL_GUARDED_BY(mu_);
  // The agent's key and the certificate the controller signed for it;
  // empty before registration (and when talking plaintext).
  std::string client_key_pem_ ABSL_GUARDED_BY(mu_);
  std::string client_cert_pem_ ABSL_GUARDED_BY(mu_);
  // The controller did not know our id: ignore agent.json, register anew.
  bool register_again_ ABSL_GUARDED_BY(mu_) = false;
  AttemptOutbox outbox_ ABSL_GUARDED_BY(mu_);
  AttemptJournal journal_ ABSL_GUARDED_BY(mu_);
  // Left in the journal by an earlier process; told in each Hello until a
  // Welcome shows the controller has taken them.
  std::vector<int64_t> interrupted_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Job> job_ ABSL_GUARDED_BY(mu_);

  // The channel of the current attempt (Run()); a job's artifact transfers
  // take it at each call and retry (channel()).
  std::shared_ptr<grpc::Channel> channel_ ABSL_GUARDED_BY(mu_);
  // The controller channel_ goes to, for the log.
  std::string dialed_ ABSL_GUARDED_BY(mu_);
  // The current stream.
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool stream_up_ ABSL_GUARDED_BY(mu_) = false;
  bool reader_done_ ABSL_GUARDED_BY(mu_) = false;
  bool got_message_ ABSL_GUARDED_BY(mu_) = false;
  bool welcomed_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;  // writer: WritesDone when idle
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<gantry::v1::AgentMessage> queue_ ABSL_GUARDED_BY(mu_);
  // What the controller last said it refused of our resources and
  // environments (logged when it changes).
  std::string refused_ ABSL_GUARDED_BY(mu_);
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_);
  absl::Time next_heartbeat_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gantry::agent
