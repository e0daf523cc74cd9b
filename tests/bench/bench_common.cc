#include "tests/bench/bench.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gantry::bench {

namespace {
std::optional<Env> shared_env;

// Load average now, for the report: the machine is shared with builders.
std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}
}  // namespace

absl::StatusOr<Env> StartEnv(const BenchOptions& options, const std::string& scenario,
                             Report& report, double heartbeat_s, double agent_lost_timeout_s) {
  report.Set(absl::StrCat(scenario, ".loadavg_at_start"), LoadAverage());
  if (options.reuse_controller && shared_env) return *shared_env;
  Env env;
  env.dir = options.work_dir + "/" + (options.reuse_controller ? "shared" : scenario);
  std::error_code ec;
  std::filesystem::remove_all(env.dir, ec);
  ControllerOptions co;
  co.binary = options.controller_bin;
  co.data_dir = env.dir + "/controller";
  co.log_level = options.log_level;
  co.heartbeat_interval_s = heartbeat_s;
  co.agent_lost_timeout_s = agent_lost_timeout_s;
  if (options.insecure) co.extra_args.push_back("--insecure");
  env.controller = std::make_shared<Controller>(co);
  absl::Time t0 = absl::Now();
  if (auto st = env.controller->Start(); !st.ok()) return st;
  spdlog::info("[{}] controller pid {} serving on {} after {}", scenario, env.controller->pid(),
               env.controller->address(), absl::FormatDuration(absl::Now() - t0));
  auto conninfo = env.controller->ConnInfo();
  if (!conninfo.ok()) return conninfo.status();
  auto pg = PgProbe::Connect(*conninfo);
  if (!pg.ok()) return pg.status();
  env.pg = std::move(*pg);

  if (options.pg_stat_statements) {
    // Needs shared_preload_libraries: set it, then restart the controller
    // (which stops and starts its cluster).
    auto set = env.pg->Scalar(
        "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
    if (!set.ok()) return set.status();
    env.pg.reset();
    if (auto st = env.controller->Stop(); !st.ok()) return st;
    if (auto st = env.controller->Start(); !st.ok()) return st;
    auto again = PgProbe::Connect(*conninfo);
    if (!again.ok()) return again.status();
    env.pg = std::move(*again);
    if (!env.pg->StatementsAvailable()) {
      spdlog::warn("pg_stat_statements requested but not loaded");
    }
  }
  if (options.pg_log_statements) {
    // Every statement with a millisecond timestamp and backend pid, into the
    // cluster's log (DIR/pg.log): the timeline of one trigger, statement by
    // statement; the gaps are the controller's own time.
    for (const char* sql : {"ALTER SYSTEM SET log_min_duration_statement = 0",
                            "ALTER SYSTEM SET log_line_prefix = '%m [%p] '",
                            "SELECT pg_reload_conf()"}) {
      if (auto r = env.pg->Scalar(sql); !r.ok()) return r.status();
    }
  }
  for (const char* setting :
       {"server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes",
        "shared_buffers", "max_connections", "commit_delay", "wal_level", "checkpoint_timeout",
        "max_wal_size"}) {
    report.Set(absl::StrCat(scenario, ".pg.", setting), env.pg->Setting(setting));
  }
  if (options.reuse_controller) shared_env = env;
  return env;
}

void StopSharedEnv(const BenchOptions& options) {
  if (!shared_env) return;
  BenchOptions o = options;
  o.reuse_controller = false;
  Env env = std::move(*shared_env);
  shared_env.reset();
  StopEnv(o, env);
}

void StopEnv(const BenchOptions& options, Env& env) {
  if (options.reuse_controller) return;
  env.pg.reset();
  if (env.controller) {
    if (auto st = env.controller->Stop(); !st.ok()) spdlog::warn("{}", st.ToString());
  }
  env.controller.reset();
  if (!options.keep) {
    std::error_code ec;
    std::filesystem::remove_all(env.dir, ec);
  }
}

std::string SingleJobPipelines(const std::string& prefix, int count) {
  std::string yaml = "format_version: 10\npipelines:\n";
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(&yaml, "  ", prefix, i,
                    ":\n"
                    "    group: bench\n"
                    "    stages:\n"
                    "      - s:\n"
                    "          jobs:\n"
                    "            j:\n"
                    "              tasks:\n"
                    "                - exec: {command: \"true\"}\n");
  }
  return yaml;
}

RunTracker::RunTracker(int runs) : times_(static_cast<size_t>(runs)) {}

void RunTracker::Sent(int64_t id, absl::Time t) {
  std::lock_guard<std::mutex> lock(mu_);
  if (id >= 0 && id < static_cast<int64_t>(times_.size())) times_[id].sent = t;
}

void RunTracker::Replied(int64_t id, absl::Time t) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (id >= 0 && id < static_cast<int64_t>(times_.size())) times_[id].replied = t;
    ++replied_;
  }
  cv_.notify_all();
}

void RunTracker::Assigned(int64_t id, int64_t attempt_id, absl::Time t) {
  std::lock_guard<std::mutex> lock(mu_);
  if (id < 0 || id >= static_cast<int64_t>(times_.size())) return;
  times_[id].assigned = t;
  attempt_to_id_[attempt_id] = id;
}

void RunTracker::CompletedAttempt(int64_t attempt_id, absl::Time t) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = attempt_to_id_.find(attempt_id);
    if (it == attempt_to_id_.end()) return;
    if (times_[it->second].completed == absl::InfinitePast()) ++completed_;
    times_[it->second].completed = t;
  }
  cv_.notify_all();
}

bool RunTracker::WaitCompleted(int n, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] { return completed_ >= n; });
}

bool RunTracker::WaitReplied(int n, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] { return replied_ >= n; });
}

int RunTracker::completed() {
  std::lock_guard<std::mutex> lock(mu_);
  return completed_;
}

std::vector<RunTracker::Times> RunTracker::times() {
  std::lock_guard<std::mutex> lock(mu_);
  return times_;
}

std::vector<absl::Duration> RunTracker::Durations(absl::Time Times::*from,
                                                  absl::Time Times::*to) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<absl::Duration> out;
  for (const auto& t : times_) {
    if (t.*from == absl::InfinitePast() || t.*to == absl::InfinitePast()) continue;
    out.push_back(t.*to - t.*from);
  }
  return out;
}

void ReportPgPerJob(Report& report, const std::string& prefix, PgProbe& pg,
                    const PgCounters& before, double jobs, bool settle) {
  auto after = pg.Counters();
  if (!after.ok() || jobs <= 0) {
    spdlog::warn("PostgreSQL counters unavailable");
    return;
  }
  // Our own Counters() call takes an xid each time.
  report.Add(prefix + ".pg.write_transactions_per_job",
             static_cast<double>(after->xid - before.xid - 1) / jobs, "tx/job");
  report.Add(prefix + ".pg.wal_bytes_per_job",
             static_cast<double>(after->wal_bytes - before.wal_bytes) / jobs, "B/job");
  if (settle) {
    // Backends flush their statistics when idle, at most once a second and
    // after up to 10 s: wait until xact_commit stops moving.
    int64_t last = -1;
    absl::Time deadline = absl::Now() + absl::Seconds(25);
    while (absl::Now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      auto c = pg.Counters();
      if (!c.ok()) break;
      after = c;
      if (c->xact_commit == last + 1) break;  // only our own probe moved it
      last = c->xact_commit;
    }
    report.Add(prefix + ".pg.transactions_per_job",
               static_cast<double>(after->xact_commit - before.xact_commit) / jobs, "tx/job",
               "pg_stat_database.xact_commit, read-only included, bench probes included");
    report.Add(prefix + ".pg.wal_fsyncs_per_job",
               static_cast<double>(after->wal_sync - before.wal_sync) / jobs, "fsync/job");
  }
}

void ReportTopStatements(Report& report, const std::string& prefix, PgProbe& pg,
                         double jobs) {
  auto top = pg.TopStatements(15);
  if (!top.ok()) return;
  std::string text;
  for (const auto& s : *top) {
    absl::StrAppend(&text, absl::StrFormat("%10.1f ms %8d calls %7.3f ms/call %6.2f calls/job  %s\n",
                                           s.total_ms, s.calls, s.mean_ms,
                                           jobs > 0 ? s.calls / jobs : 0.0,
                                           s.query.substr(0, 160)));
  }
  spdlog::info("[{}] pg_stat_statements, top by total time:\n{}", prefix, text);
  report.Set(prefix + ".pg_stat_statements", text);
}

}  // namespace gantry::bench
