// scale: many connected idle agents with heartbeats on: controller RSS per
// agent, controller CPU while idle, and the time for all of them to be
// welcomed again after a controller restart.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/bench/bench.h"
#include "tests/bench/operator_client.h"
#include "tests/bench/sim_agents.h"

namespace gantry::bench {
namespace {

// Sleeps `d`, then returns controller / PostgreSQL / bench CPU used meanwhile.
struct CpuWindow {
  double controller = 0, postgres = 0, bench = 0;
};
CpuWindow MeasureIdle(Controller& controller, absl::Duration d) {
  double c0 = controller.CpuSeconds(), p0 = controller.PostgresCpuSeconds();
  double b0 = ProcessCpuSeconds();
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(d));
  return {controller.CpuSeconds() - c0, controller.PostgresCpuSeconds() - p0,
          ProcessCpuSeconds() - b0};
}

}  // namespace

absl::Status RunScale(const BenchOptions& options, Report& report) {
  const int agents = options.smoke ? 20 : options.scale_agents;
  const absl::Duration idle = absl::Seconds(options.smoke ? 1 : options.scale_idle_s);
  int channels = options.scale_channels > 0 ? options.scale_channels : agents;
  // One connection per agent needs a descriptor per agent on both sides.
  rlimit fds{};
  getrlimit(RLIMIT_NOFILE, &fds);
  int max_channels = static_cast<int>(std::max<rlim_t>(64, fds.rlim_cur) / 2 - 256);
  if (channels > max_channels) {
    spdlog::warn("scale: {} channels need more file descriptors than {}; using {}", channels,
                 fds.rlim_cur, max_channels);
    channels = max_channels;
  }
  const double heartbeat = options.scale_heartbeat_s;
  auto env = StartEnv(options, "scale", report, heartbeat, std::max(30.0, heartbeat * 6));
  if (!env.ok()) return env.status();
  Controller& controller = *env->controller;
  std::this_thread::sleep_for(std::chrono::seconds(1));
  int64_t rss_base = controller.RssKiB();
  report.Add("scale.controller_rss_base", static_cast<double>(rss_base), "KiB");
  CpuWindow base_cpu = MeasureIdle(controller, std::min(idle, absl::Seconds(10)));
  report.Add("scale.controller_cpu_no_agents",
             base_cpu.controller / absl::ToDoubleSeconds(std::min(idle, absl::Seconds(10))) * 100,
             "%core");

  FleetOptions fo;
  fo.address = controller.address();
  fo.channels = channels;
  // The smoke run only proves the restart path works: short backoff.
  if (options.smoke) fo.backoff_max = absl::Seconds(1);
  Fleet fleet(fo, {});
  absl::Time t0 = absl::Now();
  if (auto st = fleet.Register(agents, controller.register_key(), 32); !st.ok()) return st;
  absl::Duration registered = absl::Now() - t0;
  report.Add("scale.agents", agents, "agents");
  report.Add("scale.channels", channels, "connections");
  report.Add("scale.register_all", absl::ToDoubleSeconds(registered), "s");
  report.Add("scale.registrations_per_second", agents / absl::ToDoubleSeconds(registered),
             "agents/s");

  t0 = absl::Now();
  fleet.ConnectAll();
  if (!fleet.WaitWelcomed(agents, absl::Minutes(20))) {
    return absl::DeadlineExceededError(absl::StrCat(
        "only ", fleet.counters().welcomed_now, " of ", agents, " agents were welcomed"));
  }
  report.Add("scale.connect_all", absl::ToDoubleSeconds(fleet.counters().last_welcome - t0),
             "s");
  // Let a few heartbeat rounds pass before reading memory and CPU.
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(
      std::min(absl::Seconds(heartbeat * 2), absl::Seconds(options.smoke ? 1 : 10))));
  int64_t rss = controller.RssKiB();
  report.Add("scale.controller_rss", static_cast<double>(rss), "KiB");
  report.Add("scale.controller_rss_per_agent",
             static_cast<double>(rss - rss_base) / agents, "KiB/agent");
  report.Add("scale.controller_threads", controller.Threads(), "threads");
  CpuWindow cpu = MeasureIdle(controller, idle);
  double secs = absl::ToDoubleSeconds(idle);
  report.Add("scale.controller_cpu_idle", cpu.controller / secs * 100, "%core");
  report.Add("scale.postgres_cpu_idle", cpu.postgres / secs * 100, "%core");
  report.Add("scale.bench_cpu_idle", cpu.bench / secs * 100, "%core");
  report.Add("scale.heartbeat_interval", heartbeat, "s");
  if (fleet.counters().welcomed_now != agents) {
    return absl::InternalError(absl::StrCat("agents dropped while idle: ",
                                            fleet.counters().welcomed_now, " of ", agents,
                                            " connected"));
  }

  // Restart: SIGTERM (the controller stops its PostgreSQL), start again on
  // the same port, wait until every agent has been welcomed again.
  int64_t welcomes_before = fleet.counters().welcomes;
  absl::Time r0 = absl::Now();
  if (auto st = controller.Stop(); !st.ok()) return st;
  absl::Time stopped = absl::Now();
  if (auto st = controller.Start(); !st.ok()) return st;
  absl::Time serving = absl::Now();
  absl::Time deadline = absl::Now() + absl::Minutes(options.smoke ? 1 : 5);
  while (true) {
    FleetCounters c = fleet.counters();
    if (c.welcomed_now >= agents && c.welcomes >= welcomes_before + agents) break;
    if (absl::Now() > deadline) {
      report.Add("scale.restart.agents_back", static_cast<double>(c.welcomed_now), "agents");
      return absl::DeadlineExceededError(absl::StrCat(
          "after the restart only ", c.welcomed_now, " of ", agents,
          " agents came back within the deadline; look for 'Failed accept4' in ",
          controller.log_path(), " (gRPC stops accepting after EMFILE)"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  absl::Time back = fleet.counters().last_welcome;
  report.Add("scale.restart.stop", absl::ToDoubleSeconds(stopped - r0), "s");
  report.Add("scale.restart.start", absl::ToDoubleSeconds(serving - stopped), "s");
  report.Add("scale.restart.serving_to_all_welcomed", absl::ToDoubleSeconds(back - serving),
             "s");
  report.Add("scale.restart.total", absl::ToDoubleSeconds(back - r0), "s");
  // How the welcomes spread after the controller served again: the agents'
  // backoff decides when they come, the controller how fast it takes them.
  std::vector<absl::Duration> since_serving;
  std::vector<absl::Time> welcomes = fleet.WelcomesSince(serving);
  for (absl::Time t : welcomes) since_serving.push_back(t - serving);
  report.AddLatencies("scale.restart.welcome_after_serving", since_serving);
  if (!welcomes.empty()) {
    report.Add("scale.restart.first_to_last_welcome",
               absl::ToDoubleSeconds(welcomes.back() - welcomes.front()), "s");
  }
  std::this_thread::sleep_for(std::chrono::seconds(options.smoke ? 1 : 5));
  report.Add("scale.controller_rss_after_restart", static_cast<double>(controller.RssKiB()),
             "KiB");
  fleet.Shutdown();
  StopEnv(options, *env);
  return absl::OkStatus();
}

}  // namespace gantry::bench
