// latency: one idle agent, one single-job pipeline, runs triggered one after
// another: trigger RPC -> Assign received by the agent, and trigger -> run
// completed (the agent's CompletionAck: the controller sends it after the
// transaction that passed the job, its stage and the run has committed).
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "tests/bench/bench.h"
#include "tests/bench/operator_client.h"
#include "tests/bench/sim_agents.h"

namespace gantry::bench {

namespace {

// One agent on one channel whose Assigns and CompletionAcks go to `tracker`.
std::unique_ptr<Fleet> StartAgent(const BenchOptions& options, Controller& controller,
                                  RunTracker& tracker) {
  FleetOptions fo;
  fo.address = controller.address();
  fo.channels = 1;
  fo.name_prefix = "latency";
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

// Triggers `warmup + runs` runs of lat0, each after the previous completed;
// `before` gets the PostgreSQL counters at the first measured run.
absl::Status TriggerOneByOne(const BenchOptions& options, Env& env, Operator& op,
                             RunTracker& tracker, int warmup, int runs, PgCounters& before) {
  for (int i = 0; i < warmup + runs; ++i) {
    if (i == warmup) {
      auto c = env.pg->Counters();
      if (c.ok()) before = *c;
      if (options.pg_stat_statements) (void)env.pg->ResetStatements();
    }
    absl::Time sent = absl::Now();
    tracker.Sent(i, sent);
    auto run = op.Trigger("lat0", i);
    if (!run.ok()) return run.status();
    tracker.Replied(i, absl::Now());
    if (!tracker.WaitCompleted(i + 1, absl::Seconds(60))) {
      return absl::DeadlineExceededError(absl::StrCat("run ", i, " did not complete in 60 s"));
    }
  }
  return absl::OkStatus();
}

// The measured runs' latencies (the warm-up ones left out).
void ReportLatencies(RunTracker& tracker, int warmup, int runs, Report& report) {
  auto all = tracker.times();
  std::vector<absl::Duration> to_assign, to_complete, rpc, assign_to_complete;
  for (int i = warmup; i < warmup + runs; ++i) {
    const auto& t = all[i];
    to_assign.push_back(t.assigned - t.sent);
    to_complete.push_back(t.completed - t.sent);
    rpc.push_back(t.replied - t.sent);
    assign_to_complete.push_back(t.completed - t.assigned);
  }
  report.Add("latency.runs", runs, "runs");
  report.AddLatencies("latency.trigger_to_assign", to_assign);
  report.AddLatencies("latency.trigger_to_complete", to_complete);
  report.AddLatencies("latency.trigger_rpc", rpc);
  report.AddLatencies("latency.assign_to_complete", assign_to_complete);
}

absl::Status Measure(const BenchOptions& options, Env& env, Report& report) {
  const int runs = options.smoke ? 5 : options.latency_runs;
  const int warmup = options.smoke ? 1 : options.latency_warmup;
  Controller& controller = *env.controller;
  Operator op(controller.address(), controller.admin_token());
  if (auto r = op.ApplyConfig(SingleJobPipelines("lat", 1)); !r.ok()) return r.status();
  RunTracker tracker(warmup + runs);
  std::unique_ptr<Fleet> fleet = StartAgent(options, controller, tracker);
  if (auto st = fleet->Register(1, controller.register_key()); !st.ok()) return st;
  fleet->ConnectAll();
  if (!fleet->WaitWelcomed(1, absl::Seconds(30))) {
    return absl::DeadlineExceededError("the simulated agent was never welcomed");
  }
  PgCounters before;
  if (auto st = TriggerOneByOne(options, env, op, tracker, warmup, runs, before); !st.ok()) {
    return st;
  }
  ReportLatencies(tracker, warmup, runs, report);
  ReportPgPerJob(report, "latency", *env.pg, before, runs, /*settle=*/!options.smoke);
  if (options.pg_stat_statements) ReportTopStatements(report, "latency", *env.pg, runs);
  auto last = op.GetRun("lat0", 0);
  if (!last.ok() || last->state() != "passed") {
    return absl::InternalError(absl::StrCat("the last run is not passed: ",
                                            last.ok() ? last->state() : last.status().ToString()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunLatency(const BenchOptions& options, Report& report) {
  auto env = StartEnv(options, "latency", report);
  if (!env.ok()) return env.status();
  absl::Status st = Measure(options, *env, report);
  if (st.ok()) StopEnv(options, *env);  // a failed scenario keeps its dir and logs
  return st;
}

}  // namespace gantry::bench
