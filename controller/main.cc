// gantry-controller: holds pipeline state in PostgreSQL, schedules jobs and
// streams them to agents, and serves the operator API.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/config/duration.h"
#include "common/config/limits.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/process_setup.h"
#include "controller/bootstrap.h"
#include "controller/clock.h"
#include "controller/embedded_pg/embedded_postgres.h"
#include "controller/read_service.h"
#include "controller/rpc/agent_service.h"
#include "controller/rpc/operator_service.h"
#include "controller/scheduling/scheduler.h"
#include "controller/store/db.h"

namespace {

int Fail(const std::string& message) {
  spdlog::error("{}", message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gantry-controller: the Gantry continuous-delivery controller"};
  std::string data_dir;
  std::string listen = "127.0.0.1:8150";
  std::string database_url;
  std::string log_level = "info";
  std::string pg_user = "postgres";
  std::string agent_lost_timeout_flag = "30s";
  std::string heartbeat_interval_flag = "5s";
  int64_t max_console_mib = 100;
  app.add_option("--data-dir", data_dir, "state directory (tokens, embedded PostgreSQL)")
      ->required();
  app.add_option("--listen", listen, "address to serve agents and operators on (port 0: any)");
  app.add_option("--database-url", database_url,
                 "PostgreSQL connection URL; without it an embedded cluster runs under DIR/pg");
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--pg-user", pg_user, "user the embedded PostgreSQL runs as when root");
  app.add_option("--agent-lost-timeout", agent_lost_timeout_flag,
                 "agent silence before its job is lost: seconds or a duration (30s, 2m)");
  app.add_option("--heartbeat-interval", heartbeat_interval_flag,
                 "between agent heartbeats: seconds or a duration (5s, 500ms)");
  app.add_option("--max-console-mib", max_console_mib,
                 "console log kept per job attempt, in MiB; later output is dropped after a "
                 "truncation marker (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  // Every flag is checked before anything is written.
  auto duration_flag = [](const std::string& name,
                          const std::string& text) -> absl::StatusOr<absl::Duration> {
    std::optional<absl::Duration> d = gantry::config::ParseDuration(text, absl::Seconds(1));
    if (!d || *d == absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(name, " '", text, "': expected seconds or ",
                                                     gantry::config::kDurationSyntax,
                                                     ", above zero"));
    }
    return *d;
  };
  auto agent_lost_timeout = duration_flag("--agent-lost-timeout", agent_lost_timeout_flag);
  auto heartbeat_interval = duration_flag("--heartbeat-interval", heartbeat_interval_flag);
  for (const auto* d : {&agent_lost_timeout, &heartbeat_interval}) {
    if (!d->ok()) {
      std::cerr << "gantry-controller: " << d->status().message() << "\n";
      return 2;
    }
  }
  if (*agent_lost_timeout <= *heartbeat_interval) {
    std::cerr << "gantry-controller: --agent-lost-timeout (" << agent_lost_timeout_flag
              << ") must be longer than --heartbeat-interval (" << heartbeat_interval_flag << ")\n";
    return 2;
  }

  gantry::SetupLogging("controller", log_level);
  gantry::PrepareServerProcess();

  // Signals are taken synchronously by main; every other thread has them blocked.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::error_code ec;
  data_dir = std::filesystem::absolute(data_dir, ec).lexically_normal().string();
  if (!data_dir.empty() && data_dir.back() == '/') data_dir.pop_back();
  if (auto st = gantry::MakeDirs(data_dir); !st.ok()) return Fail(st.ToString());
  ::chmod(data_dir.c_str(), 0755);

  std::unique_ptr<gantry::EmbeddedPostgres> embedded;
  if (database_url.empty()) {
    gantry::EmbeddedPostgresOptions opts;
    opts.data_dir = data_dir;
    opts.run_as_user = pg_user;
    auto pg = gantry::EmbeddedPostgres::Start(opts);
    if (!pg.ok()) return Fail(absl::StrCat("embedded PostgreSQL: ", pg.status().message()));
    embedded = std::move(*pg);
    database_url = embedded->ConnectionString();
  }

  auto db = gantry::store::Db::Connect(database_url);
  if (!db.ok()) return Fail(std::string(db.status().message()));
  if (auto st = (*db)->Migrate(); !st.ok()) return Fail(std::string(st.message()));

  gantry::TokenRegistry tokens;
  auto boot = gantry::Bootstrap(**db, data_dir, &tokens);
  if (!boot.ok()) return Fail(std::string(boot.status().message()));

  std::vector<std::unique_ptr<gantry::store::Db>> read_dbs, artifact_dbs;
  for (auto* pool : {&read_dbs, &artifact_dbs}) {
    for (int i = 0; i < 2; ++i) {
      auto conn = gantry::store::Db::Connect(database_url);
      if (!conn.ok()) return Fail(std::string(conn.status().message()));
      pool->push_back(std::move(*conn));
    }
  }
  gantry::BlobStore blobs(data_dir + "/artifacts");
  if (auto st = blobs.Init(); !st.ok()) return Fail(st.ToString());

  gantry::ConfigCache configs;
  gantry::SchedulerOptions options;
  options.register_key_hash = boot->register_key_hash;
  options.heartbeat_interval = *heartbeat_interval;
  options.agent_lost_timeout = *agent_lost_timeout;
  options.max_console_bytes = max_console_mib << 20;
  gantry::RealClock clock;
  auto scheduler =
      std::make_unique<gantry::Scheduler>(std::move(*db), &configs, options, &clock);
  // Memory that cannot be rebuilt from the database after a failed commit:
  // stop cleanly, so a supervisor restarts the controller from the database.
  static std::atomic<bool> fatal{false};
  scheduler->set_fatal_handler([](const absl::Status& st) {
    spdlog::error("cannot go on without the database ({}): exiting", st.ToString());
    fatal = true;
    ::kill(::getpid(), SIGTERM);
  });
  if (auto st = scheduler->Start(); !st.ok()) return Fail(st.ToString());
  gantry::ReadService reads(std::move(read_dbs), &configs);
  gantry::ArtifactService artifacts(std::move(artifact_dbs), &configs, &blobs);

  gantry::rpc::OperatorService operator_service(scheduler.get(), &reads, &artifacts, &tokens);
  gantry::rpc::AgentService agent_service(scheduler.get(), &artifacts);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&operator_service);
  builder.RegisterService(&agent_service);
  // gRPC's default 4 MiB would refuse configs the parser accepts.
  builder.SetMaxReceiveMessageSize(static_cast<int>(gantry::config::kMaxConfigMessageBytes));
  // Agents ping to keep NAT mappings alive and to notice a dead controller.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS stays at gRPC's 120 s: at 10 s, a
  // fleet of 10,000 reconnecting at once after a restart timed out most of
  // its own handshakes and retried in a storm (docs/performance.md).
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return Fail(absl::StrCat("cannot listen on ", listen));

  std::string host = listen.substr(0, listen.rfind(':'));
  if (host == "0.0.0.0" || host == "[::]" || host.empty()) host = "127.0.0.1";
  std::string address = absl::StrCat(host, ":", port);
  if (auto st = gantry::WriteFileAtomic(data_dir + "/controller.addr", address + "\n", 0644);
      !st.ok()) {
    return Fail(st.ToString());
  }
  scheduler->Serving();
  spdlog::info("gantry-controller serving on {} (data dir {})", address, data_dir);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: shutting down", sig);
  scheduler->CloseSessions();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  reads.Stop();
  artifacts.Stop();
  scheduler->Stop();
  server.reset();
  scheduler.reset();
  if (embedded) {
    if (auto st = embedded->Stop(); !st.ok()) spdlog::warn("{}", st.ToString());
  }
  std::filesystem::remove(data_dir + "/controller.addr", ec);
  spdlog::info("stopped");
  return fatal ? 75 : 0;  // EX_TEMPFAIL: try again
}
