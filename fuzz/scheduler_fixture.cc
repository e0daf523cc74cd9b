#include "fuzz/scheduler_fixture.h"

#include <signal.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <pqxx/pqxx>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "controller/embedded_pg/embedded_postgres.h"
#include "controller/store/db.h"
#include "fuzz/fuzz_check.h"

namespace gantry::fuzz {
namespace {

namespace fs = std::filesystem;

constexpr char kRegisterKey[] = "fuzz-register-key";
constexpr char kDirPrefix[] = "gantry-fuzz-pg-";
constexpr auto kWait = std::chrono::seconds(30);

// Two stages (one job rescheduled when its agent is lost), a copy per agent,
// and a pipeline its second stage triggers.
constexpr char kConfig[] = R"(format_version: 10
pipelines:
  two:
    stages:
      - first:
          jobs:
            a: {tasks: [{exec: {command: "true"}}]}
            b: {on_agent_lost: reschedule, tasks: [{exec: {command: "true"}}]}
      - second:
          jobs:
            c: {tasks: [{exec: {command: "true"}}]}
  fanout:
    stages:
      - everywhere:
          jobs:
            e: {run_instances: all, tasks: [{exec: {command: "true"}}]}
  downstream:
    materials:
      up: {pipeline: two, stage: second}
    stages:
      - d:
          jobs:
            d: {tasks: [{exec: {command: "true"}}]}
)";

// Keeps errors (and prints what the level lets through) instead of logging
// every refused report of every input.
class KeepingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> Take() {
    std::lock_guard<std::mutex> lock(kept_mu_);
    return std::exchange(errors_, {});
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    std::string line = fmt::to_string(buf);
    std::fputs(line.c_str(), stderr);
    if (msg.level < spdlog::level::err) return;
    std::lock_guard<std::mutex> lock(kept_mu_);
    errors_.push_back(std::move(line));
  }
  void flush_() override {}

 private:
  std::mutex kept_mu_;
  std::vector<std::string> errors_;
};

std::shared_ptr<KeepingSink>& Sink() {
  static auto sink = std::make_shared<KeepingSink>();
  return sink;
}

// Waits for a reply callback's value.
template <typename T>
absl::StatusOr<T> Call(const std::function<void(Reply<T>)>& call) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<T>>>();
  auto future = promise->get_future();
  call([promise](absl::StatusOr<T> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(kWait) != std::future_status::ready) {
    return absl::DeadlineExceededError("the scheduler did not answer within 30 s");
  }
  return future.get();
}

// Who the fixture's operator calls come from.
Principal Operator() {
  Principal who;
  who.user = "fuzz";
  who.admin = true;
  return who;
}

// Clusters of fuzz processes that crashed (libFuzzer stops at the first
// crash, without destructors): adopted, stopped and removed.
void StopOrphans() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::temp_directory_path(), ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(kDirPrefix, 0) != 0) continue;
    int pid = 0;
    if (!absl::SimpleAtoi(name.substr(sizeof(kDirPrefix) - 1), &pid) || pid <= 0) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
    if (fs::exists(entry.path() / "pg" / "postmaster.pid", ec)) {
      EmbeddedPostgresOptions opts;
      opts.data_dir = entry.path().string();
      opts.durable = false;
      if (auto pg = EmbeddedPostgres::Start(opts); pg.ok()) (void)(*pg)->Stop();
    }
    fs::remove_all(entry.path(), ec);
  }
}

}  // namespace

struct SchedulerFixture::Pg {
  fs::path dir;
  std::unique_ptr<EmbeddedPostgres> server;
  std::string url;
  std::unique_ptr<pqxx::connection> reader;
  ~Pg() {
    reader.reset();
    if (server) (void)server->Stop();
    server.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

const std::vector<std::pair<std::string, std::vector<std::string>>>& SchedulerFixture::Pipelines() {
  static const auto* pipelines = new std::vector<std::pair<std::string, std::vector<std::string>>>{
      {"two", {"first", "second"}}, {"fanout", {"everywhere"}}, {"downstream", {"d"}}};
  return *pipelines;
}

SchedulerFixture& SchedulerFixture::Get() {
  // Destroyed at exit (libFuzzer's -max_total_time ends with exit()), which
  // stops the scheduler and then PostgreSQL.
  static SchedulerFixture fixture;
  static std::once_flag started;
  std::call_once(started, [] { fixture.Start(); });
  return fixture;
}

SchedulerFixture::~SchedulerFixture() {
  if (scheduler_) scheduler_->Stop();
  scheduler_.reset();
  pg_.reset();
}

void SchedulerFixture::Start() {
  auto logger = std::make_shared<spdlog::logger>("controller", Sink());
  const char* level = std::getenv("GANTRY_FUZZ_LOG");
  logger->set_level(level != nullptr ? spdlog::level::from_str(level) : spdlog::level::err);
  spdlog::set_default_logger(logger);

  StopOrphans();
  pg_ = std::make_unique<Pg>();
  pg_->dir = fs::temp_directory_path() / absl::StrCat(kDirPrefix, ::getpid());
  EmbeddedPostgresOptions opts;
  opts.data_dir = pg_->dir.string();
  opts.durable = false;
  opts.template_dir = "/tmp/gantry-pg-templates";
  auto server = EmbeddedPostgres::Start(opts);
  FUZZ_CHECK(server.ok(), "starting PostgreSQL: %s", server.status().ToString().c_str());
  pg_->server = std::move(*server);
  pg_->url = pg_->server->ConnectionString();

  auto migrator = store::Db::Connect(pg_->url);
  FUZZ_CHECK(migrator.ok(), "%s", migrator.status().ToString().c_str());
  absl::Status migrated = (*migrator)->Migrate();
  FUZZ_CHECK(migrated.ok(), "%s", migrated.ToString().c_str());
  pg_->reader = std::make_unique<pqxx::connection>(pg_->url);

  auto db = store::Db::Connect(pg_->url);
  FUZZ_CHECK(db.ok(), "%s", db.status().ToString().c_str());
  SchedulerOptions options;
  options.register_key_hash = Sha256Hex(kRegisterKey);
  options.agent_lost_timeout = kLostTimeout;
  options.heartbeat_interval = absl::Seconds(1);
  options.max_console_bytes = kMaxConsoleBytes;
  options.max_inbox_bytes = kMaxInboxBytes;
  scheduler_ = std::make_unique<Scheduler>(std::move(*db), &configs_, options, &clock_);
  absl::Status started = scheduler_->Start();
  FUZZ_CHECK(started.ok(), "starting the scheduler: %s", started.ToString().c_str());
  scheduler_->Serving();

  v1::ConfigFile file;
  file.set_path("fuzz.yaml");
  file.set_content(kConfig);
  auto applied = Call<v1::ApplyConfigResponse>([&](Reply<v1::ApplyConfigResponse> done) {
    scheduler_->ApplyConfig({file}, "fuzz", std::move(done));
  });
  FUZZ_CHECK(applied.ok() && applied->revision() > 0, "applying the config: %s",
             applied.status().ToString().c_str());
  TakeLoggedErrors();
}

absl::StatusOr<v1::RegisterResponse> SchedulerFixture::Register(const std::string& name) {
  v1::RegisterRequest request;
  request.set_name(name);
  request.set_hostname(name);
  request.set_register_key(kRegisterKey);
  return Call<v1::RegisterResponse>([&](Reply<v1::RegisterResponse> done) {
    scheduler_->Register(request, "ipv4:127.0.0.1:1", std::move(done));
  });
}

absl::StatusOr<v1::PipelineRun> SchedulerFixture::Trigger(const std::string& pipeline) {
  v1::TriggerPipelineRequest request;
  request.set_pipeline(pipeline);
  return Call<v1::PipelineRun>([&](Reply<v1::PipelineRun> done) {
    scheduler_->Trigger(request, Operator(), std::move(done));
  });
}

absl::StatusOr<v1::PipelineRun> SchedulerFixture::CancelStage(const std::string& pipeline,
                                                              int64_t counter,
                                                              const std::string& stage) {
  v1::StageRequest request;
  request.set_pipeline(pipeline);
  request.set_counter(counter);
  request.set_stage(stage);
  return Call<v1::PipelineRun>([&](Reply<v1::PipelineRun> done) {
    scheduler_->CancelStage(request, Operator(), std::move(done));
  });
}

absl::StatusOr<v1::Agent> SchedulerFixture::DeleteAgent(const std::string& id) {
  v1::DeleteAgentRequest request;
  request.set_agent(id);
  return Call<v1::Agent>([&](Reply<v1::Agent> done) {
    scheduler_->DeleteAgent(request, Operator(), std::move(done));
  });
}

absl::StatusOr<v1::ListAgentsResponse> SchedulerFixture::ListAgents() {
  return Call<v1::ListAgentsResponse>(
      [&](Reply<v1::ListAgentsResponse> done) { scheduler_->ListAgents(std::move(done)); });
}

std::vector<std::vector<std::string>> SchedulerFixture::Query(const std::string& sql) {
  pqxx::nontransaction tx(*pg_->reader);
  pqxx::result result = tx.exec(sql);
  std::vector<std::vector<std::string>> rows;
  for (const auto& row : result) {
    std::vector<std::string>& out = rows.emplace_back();
    for (const auto& field : row) out.push_back(field.is_null() ? "" : field.c_str());
  }
  return rows;
}

std::vector<std::string> SchedulerFixture::TakeLoggedErrors() { return Sink()->Take(); }

}  // namespace gantry::fuzz
