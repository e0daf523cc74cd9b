// fan-out: one run of a pipeline whose single stage has many parallel jobs,
// over fewer agents: time until every job was assigned, and until all are
// done (the last CompletionAck; the stage and the run pass in that
// transaction).
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "tests/bench/bench.h"
#include "tests/bench/operator_client.h"
#include "tests/bench/sim_agents.h"

namespace gantry::bench {

namespace {

// One pipeline "fan": one stage of `jobs` jobs.
std::string FanoutYaml(int jobs) {
  std::string yaml =
      "format_version: 10\npipelines:\n  fan:\n    group: bench\n    stages:\n"
      "      - s:\n          jobs:\n";
  for (int i = 0; i < jobs; ++i) {
    absl::StrAppend(&yaml, "            j", i,
                    ":\n              tasks:\n                - exec: {command: \"true\"}\n");
  }
  return yaml;
}

// Assignments and completions as the agents see them.
struct Progress {
  std::mutex mu;
  std::condition_variable cv;
  int assigned = 0, completed = 0;
  absl::Time last_assign, last_complete, first_assign = absl::InfiniteFuture();

  bool WaitCompleted(int n, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] { return completed >= n; });
  }
};

std::unique_ptr<Fleet> StartAgents(const BenchOptions& options, Controller& controller, int agents,
                                   Progress& p) {
  FleetOptions fo;
  fo.address = controller.address();
  fo.channels = std::min(options.channels, agents);
  fo.name_prefix = "fanout";
  fo.console_chunks = options.console_chunks;
  FleetHooks hooks;
  hooks.on_assign = [&p](SimAgent&, const v1::Assign&, absl::Time t) {
    std::lock_guard<std::mutex> lock(p.mu);
    ++p.assigned;
    p.last_assign = t;
    p.first_assign = std::min(p.first_assign, t);
  };
  hooks.on_completion_ack = [&p](SimAgent&, int64_t, absl::Time t) {
    {
      std::lock_guard<std::mutex> lock(p.mu);
      ++p.completed;
      p.last_complete = t;
    }
    p.cv.notify_all();
  };
  return std::make_unique<Fleet>(fo, hooks);
}

void ReportFanout(int jobs, int agents, absl::Time start, absl::Time replied, Progress& p,
                  double cpu, Report& report) {
  std::lock_guard<std::mutex> lock(p.mu);
  report.Add("fanout.jobs", jobs, "jobs");
  report.Add("fanout.agents", agents, "agents");
  report.Add("fanout.trigger_rpc", absl::ToDoubleMilliseconds(replied - start), "ms");
  report.Add("fanout.first_assigned", absl::ToDoubleMilliseconds(p.first_assign - start), "ms");
  report.Add("fanout.all_assigned", absl::ToDoubleMilliseconds(p.last_assign - start), "ms");
  report.Add("fanout.all_done", absl::ToDoubleMilliseconds(p.last_complete - start), "ms");
  report.Add("fanout.jobs_per_second", jobs / absl::ToDoubleSeconds(p.last_complete - start),
             "jobs/s");
  report.Add("fanout.controller_cpu", cpu, "s");
}

absl::Status Measure(const BenchOptions& options, Env& env, Report& report) {
  const int jobs = options.smoke ? 10 : options.fanout_jobs;
  const int agents = options.smoke ? 3 : options.fanout_agents;
  Controller& controller = *env.controller;
  Operator op(controller.address(), controller.admin_token());
  if (auto r = op.ApplyConfig(FanoutYaml(jobs)); !r.ok()) return r.status();
  Progress progress;
  std::unique_ptr<Fleet> fleet = StartAgents(options, controller, agents, progress);
  if (auto st = fleet->Register(agents, controller.register_key()); !st.ok()) return st;
  fleet->ConnectAll();
  if (!fleet->WaitWelcomed(agents, absl::Seconds(120))) {
    return absl::DeadlineExceededError("not every simulated agent was welcomed");
  }
  auto before = env.pg->Counters();
  if (!before.ok()) return before.status();
  if (options.pg_stat_statements) (void)env.pg->ResetStatements();
  double cpu0 = controller.CpuSeconds();
  absl::Time start = absl::Now();
  auto run = op.Trigger("fan", 0);
  if (!run.ok()) return run.status();
  absl::Time replied = absl::Now();
  if (!progress.WaitCompleted(jobs, absl::Minutes(10))) {
    return absl::DeadlineExceededError(absl::StrCat("not all ", jobs, " jobs completed in 10 min"));
  }
  ReportFanout(jobs, agents, start, replied, progress, controller.CpuSeconds() - cpu0, report);
  ReportPgPerJob(report, "fanout", *env.pg, *before, jobs, /*settle=*/false);
  if (options.pg_stat_statements) ReportTopStatements(report, "fanout", *env.pg, jobs);
  auto final_run = op.GetRun("fan", run->counter());
  if (!final_run.ok() || final_run->state() != "passed") {
    return absl::InternalError(
        absl::StrCat("the fan-out run is not passed: ",
                     final_run.ok() ? final_run->state() : final_run.status().ToString()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunFanout(const BenchOptions& options, Report& report) {
  auto env = StartEnv(options, "fanout", report);
  if (!env.ok()) return env.status();
  absl::Status st = Measure(options, *env, report);
  if (st.ok()) StopEnv(options, *env);  // a failed scenario keeps its dir and logs
  return st;
}

}  // namespace gantry::bench
