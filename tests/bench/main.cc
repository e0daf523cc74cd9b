// gantry-bench: what users feel, measured against a real gantry-controller on
// its embedded PostgreSQL (fsync on) with simulated agents speaking the real
// protocol. Prints `name value unit` lines and writes them as JSON.
// See docs/performance.md for the scenarios, targets and results.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/process_setup.h"
#include "tests/bench/bench.h"

namespace gantry::bench {
namespace {

std::string SelfDir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : p.parent_path().string();
}

// The command line beyond BenchOptions.
struct Cli {
  std::string scenario = "all";
  std::string json_path = "gantry-bench.json";
  std::string artifact_sizes = "64,1024";
  std::string bench_log_level = "info";
};

void AddGeneralFlags(CLI::App& app, BenchOptions& o, Cli& cli) {
  app.add_option(
         "--scenario", cli.scenario,
         "latency|throughput|fanout|scale|artifacts|outage|viewers|materials|failover|all (all: "
         "every one but outage and materials, which take minutes; with --smoke, those "
         "too)")
      ->check(CLI::IsMember({"latency", "throughput", "fanout", "scale", "artifacts", "outage",
                             "viewers", "materials", "failover", "all"}));
  app.add_flag("--smoke", o.smoke, "tiny sizes: proves the bench runs, measures nothing");
  app.add_option("--json", cli.json_path, "where to write the figures as JSON");
  app.add_option("--controller-bin", o.controller_bin,
                 "gantry-controller to run (default: next to this binary)");
  app.add_option("--work-dir", o.work_dir, "scratch directory (default: a new one in /tmp)");
  app.add_flag("--keep", o.keep, "keep data dirs and controller logs");
  app.add_flag("--insecure", o.insecure,
               "run the controller with --insecure (plaintext), to measure what TLS costs");
  app.add_flag("--reuse-controller", o.reuse_controller,
               "run every scenario on one controller (always with --smoke)");
  app.add_option("--controller-log-level", o.log_level, "the controller's --log-level");
  app.add_option("--log-level", cli.bench_log_level, "the bench's own log level");
  app.add_option("--channels", o.channels,
                 "gRPC channels (TCP connections) the agents of small fleets share");
  app.add_option("--console-chunks", o.console_chunks,
                 "console chunks each simulated job sends before completing");
  app.add_flag("--pg-stat-statements", o.pg_stat_statements,
               "load pg_stat_statements and report the top statements per scenario");
  app.add_flag("--pg-log-statements", o.pg_log_statements,
               "log every SQL statement with its duration to the cluster's pg.log");
}

void AddSizeFlags(CLI::App& app, BenchOptions& o, Cli& cli) {
  app.add_option("--latency-runs", o.latency_runs, "latency: measured runs");
  app.add_option("--latency-warmup", o.latency_warmup, "latency: unmeasured runs first");
  app.add_option("--throughput-agents", o.throughput_agents);
  app.add_option("--throughput-runs", o.throughput_runs);
  app.add_option("--throughput-pipelines", o.throughput_pipelines,
                 "runs are spread over this many pipelines");
  app.add_option("--throughput-inflight", o.throughput_inflight,
                 "concurrent TriggerPipeline calls");
  app.add_option("--fanout-jobs", o.fanout_jobs);
  app.add_option("--fanout-agents", o.fanout_agents);
  app.add_option("--scale-agents", o.scale_agents);
  app.add_option("--scale-channels", o.scale_channels,
                 "shared connections for the scale fleet (0: one per agent, dialled per "
                 "attempt, as real agents)");
  app.add_option("--scale-heartbeat", o.scale_heartbeat_s, "seconds between heartbeats");
  app.add_option("--scale-idle", o.scale_idle_s, "seconds of idle CPU measurement");
  app.add_option("--scale-fleet-threads", o.scale_fleet_threads,
                 "threads of the simulated fleet that (re)open streams and send heartbeats");
  app.add_option("--artifact-mib", cli.artifact_sizes, "comma-separated file sizes in MiB");
  app.add_option("--artifact-chunk-kib", o.artifact_chunk_kib,
                 "unused: the real agent client sends 1 MiB messages");
  app.add_option("--outage-agents", o.outage_agents, "outage: agents streaming console");
  app.add_option("--viewers", o.viewers, "viewers: live event streams held open");
  app.add_option("--viewers-runs", o.viewers_runs, "viewers: runs triggered while they watch");
  app.add_option("--materials", o.materials, "materials: git materials polled (one repo each)");
  app.add_option("--failover-agents", o.failover_agents,
                 "failover: simulated agents connected when the leader is killed");
  app.add_option("--failover-lease-timeout", o.failover_lease_timeout,
                 "failover: both controllers' --lease-timeout");
  app.add_option("--materials-interval", o.materials_interval_s,
                 "materials: the controller's --material-poll-interval, seconds");
  app.add_option("--materials-window", o.materials_window_s,
                 "materials: seconds of CPU measurement once every material was fetched");
  app.add_option("--outage-seconds", o.outage_s, "outage: how long the database is stopped");
  app.add_option("--outage-before", o.outage_before_s, "outage: seconds streaming before it");
  app.add_option("--outage-after", o.outage_after_s, "outage: seconds streaming after recovery");
  app.add_option("--outage-chunk-kib", o.outage_chunk_kib, "outage: console chunk size");
  app.add_option("--outage-chunk-ms", o.outage_chunk_ms, "outage: ms between an agent's chunks");
}

// Artifact sizes, controller binary and work dir; false (after logging why)
// if unusable.
bool Prepare(BenchOptions& o, const Cli& cli) {
  if (o.smoke) o.reuse_controller = true;
  o.artifact_mib.clear();
  for (absl::string_view s : absl::StrSplit(cli.artifact_sizes, ',', absl::SkipEmpty())) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(s, &v) || v <= 0) {
      spdlog::error("bad --artifact-mib value '{}'", std::string(s));
      return false;
    }
    o.artifact_mib.push_back(v);
  }
  if (o.controller_bin.empty()) o.controller_bin = SelfDir() + "/gantry-controller";
  if (!std::filesystem::exists(o.controller_bin)) {
    spdlog::error("no gantry-controller at {} (use --controller-bin)", o.controller_bin);
    return false;
  }
  if (o.work_dir.empty()) {
    std::string tmpl = "/tmp/gantry-bench-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      spdlog::error("cannot create a work dir in /tmp");
      return false;
    }
    o.work_dir = tmpl;
  }
  std::filesystem::create_directories(o.work_dir);
  std::filesystem::permissions(o.work_dir, std::filesystem::perms(0755));
  // Many agents, one connection each: as many descriptors as allowed (the
  // controller, our child, inherits the limit). And Abseil's deadlock
  // detector off: one process holding 10,000 agents' channels would spend a
  // third of a core in its graph during a reconnect storm, which 10,000
  // separate agent processes never do.
  gantry::TuneMallocForStreaming();
  gantry::PrepareServerProcess();
  return true;
}

void DescribeRun(const BenchOptions& o, int argc, char** argv, Report& report) {
  std::vector<std::string> args(argv, argv + argc);
  report.Set("command", absl::StrJoin(args, " "));
  report.Set("started_at", absl::FormatTime(absl::Now()));
  report.Set("cpus", absl::StrCat(sysconf(_SC_NPROCESSORS_ONLN)));
  report.Set("smoke", o.smoke ? "true" : "false");
  report.Set("controller_bin", o.controller_bin);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  report.Set("host", host);
}

// Runs the selected scenarios; returns how many failed.
int RunScenarios(const BenchOptions& o, const std::string& scenario, Report& report) {
  struct Scenario {
    const char* name;
    absl::Status (*run)(const BenchOptions&, Report&);
    bool in_all;  // part of --scenario all at full size
  };
  const Scenario scenarios[] = {
      {"latency", RunLatency, true},     {"throughput", RunThroughput, true},
      {"fanout", RunFanout, true},       {"scale", RunScale, true},
      {"artifacts", RunArtifacts, true}, {"outage", RunOutage, false},
      {"viewers", RunViewers, true},     {"materials", RunMaterials, false},
      {"failover", RunFailover, true}};
  int failed = 0;
  for (const auto& s : scenarios) {
    bool selected = scenario == s.name || (scenario == "all" && (s.in_all || o.smoke));
    if (!selected) continue;
    spdlog::info("scenario {} starting", s.name);
    absl::Time t0 = absl::Now();
    absl::Status st = s.run(o, report);
    if (!st.ok()) {
      ++failed;
      spdlog::error("scenario {} failed: {}", s.name, st.ToString());
      report.Set(absl::StrCat(s.name, ".error"), st.ToString());
    } else {
      spdlog::info("scenario {} done in {}", s.name, absl::FormatDuration(absl::Now() - t0));
    }
  }
  return failed;
}

}  // namespace
}  // namespace gantry::bench

int main(int argc, char** argv) {
  using namespace gantry::bench;
  CLI::App app{"gantry-bench: latency, throughput, fan-out, scale, artifact and outage benchmarks"};
  BenchOptions o;
  Cli cli;
  AddGeneralFlags(app, o, cli);
  AddSizeFlags(app, o, cli);
  CLI11_PARSE(app, argc, argv);

  gantry::SetupLogging("bench", cli.bench_log_level);
  bool own_work_dir = o.work_dir.empty();
  if (!Prepare(o, cli)) return 2;
  Report report;
  DescribeRun(o, argc, argv, report);
  int failed = RunScenarios(o, cli.scenario, report);
  StopSharedEnv(o);
  if (!report.WriteJson(cli.json_path)) {
    spdlog::error("cannot write {}", cli.json_path);
    ++failed;
  } else {
    spdlog::info("figures written to {}", cli.json_path);
  }
  if (own_work_dir && !o.keep && failed == 0) {
    std::error_code ec;
    std::filesystem::remove_all(o.work_dir, ec);
  } else {
    spdlog::info("work dir kept: {}", o.work_dir);
  }
  return failed == 0 ? 0 : 1;
}
