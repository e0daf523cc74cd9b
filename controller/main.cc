// gantry-controller: holds pipeline state in PostgreSQL, schedules jobs and
// streams them to agents, and serves the operator API.
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/config/duration.h"
#include "common/config/limits.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/pid_lock.h"
#include "common/process_setup.h"
#include "common/secrets/cipher.h"
#include "common/tls/client_tls.h"
#include "controller/bootstrap.h"
#include "controller/cipher_rotation.h"
#include "controller/clock.h"
#include "controller/config_repo/config_repo_poller.h"
#include "controller/controller_flags.h"
#include "controller/controller_setup.h"
#include "controller/embedded_pg/embedded_postgres.h"
#include "controller/embedded_pg/pg_supervisor.h"
#include "controller/http/grpc_counter.h"
#include "controller/http/http_frontend.h"
#include "controller/http/http_tls.h"
#include "controller/http/webhook_routes.h"
#include "controller/leader/leader_lease.h"
#include "controller/leader/standby_view.h"
#include "controller/materials/poller_setup.h"
#include "controller/read_service.h"
#include "controller/retention/retention_worker.h"
#include "controller/rpc/agent_service.h"
#include "controller/rpc/operator_service.h"
#include "controller/scheduling/scheduler.h"
#include "controller/store/db.h"
#include "controller/store/write_fence.h"
#include "controller/tls/agent_certificates.h"
#include "controller/tls/server_tls.h"

namespace {

using gantry::BuildServer;
using gantry::ConnectPool;
using gantry::ControllerFlags;
using gantry::OpenDatabase;
using gantry::PrepareDataDir;
using gantry::ServedAddress;
using gantry::ServerCredentials;
using gantry::WriteAddressFile;

// Set when the scheduler cannot go on: main then exits with EX_TEMPFAIL.
std::atomic<bool> fatal{false};
// The embedded PostgreSQL died and could not be started again.
std::atomic<bool> pg_lost{false};
// The lease's thread took the lease: main makes this controller the leader.
std::atomic<bool> took_lease{false};

int Fail(const std::string& message) {
  spdlog::error("{}", message);
  return 1;
}

// Signals are taken synchronously by main; every other thread has them blocked.
sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  // Raised by the lease's thread when this standby takes over (main wakes).
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

std::unique_ptr<gantry::Scheduler> MakeScheduler(std::unique_ptr<gantry::store::Db> db,
                                                 const ControllerFlags& flags,
                                                 const std::string& register_key_hash,
                                                 gantry::ConfigCache* configs, gantry::Clock* clock,
                                                 gantry::AuditLog* audit) {
  gantry::SchedulerOptions options;
  options.max_pending_agents = flags.max_pending_agents;
  options.register_limits.per_source_per_minute = flags.register_rate_per_source;
  options.register_limits.total_per_minute = flags.register_rate_total;
  options.audit = audit;
  options.register_key_hash = register_key_hash;
  options.heartbeat_interval = flags.heartbeat_interval;
  options.agent_lost_timeout = flags.agent_lost_timeout;
  options.max_console_bytes = flags.max_console_mib << 20;
  auto scheduler = std::make_unique<gantry::Scheduler>(std::move(db), configs, options, clock);
  // Memory that cannot be rebuilt from the database after a failed commit:
  // stop cleanly, so a supervisor restarts the controller from the database.
  scheduler->set_fatal_handler([](const absl::Status& st) {
    spdlog::error("cannot go on without the database ({}): exiting", st.ToString());
    fatal = true;
    ::kill(::getpid(), SIGTERM);
  });
  return scheduler;
}

void StopServing(gantry::Scheduler& scheduler, grpc::Server& server, gantry::ReadService& reads,
                 gantry::ArtifactService& artifacts) {
  scheduler.CloseSessions();
  server.Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  reads.Stop();
  artifacts.Stop();
  scheduler.Stop();
}

}  // namespace

int main(int argc, char** argv) {
  ControllerFlags flags;
  if (std::optional<int> exit_code = gantry::ParseFlags(argc, argv, flags)) return *exit_code;
  gantry::SetupLogging("controller", flags.log_level);
  gantry::TuneMallocForStreaming();
  gantry::PrepareServerProcess();
  sigset_t signals = BlockStopSignals();
  if (auto st = PrepareDataDir(flags.data_dir, ::geteuid() == 0 && flags.database_url.empty());
      !st.ok()) {
    return Fail(st.ToString());
  }
  const std::string& data_dir = flags.data_dir;
  // One controller per data dir, taken before anything in it is touched (the
  // embedded PostgreSQL, controller.addr): a second one would adopt the
  // first's postmaster and, stopping, stop it under the first.
  absl::StatusOr<gantry::PidLock> dir_lock =
      gantry::PidLock::Acquire(data_dir + "/controller.lock");
  if (absl::IsFailedPrecondition(dir_lock.status())) {
    return Fail(absl::StrCat("another gantry-controller (",
                             absl::StripPrefix(dir_lock.status().message(), "held by "),
                             ") is running with data dir ", data_dir));
  }
  if (!dir_lock.ok()) return Fail(dir_lock.status().ToString());
  // Every database session of this process is named after it, so a
  // controller taking over can end them (controller/leader/leader_lease.h).
  auto controller_id = gantry::LoadControllerId(data_dir);
  if (!controller_id.ok()) return Fail(controller_id.status().ToString());
  gantry::store::Db::SetApplicationName(
      gantry::LeaderLease::ApplicationName(gantry::LeaderLease::Instance(*controller_id)));

  std::optional<gantry::ServerTls> tls;
  auto credentials = ServerCredentials(flags, tls);
  if (!credentials.ok()) return Fail(std::string(credentials.status().message()));
  {
    std::string key_source;
    auto cipher =
        gantry::secrets::LoadControllerCipher(data_dir, flags.cipher_key_file, &key_source);
    if (!cipher.ok()) return Fail(std::string(cipher.status().message()));
    spdlog::info("secure variables: AES-256-GCM key {} from {}", cipher->current_key_id(),
                 key_source);
    // A key from the environment cannot be rewritten by `secret rotate-key`.
    gantry::secrets::SetProcessCipher(std::move(*cipher),
                                      key_source.front() == '$' ? "" : key_source);
  }

  std::unique_ptr<gantry::EmbeddedPostgres> embedded;
  auto db = OpenDatabase(flags, embedded);
  if (!db.ok()) return Fail(std::string(db.status().message()));
  // A dead embedded postmaster is started again; one that cannot be ends the
  // controller (exit 1) with the reason rather than leaving it hung.
  std::unique_ptr<gantry::PgSupervisor> supervisor;
  if (embedded) {
    supervisor = std::make_unique<gantry::PgSupervisor>(
        embedded.get(),
        [](const absl::Status& st) {
          spdlog::error("exiting: {}", std::string(st.message()));
          pg_lost = true;
          ::kill(::getpid(), SIGTERM);
        },
        gantry::PgSupervisor::Options{});
  }
  // Tokens as the database has them; the leader's bootstrap (below) adds
  // the admin token when it has to.
  gantry::TokenRegistry tokens;
  if (auto st = gantry::LoadApiTokens(**db, &tokens); !st.ok()) return Fail(st.ToString());
  auto read_dbs = ConnectPool(flags.database_url, 2);
  if (!read_dbs.ok()) return Fail(std::string(read_dbs.status().message()));
  for (auto& conn : *read_dbs) conn->set_unfenced();  // reads only: standbys serve them
  auto artifact_dbs = ConnectPool(flags.database_url, 2);
  if (!artifact_dbs.ok()) return Fail(std::string(artifact_dbs.status().message()));
  // Tokens and the audit log each have a connection of their own: audit
  // rows never wait behind reads, and token changes never behind uploads.
  auto identity_dbs = ConnectPool(flags.database_url, 2);
  if (!identity_dbs.ok()) return Fail(std::string(identity_dbs.status().message()));
  gantry::AuditLog audit(std::move((*identity_dbs)[0]));
  gantry::BlobStore blobs(data_dir + "/artifacts", *controller_id);
  if (auto st = blobs.Init(); !st.ok()) return Fail(st.ToString());

  gantry::ConfigCache configs;
  gantry::RealClock clock;
  // What each commit changed, for the HTTP side's live events and metrics
  // (outlives the scheduler, which publishes to it).
  gantry::http::ChangeRelay changes;
  std::unique_ptr<gantry::Scheduler> scheduler =
      MakeScheduler(std::move(*db), flags, "", &configs, &clock, &audit);
  scheduler->set_change_listener([&changes](gantry::ChangeNotice n) { changes.Publish(n); });
  // Git materials: polled beside the scheduler, never on its strand.
  auto materials =
      gantry::MakeMaterialPoller(data_dir, flags.database_url, flags.material_poll_interval,
                                 flags.git_timeout, &configs, scheduler.get());
  if (!materials.ok()) return Fail(std::string(materials.status().message()));
  // Config repositories (docs/config-repos.md): fetched beside the
  // scheduler, their commits applied on its strand; `material notify` and
  // push webhooks reach them too.
  auto config_repos =
      gantry::MakeConfigRepoPoller(data_dir, flags.database_url, flags.material_poll_interval,
                                   flags.git_timeout, &configs, scheduler.get());
  if (!config_repos.ok()) return Fail(std::string(config_repos.status().message()));
  (*materials)->SetNotifyListener([repos = config_repos->get()](const std::string& url) {
    return repos->Notify(url);
  });
  // One leader per database (docs/operations.md, "Two controllers on one
  // database"); the lease has a connection of its own, and a standby reads
  // what it serves on another.
  auto lease_db = gantry::store::Db::Connect(flags.database_url);
  if (!lease_db.ok()) return Fail(std::string(lease_db.status().message()));
  auto standby_db = gantry::store::Db::Connect(flags.database_url);
  if (!standby_db.ok()) return Fail(std::string(standby_db.status().message()));
  (*standby_db)->set_unfenced();
  gantry::LeaseOptions lease_options;
  lease_options.controller_id = *controller_id;
  lease_options.timeout = flags.lease_timeout;
  // No other controller reaches the embedded PostgreSQL: an outage there
  // must not end the only leader there can be.
  lease_options.demote_on_expiry = embedded == nullptr;
  gantry::LeaderLease lease(std::move(*lease_db), lease_options);
  gantry::ReadService reads(std::move(*read_dbs), &configs);
  gantry::ArtifactService artifacts(std::move(*artifact_dbs), &configs, &blobs);
  gantry::IdentityService identity(std::move((*identity_dbs)[1]), &tokens);
  gantry::Authorizer authz(&configs);
  // Agents' client certificates, on a connection of their own; none when
  // serving plaintext.
  std::unique_ptr<gantry::AgentCertificates> agent_certs;
  if (tls) {
    auto certs_db = gantry::store::Db::Connect(flags.database_url);
    if (!certs_db.ok()) return Fail(std::string(certs_db.status().message()));
    agent_certs = std::make_unique<gantry::AgentCertificates>(*tls, std::move(*certs_db),
                                                              flags.agent_token_auth);
    if (auto st = agent_certs->Load(); !st.ok()) return Fail(st.ToString());
    if (flags.agent_token_auth) {
      spdlog::warn(
          "--agent-token-auth: agents without a client certificate are let in on their "
          "token alone");
    }
  }
  gantry::rpc::OperatorService operator_service({scheduler.get(), &reads, &artifacts, &identity,
                                                 &tokens, &authz, &audit, materials->get(),
                                                 agent_certs.get(), config_repos->get(), &lease});
  gantry::rpc::AgentService agent_service(scheduler.get(), &artifacts, agent_certs.get(), &lease);
  // Retention works beside the scheduler, on a connection of its own.
  auto retention_db = gantry::store::Db::Connect(flags.database_url);
  if (!retention_db.ok()) return Fail(std::string(retention_db.status().message()));
  gantry::RetentionPolicy retention_policy;
  retention_policy.keep_runs = flags.retain_runs;
  retention_policy.keep_days = flags.retain_days;
  retention_policy.keep_deploys = flags.retain_deploys;
  retention_policy.interval = flags.retention_interval;
  gantry::RetentionWorker retention(std::move(*retention_db), &configs, &blobs, retention_policy);
  int port = 0;
  std::unique_ptr<grpc::Server> server =
      BuildServer(flags.listen, *credentials, {&operator_service, &agent_service},
                  flags.max_transport_mib, &port);
  if (!server || port == 0) return Fail(absl::StrCat("cannot listen on ", flags.listen));
  // Push webhooks (docs/materials.md): their secret is read once, here.
  auto webhook_secret = gantry::http::LoadWebhookSecret(flags.webhook_secret_file);
  if (!webhook_secret.ok()) return Fail(std::string(webhook_secret.status().message()));
  gantry::http::WebhookDeps webhooks{std::move(*webhook_secret), materials->get(), &audit};
  // HTTPS with gRPC's certificate, unless gRPC is plaintext or
  // --http-plaintext (both loopback only: controller_flags.cc).
  std::shared_ptr<boost::asio::ssl::context> http_tls;
  if (tls && !flags.http_plaintext) {
    auto made = gantry::http::MakeHttpTlsContext(tls->cert_chain_pem, tls->key_pem);
    if (!made.ok()) return Fail(std::string(made.status().message()));
    http_tls = std::move(*made);
  } else if (!flags.http_listen.empty()) {
    spdlog::warn("HTTP without TLS on {}: tokens and cookies cross it in clear (loopback only)",
                 flags.http_listen);
  }
  // Before controller.addr: whoever waits for it finds http.addr too.
  auto http_frontend = gantry::http::StartHttpFrontend(
      flags.http_listen, flags.http_listen_given, data_dir,
      {server.get(), scheduler.get(), &reads, &tokens, &authz, &changes},
      [&webhooks](gantry::http::Router& router) {
        gantry::http::AddWebhookRoutes(router, std::move(webhooks));
      },
      http_tls);
  if (!http_frontend.ok()) return Fail(std::string(http_frontend.status().message()));
  const std::string address = ServedAddress(flags.listen, port);
  lease.set_address(flags.advertise_address.empty() ? address : flags.advertise_address);
  // Losing the lease (another controller took over, or it ran out) ends
  // this controller: its memory is the old leader's. A supervisor starts it
  // again, as a standby.
  auto lost = [](const absl::Status& why) {
    spdlog::error("{}: stopping", std::string(why.message()));
    fatal = true;
    ::kill(::getpid(), SIGTERM);
  };
  gantry::store::WriteFence::SetFencedHandler(lost);
  // What a leader starts: the bootstrap secrets, the scheduler's state from
  // the database, then the workers beside it.
  auto lead = [&](bool takeover) -> absl::Status {
    // A key the old leader rotated to, if its file was copied here since
    // the last poll; the scheduler's start parses the config again.
    if (takeover && gantry::PickUpRotatedCipherKey()) configs.Invalidate();
    auto boot_db = gantry::store::Db::Connect(flags.database_url);
    if (!boot_db.ok()) return boot_db.status();
    auto boot = gantry::Bootstrap(**boot_db, data_dir, &tokens);
    if (!boot.ok()) return boot.status();
    scheduler->SetRegisterKeyHash(boot->register_key_hash);
    // Certificates the old leader issued since this one started.
    if (takeover && agent_certs) {
      if (auto st = agent_certs->Load(); !st.ok()) return st;
    }
    if (auto st = scheduler->Start(); !st.ok()) return st;
    lease.set_serving();
    scheduler->Serving();
    if (auto st = (*materials)->Start(); !st.ok()) return st;
    (*config_repos)->Start();
    retention.Start();
    return absl::OkStatus();
  };
  auto took = lease.TryAcquire();
  if (!took.ok()) return Fail(absl::StrCat("leader lease: ", took.status().message()));
  if (*took) {
    if (auto st = lead(false); !st.ok()) return Fail(st.ToString());
  } else {
    spdlog::info("standing by: {}", std::string(lease.NotLeader().message()));
  }
  if (auto st = WriteAddressFile(data_dir, address); !st.ok()) return Fail(st.ToString());
  lease.Start({.acquired =
                   [](int64_t) {
                     took_lease = true;
                     ::kill(::getpid(), SIGUSR1);
                   },
               .lost = lost,
               .standby_poll =
                   [&] {
                     if (gantry::PickUpRotatedCipherKey()) configs.Invalidate();
                     if (auto st = gantry::RefreshStandbyView(**standby_db, &tokens, &configs);
                         !st.ok()) {
                       spdlog::warn("standby: {}", st.ToString());
                     }
                   }});
  spdlog::info("gantry-controller {} on {} (data dir {})", *took ? "serving" : "standing by",
               address, data_dir);

  int sig = 0;
  while (true) {
    sigwait(&signals, &sig);
    if (sig != SIGUSR1) break;
    if (!took_lease.exchange(false) || lease.serving()) continue;
    absl::Time started = absl::Now();
    if (auto st = lead(true); !st.ok()) {
      spdlog::error("taking over: {}: stopping", st.ToString());
      fatal = true;
      break;
    }
    spdlog::info("took over as the leader: serving on {} ({} to load)", address,
                 absl::FormatDuration(absl::Now() - started));
  }
  spdlog::info("signal {}: shutting down", sig);
  if (supervisor) supervisor->Stop();
  // Work waiting for a database that is away is given up, not retried.
  gantry::store::Db::AbandonRetries();
  if (*http_frontend) (*http_frontend)->Stop();
  retention.Stop();
  (*materials)->Stop();
  (*config_repos)->Stop();
  StopServing(*scheduler, *server, reads, artifacts);
  server.reset();
  if (agent_certs) agent_certs->Stop();
  identity.Stop();
  audit.Flush();
  scheduler.reset();
  // After the last write: a standby takes over at once.
  lease.Stop();
  if (embedded) {
    if (auto st = embedded->Stop(); !st.ok()) spdlog::warn("{}", st.ToString());
  }
  std::error_code ec;
  std::filesystem::remove(data_dir + "/controller.addr", ec);
  spdlog::info("stopped");
  if (pg_lost) return 1;
  return fatal ? 75 : 0;  // EX_TEMPFAIL: try again
}
