// What every scenario shares: the options, a fresh controller per scenario,
// pipeline YAML, and per-run timestamps.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/bench/controller_proc.h"
#include "tests/bench/pg_probe.h"
#include "tests/bench/report.h"

namespace gantry::bench {

struct BenchOptions {
  bool smoke = false;
  std::string controller_bin;
  std::string work_dir;  // each scenario gets work_dir/<scenario>/
  bool keep = false;     // keep data dirs and logs
  std::string log_level = "info";
  int channels = 8;        // agent channels (TCP connections) for small fleets
  int console_chunks = 0;  // console chunks per simulated job
  bool pg_stat_statements = false;
  bool pg_log_statements = false;  // log every statement with its duration
  bool reuse_controller = false;   // one controller for all scenarios
  bool insecure = false;           // the controller serves plaintext (TLS cost)

  int latency_runs = 200;
  int latency_warmup = 10;

  int throughput_agents = 100;
  int throughput_runs = 5000;
  int throughput_pipelines = 100;
  int throughput_inflight = 64;

  int fanout_jobs = 500;
  int fanout_agents = 100;

  int scale_agents = 10000;
  int scale_channels = 0;  // 0: one per agent, as real agents
  double scale_heartbeat_s = 5;
  double scale_idle_s = 30;
  int scale_fleet_threads = 1;  // timer threads of the simulated fleet

  std::vector<int64_t> artifact_mib = {64, 1024};
  int artifact_chunk_kib = 1024;

  int outage_agents = 1000;
  double outage_s = 60;         // database stopped this long
  double outage_before_s = 10;  // streaming before the outage
  double outage_after_s = 5;    // streaming after recovery
  // 1,000 agents x 4 KiB / s = 1,000 chunks/s: a quarter of the ~4,000
  // chunks/s the controller stored while other builds loaded this machine
  // (docs/performance.md), so the outage's backlog drains afterwards. At
  // 4,000 chunks/s offered it never did.
  int outage_chunk_kib = 4;    // console chunk size
  int outage_chunk_ms = 1000;  // time between an agent's chunks

  // Live dashboard viewers (Server-Sent Events) and runs while they watch.
  int viewers = 1000;
  int viewers_runs = 20;

  // Git materials polled (scenario_materials.cc).
  int materials = 1000;
  double materials_interval_s = 60;
  double materials_window_s = 180;

  // Two controllers on one database; the leader killed (scenario_failover.cc).
  int failover_agents = 1000;
  std::string failover_lease_timeout = "10s";
};

// A controller on a new data dir under work_dir/<scenario>, with the
// PostgreSQL settings recorded in the report as <scenario>.pg.*.
// With options.reuse_controller every scenario shares one controller (the
// smoke run: one initdb instead of five).
struct Env {
  std::shared_ptr<Controller> controller;
  std::shared_ptr<PgProbe> pg;
  std::string dir;  // work_dir/<scenario>
};
absl::StatusOr<Env> StartEnv(const BenchOptions& options, const std::string& scenario,
                             Report& report, double heartbeat_s = 5,
                             double agent_lost_timeout_s = 30);
// Stops the controller and, unless --keep, removes the scenario dir.
void StopEnv(const BenchOptions& options, Env& env);
// Stops the shared controller of reuse_controller, if any.
void StopSharedEnv(const BenchOptions& options);

// `count` pipelines named <prefix><i>, each one stage "s" of one job "j"
// running `true`.
std::string SingleJobPipelines(const std::string& prefix, int count);

// Timestamps of bench runs, by BENCH_ID; attempts are mapped to ids as
// their assignments arrive.
class RunTracker {
 public:
  explicit RunTracker(int runs);
  struct Times {
    absl::Time sent = absl::InfinitePast();
    absl::Time replied = absl::InfinitePast();
    absl::Time assigned = absl::InfinitePast();
    absl::Time completed = absl::InfinitePast();
  };
  void Sent(int64_t id, absl::Time t);
  void Replied(int64_t id, absl::Time t);
  void Assigned(int64_t id, int64_t attempt_id, absl::Time t);
  void CompletedAttempt(int64_t attempt_id, absl::Time t);
  bool WaitCompleted(int n, absl::Duration timeout);
  bool WaitReplied(int n, absl::Duration timeout);
  int completed();
  std::vector<Times> times();
  // sample(t) for every run where both ends are known.
  std::vector<absl::Duration> Durations(absl::Time Times::*from, absl::Time Times::*to);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Times> times_;
  std::map<int64_t, int64_t> attempt_to_id_;
  int completed_ = 0;
  int replied_ = 0;
};

// PostgreSQL counters since `before`, reported per job: write transactions
// (xids), WAL bytes and, with `settle` (waits for the controller's backends
// to flush their statistics), committed transactions and WAL fsyncs.
void ReportPgPerJob(Report& report, const std::string& prefix, PgProbe& pg,
                    const PgCounters& before, double jobs, bool settle);
// Top statements by total time, when --pg-stat-statements is on.
void ReportTopStatements(Report& report, const std::string& prefix, PgProbe& pg, double jobs);

// Registered scenarios.
absl::Status RunLatency(const BenchOptions& options, Report& report);
absl::Status RunThroughput(const BenchOptions& options, Report& report);
absl::Status RunFanout(const BenchOptions& options, Report& report);
absl::Status RunScale(const BenchOptions& options, Report& report);
absl::Status RunArtifacts(const BenchOptions& options, Report& report);
absl::Status RunOutage(const BenchOptions& options, Report& report);
absl::Status RunViewers(const BenchOptions& options, Report& report);  // scenario_viewers.cc
absl::Status RunMaterials(const BenchOptions& options, Report& report);  // scenario_materials.cc
absl::Status RunFailover(const BenchOptions& options, Report& report);   // scenario_failover.cc

}  // namespace gantry::bench
