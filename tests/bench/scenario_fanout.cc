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

absl::Status RunFanout(const BenchOptions& options, Report& report) {
  const int jobs = options.smoke ? 10 : options.fanout_jobs;
  const int agents = options.smoke ? 3 : options.fanout_agents;
  auto env = StartEnv(options, "fanout", report);
  if (!env.ok()) return env.status();
  Controller& controller = *env->controller;
  Operator op(controller.address(), controller.admin_token());
  std::string yaml =
      "format_version: 10\npipelines:\n  fan:\n    group: bench\n    stages:\n"
      "      - s:\n          jobs:\n";
  for (int i = 0; i < jobs; ++i) {
    absl::StrAppend(&yaml, "            j", i,
                    ":\n              tasks:\n                - exec: {command: \"true\"}\n");
  }
  if (auto r = op.ApplyConfig(yaml); !r.ok()) return r.status();

  std::mutex mu;
  std::condition_variable cv;
  int assigned = 0, completed = 0;
  absl::Time last_assign, last_complete, first_assign = absl::InfiniteFuture();
  FleetOptions fo;
  fo.address = controller.address();
  fo.channels = std::min(options.channels, agents);
  fo.console_chunks = options.console_chunks;
  FleetHooks hooks;
  hooks.on_assign = [&](SimAgent&, const v1::Assign&, absl::Time t) {
    std::lock_guard<std::mutex> lock(mu);
    ++assigned;
    last_assign = t;
    first_assign = std::min(first_assign, t);
  };
  hooks.on_completion_ack = [&](SimAgent&, int64_t, absl::Time t) {
    {
      std::lock_guard<std::mutex> lock(mu);
      ++completed;
      last_complete = t;
    }
    cv.notify_all();
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
  double cpu0 = controller.CpuSeconds();

  absl::Time start = absl::Now();
  auto run = op.Trigger("fan", 0);
  if (!run.ok()) return run.status();
  absl::Time replied = absl::Now();
  {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::minutes(10), [&] { return completed >= jobs; })) {
      return absl::DeadlineExceededError(
          absl::StrCat("only ", completed, " of ", jobs, " jobs completed in 10 min"));
    }
  }
  double cpu = controller.CpuSeconds() - cpu0;
  report.Add("fanout.jobs", jobs, "jobs");
  report.Add("fanout.agents", agents, "agents");
  report.Add("fanout.trigger_rpc", absl::ToDoubleMilliseconds(replied - start), "ms");
  report.Add("fanout.first_assigned", absl::ToDoubleMilliseconds(first_assign - start), "ms");
  report.Add("fanout.all_assigned", absl::ToDoubleMilliseconds(last_assign - start), "ms");
  report.Add("fanout.all_done", absl::ToDoubleMilliseconds(last_complete - start), "ms");
  report.Add("fanout.jobs_per_second", jobs / absl::ToDoubleSeconds(last_complete - start),
             "jobs/s");
  report.Add("fanout.controller_cpu", cpu, "s");
  ReportPgPerJob(report, "fanout", *env->pg, *before, jobs, /*settle=*/false);
  if (options.pg_stat_statements) ReportTopStatements(report, "fanout", *env->pg, jobs);

  auto final_run = op.GetRun("fan", run->counter());
  if (!final_run.ok() || final_run->state() != "passed") {
    return absl::InternalError(absl::StrCat(
        "the fan-out run is not passed: ",
        final_run.ok() ? final_run->state() : final_run.status().ToString()));
  }
  fleet.Shutdown();
  StopEnv(options, *env);
  return absl::OkStatus();
}

}  // namespace gantry::bench
