// throughput: many agents, many single-job runs triggered as fast as the
// controller accepts them (a window of concurrent TriggerPipeline calls),
// spread over several pipelines (a stage runs once at a time per pipeline:
// runs of one pipeline queue behind each other, like a train).
#include <spdlog/spdlog.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "tests/bench/bench.h"
#include "tests/bench/operator_client.h"
#include "tests/bench/sim_agents.h"

namespace gantry::bench {

absl::Status RunThroughput(const BenchOptions& options, Report& report) {
  const int agents = options.smoke ? 4 : options.throughput_agents;
  const int runs = options.smoke ? 40 : options.throughput_runs;
  const int pipelines = options.smoke ? 4 : options.throughput_pipelines;
  const int inflight = options.smoke ? 4 : options.throughput_inflight;
  auto env = StartEnv(options, "throughput", report);
  if (!env.ok()) return env.status();
  Controller& controller = *env->controller;
  Operator op(controller.address(), controller.admin_token());
  if (auto r = op.ApplyConfig(SingleJobPipelines("tp", pipelines)); !r.ok()) return r.status();

  RunTracker tracker(runs);
  FleetOptions fo;
  fo.address = controller.address();
  fo.channels = std::min(options.channels, agents);
  fo.console_chunks = options.console_chunks;
  FleetHooks hooks;
  hooks.on_assign = [&](SimAgent&, const v1::Assign& a, absl::Time t) {
    tracker.Assigned(BenchIdOf(a), a.attempt_id(), t);
  };
  hooks.on_completion_ack = [&](SimAgent&, int64_t attempt, absl::Time t) {
    tracker.CompletedAttempt(attempt, t);
  };
  Fleet fleet(fo, hooks);
  if (auto st = fleet.Register(agents, controller.register_key()); !st.ok()) return st;
  fleet.ConnectAll();
  if (!fleet.WaitWelcomed(agents, absl::Seconds(120))) {
    return absl::DeadlineExceededError("not every simulated agent was welcomed");
  }

  auto before = env->pg->Counters();
  if (!before.ok()) return before.status();
  if (options.pg_stat_statements) (void)env->pg->ResetStatements();
  double cpu0 = controller.CpuSeconds(), pg_cpu0 = controller.PostgresCpuSeconds();
  double bench_cpu0 = ProcessCpuSeconds();

  // A window of `inflight` trigger calls: each reply sends the next.
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::function<void()> send_next = [&] {
    int i = next.fetch_add(1);
    if (i >= runs) return;
    tracker.Sent(i, absl::Now());
    op.TriggerAsync(absl::StrCat("tp", i % pipelines), i,
                    [&, i](absl::StatusOr<v1::PipelineRun> r) {
                      if (!r.ok()) {
                        if (failures.fetch_add(1) < 5) {
                          spdlog::error("trigger {}: {}", i, r.status().ToString());
                        }
                      }
                      tracker.Replied(i, absl::Now());
                      send_next();
                    });
  };
  absl::Time start = absl::Now();
  for (int k = 0; k < inflight; ++k) send_next();
  if (!tracker.WaitReplied(runs, absl::Minutes(30))) {
    return absl::DeadlineExceededError("triggers did not all return in 30 min");
  }
  absl::Time triggered = absl::Now();
  if (failures > 0) return absl::InternalError(absl::StrCat(failures.load(), " triggers failed"));
  if (!tracker.WaitCompleted(runs, absl::Minutes(30))) {
    return absl::DeadlineExceededError(absl::StrCat("only ", tracker.completed(), " of ", runs,
                                                    " runs completed in 30 min"));
  }
  absl::Time end = absl::Now();
  double cpu = controller.CpuSeconds() - cpu0;
  double pg_cpu = controller.PostgresCpuSeconds() - pg_cpu0;
  double bench_cpu = ProcessCpuSeconds() - bench_cpu0;
  double seconds = absl::ToDoubleSeconds(end - start);

  report.Add("throughput.agents", agents, "agents");
  report.Add("throughput.pipelines", pipelines, "pipelines");
  report.Add("throughput.runs", runs, "runs");
  report.Add("throughput.jobs_per_second", runs / seconds, "jobs/s");
  report.Add("throughput.triggers_per_second",
             runs / absl::ToDoubleSeconds(triggered - start), "triggers/s");
  report.Add("throughput.wall", seconds, "s");
  report.AddLatencies("throughput.trigger_rpc",
                      tracker.Durations(&RunTracker::Times::sent, &RunTracker::Times::replied));
  report.AddLatencies("throughput.trigger_to_assign",
                      tracker.Durations(&RunTracker::Times::sent, &RunTracker::Times::assigned));
  report.AddLatencies("throughput.trigger_to_complete",
                      tracker.Durations(&RunTracker::Times::sent, &RunTracker::Times::completed));
  report.AddLatencies("throughput.assign_to_complete",
                      tracker.Durations(&RunTracker::Times::assigned, &RunTracker::Times::completed));
  report.Add("throughput.controller_cpu_per_job", cpu / runs * 1000, "ms/job");
  report.Add("throughput.postgres_cpu_per_job", pg_cpu / runs * 1000, "ms/job");
  report.Add("throughput.bench_cpu_per_job", bench_cpu / runs * 1000, "ms/job");
  report.Add("throughput.controller_cpu_util", cpu / seconds * 100, "%core");
  report.Add("throughput.postgres_cpu_util", pg_cpu / seconds * 100, "%core");
  ReportPgPerJob(report, "throughput", *env->pg, *before, runs, /*settle=*/!options.smoke);
  if (options.pg_stat_statements) ReportTopStatements(report, "throughput", *env->pg, runs);

  fleet.Shutdown();
  StopEnv(options, *env);
  return absl::OkStatus();
}

}  // namespace gantry::bench
