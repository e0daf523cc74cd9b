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

namespace {

struct Sizes {
  int agents, runs, pipelines, inflight;
};

Sizes SizesOf(const BenchOptions& o) {
  if (o.smoke) return {4, 40, 4, 4};
  return {o.throughput_agents, o.throughput_runs, o.throughput_pipelines, o.throughput_inflight};
}

// `agents` agents finishing every job at once, reporting to `tracker`.
std::unique_ptr<Fleet> StartAgents(const BenchOptions& options, Controller& controller, int agents,
                                   RunTracker& tracker) {
  FleetOptions fo;
  fo.address = controller.address();
  fo.channels = std::min(options.channels, agents);
  fo.name_prefix = "throughput";
  fo.console_chunks = options.console_chunks;
  FleetHooks hooks;
  hooks.on_assign = [&tracker](SimAgent&, const v1::Assign& a, absl::Time t) {
    tracker.Assigned(BenchIdOf(a), a.attempt_id(), t);
  };
  hooks.on_completion_ack = [&tracker](SimAgent&, int64_t attempt, absl::Time t) {
    tracker.CompletedAttempt(attempt, t);
  };
  return std::make_unique<Fleet>(fo, hooks);
}

// Triggers every run, `inflight` calls at a time (each reply sends the
// next), and waits until all of them completed. `triggered`: when the last
// trigger call returned.
absl::Status TriggerWindow(Operator& op, const Sizes& n, RunTracker& tracker,
                           absl::Time& triggered) {
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::function<void()> send_next = [&] {
    int i = next.fetch_add(1);
    if (i >= n.runs) return;
    tracker.Sent(i, absl::Now());
    op.TriggerAsync(absl::StrCat("tp", i % n.pipelines), i,
                    [&, i](absl::StatusOr<v1::PipelineRun> r) {
                      if (!r.ok() && failures.fetch_add(1) < 5) {
                        spdlog::error("trigger {}: {}", i, r.status().ToString());
                      }
                      tracker.Replied(i, absl::Now());
                      send_next();
                    });
  };
  for (int k = 0; k < n.inflight; ++k) send_next();
  if (!tracker.WaitReplied(n.runs, absl::Minutes(30))) {
    return absl::DeadlineExceededError("triggers did not all return in 30 min");
  }
  triggered = absl::Now();
  if (failures > 0) return absl::InternalError(absl::StrCat(failures.load(), " triggers failed"));
  if (!tracker.WaitCompleted(n.runs, absl::Minutes(30))) {
    return absl::DeadlineExceededError(
        absl::StrCat("only ", tracker.completed(), " of ", n.runs, " runs completed in 30 min"));
  }
  return absl::OkStatus();
}

// CPU seconds of the controller, its PostgreSQL and the bench.
struct Cpu {
  double controller = 0, postgres = 0, bench = 0;
};
Cpu CpuNow(Controller& controller) {
  return {controller.CpuSeconds(), controller.PostgresCpuSeconds(), ProcessCpuSeconds()};
}

void ReportRates(const Sizes& n, RunTracker& tracker, absl::Time start, absl::Time triggered,
                 absl::Time end, Report& report) {
  using T = RunTracker::Times;
  double seconds = absl::ToDoubleSeconds(end - start);
  report.Add("throughput.agents", n.agents, "agents");
  report.Add("throughput.pipelines", n.pipelines, "pipelines");
  report.Add("throughput.runs", n.runs, "runs");
  report.Add("throughput.jobs_per_second", n.runs / seconds, "jobs/s");
  report.Add("throughput.triggers_per_second", n.runs / absl::ToDoubleSeconds(triggered - start),
             "triggers/s");
  report.Add("throughput.wall", seconds, "s");
  report.AddLatencies("throughput.trigger_rpc", tracker.Durations(&T::sent, &T::replied));
  report.AddLatencies("throughput.trigger_to_assign", tracker.Durations(&T::sent, &T::assigned));
  report.AddLatencies("throughput.trigger_to_complete", tracker.Durations(&T::sent, &T::completed));
  report.AddLatencies("throughput.assign_to_complete",
                      tracker.Durations(&T::assigned, &T::completed));
}

void ReportCpu(int runs, const Cpu& before, const Cpu& after, double seconds, Report& report) {
  double cpu = after.controller - before.controller;
  double pg_cpu = after.postgres - before.postgres;
  report.Add("throughput.controller_cpu_per_job", cpu / runs * 1000, "ms/job");
  report.Add("throughput.postgres_cpu_per_job", pg_cpu / runs * 1000, "ms/job");
  report.Add("throughput.bench_cpu_per_job", (after.bench - before.bench) / runs * 1000, "ms/job");
  report.Add("throughput.controller_cpu_util", cpu / seconds * 100, "%core");
  report.Add("throughput.postgres_cpu_util", pg_cpu / seconds * 100, "%core");
}

absl::Status Measure(const BenchOptions& options, Env& env, Report& report) {
  const Sizes n = SizesOf(options);
  Controller& controller = *env.controller;
  Operator op(controller.address(), controller.admin_token());
  if (auto r = op.ApplyConfig(SingleJobPipelines("tp", n.pipelines)); !r.ok()) return r.status();
  RunTracker tracker(n.runs);
  std::unique_ptr<Fleet> fleet = StartAgents(options, controller, n.agents, tracker);
  if (auto st = fleet->Register(n.agents, controller.register_key()); !st.ok()) return st;
  fleet->ConnectAll();
  if (!fleet->WaitWelcomed(n.agents, absl::Seconds(120))) {
    return absl::DeadlineExceededError("not every simulated agent was welcomed");
  }
  auto pg_before = env.pg->Counters();
  if (!pg_before.ok()) return pg_before.status();
  if (options.pg_stat_statements) (void)env.pg->ResetStatements();
  Cpu cpu_before = CpuNow(controller);
  absl::Time start = absl::Now(), triggered;
  if (auto st = TriggerWindow(op, n, tracker, triggered); !st.ok()) return st;
  absl::Time end = absl::Now();
  Cpu cpu_after = CpuNow(controller);
  ReportRates(n, tracker, start, triggered, end, report);
  ReportCpu(n.runs, cpu_before, cpu_after, absl::ToDoubleSeconds(end - start), report);
  ReportPgPerJob(report, "throughput", *env.pg, *pg_before, n.runs, /*settle=*/!options.smoke);
  if (options.pg_stat_statements) ReportTopStatements(report, "throughput", *env.pg, n.runs);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunThroughput(const BenchOptions& options, Report& report) {
  auto env = StartEnv(options, "throughput", report);
  if (!env.ok()) return env.status();
  absl::Status st = Measure(options, *env, report);
  if (st.ok()) StopEnv(options, *env);  // a failed scenario keeps its dir and logs
  return st;
}

}  // namespace gantry::bench
