// scale: many connected idle agents with heartbeats on: controller RSS per
// agent, controller CPU while idle, and the time for all of them to be
// welcomed again after a controller restart. The agents reconnect as the
// real one does (sim_agents.h): a new channel per attempt, full-jitter
// backoff within 800 ms for a minute after a welcomed session ended.
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
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(d));  // timed
  return {controller.CpuSeconds() - c0, controller.PostgresCpuSeconds() - p0,
          ProcessCpuSeconds() - b0};
}

// The fleet's options: one connection per agent (dialled per attempt) unless
// --scale-channels asks for shared ones or descriptors are short.
FleetOptions ScaleFleetOptions(const BenchOptions& options, const std::string& address, int agents,
                               Report& report) {
  FleetOptions fo;
  fo.address = address;
  fo.dial_per_attempt = options.scale_channels <= 0;
  fo.timer_threads = options.scale_fleet_threads;
  fo.channels = options.scale_channels > 0 ? options.scale_channels : agents;
  fo.name_prefix = "scale";
  // One connection per agent needs a descriptor per agent in the bench (and
  // in the controller, which raises its own limit to the same hard limit).
  rlimit fds{};
  getrlimit(RLIMIT_NOFILE, &fds);
  int max_channels = static_cast<int>(std::max<rlim_t>(2048, fds.rlim_cur) - 1024);
  if (fo.channels > max_channels) {
    spdlog::warn("scale: {} connections need more file descriptors than {}; sharing {}",
                 fo.channels, fds.rlim_cur, max_channels);
    fo.channels = max_channels;
    fo.dial_per_attempt = false;
  }
  // The smoke run only proves the restart path works: short backoff.
  if (options.smoke) fo.backoff.max = absl::Seconds(1);
  report.Add("scale.channels", fo.dial_per_attempt ? agents : fo.channels, "connections");
  return fo;
}

absl::Status RegisterAndConnect(Fleet& fleet, Controller& controller, int agents, Report& report) {
  absl::Time t0 = absl::Now();
  if (auto st = fleet.Register(agents, controller.register_key(), 32); !st.ok()) return st;
  absl::Duration registered = absl::Now() - t0;
  report.Add("scale.agents", agents, "agents");
  report.Add("scale.register_all", absl::ToDoubleSeconds(registered), "s");
  report.Add("scale.registrations_per_second", agents / absl::ToDoubleSeconds(registered),
             "agents/s");
  t0 = absl::Now();
  fleet.ConnectAll();
  if (!fleet.WaitWelcomed(agents, absl::Minutes(20))) {
    return absl::DeadlineExceededError(absl::StrCat("only ", fleet.counters().welcomed_now, " of ",
                                                    agents, " agents were welcomed"));
  }
  report.Add("scale.connect_all", absl::ToDoubleSeconds(fleet.counters().last_welcome - t0), "s");
  return absl::OkStatus();
}

absl::Status MeasureConnected(const BenchOptions& options, Fleet& fleet, Controller& controller,
                              int64_t rss_base, Report& report) {
  const int agents = fleet.size();
  const double heartbeat = options.scale_heartbeat_s;
  const absl::Duration idle = absl::Seconds(options.smoke ? 1 : options.scale_idle_s);
  // Let a few heartbeat rounds pass before reading memory and CPU (timed).
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(
      std::min(absl::Seconds(heartbeat * 2), absl::Seconds(options.smoke ? 1 : 10))));
  int64_t rss = controller.RssKiB();
  report.Add("scale.controller_rss", static_cast<double>(rss), "KiB");
  report.Add("scale.controller_rss_per_agent", static_cast<double>(rss - rss_base) / agents,
             "KiB/agent");
  report.Add("scale.controller_threads", controller.Threads(), "threads");
  CpuWindow cpu = MeasureIdle(controller, idle);
  double secs = absl::ToDoubleSeconds(idle);
  report.Add("scale.controller_cpu_idle", cpu.controller / secs * 100, "%core");
  report.Add("scale.postgres_cpu_idle", cpu.postgres / secs * 100, "%core");
  report.Add("scale.bench_cpu_idle", cpu.bench / secs * 100, "%core");
  report.Add("scale.heartbeat_interval", heartbeat, "s");
  if (fleet.counters().welcomed_now != agents) {
    return absl::InternalError(
        absl::StrCat("agents dropped while idle: ", fleet.counters().welcomed_now, " of ", agents,
                     " connected"));
  }
  return absl::OkStatus();
}

// How the welcomes spread after the controller served again: the agents'
// backoff decides when they come, the controller how fast it takes them.
void ReportRestartSpread(Fleet& fleet, const FleetCounters& before, absl::Time serving,
                         Report& report) {
  std::vector<absl::Duration> since_serving;
  std::vector<absl::Time> welcomes = fleet.WelcomesSince(serving);
  for (absl::Time t : welcomes) since_serving.push_back(t - serving);
  report.AddLatencies("scale.restart.welcome_after_serving", since_serving);
  if (!welcomes.empty()) {
    report.Add("scale.restart.first_to_last_welcome",
               absl::ToDoubleSeconds(welcomes.back() - welcomes.front()), "s");
  }
  // The bench's own share: streams opened late (one timer thread dials for
  // the whole fleet) and the time spent opening them.
  std::vector<absl::Duration> late;
  absl::Duration took;
  for (const Fleet::Open& o : fleet.OpensSince(serving)) {
    late.push_back(o.late);
    took += o.took;
  }
  report.AddLatencies("scale.restart.bench_open_late", late);
  report.Add("scale.restart.bench_open_time", absl::ToDoubleSeconds(took), "s");
  FleetCounters c = fleet.counters();
  report.Add("scale.restart.streams_opened",
             static_cast<double>(c.streams_opened - before.streams_opened), "streams");
  report.Add("scale.restart.welcome_timeouts",
             static_cast<double>(c.welcome_timeouts - before.welcome_timeouts), "streams");
}

// SIGTERM (the controller stops its PostgreSQL), start again on the same
// port, wait until every agent has been welcomed again.
absl::Status MeasureRestart(const BenchOptions& options, Fleet& fleet, Controller& controller,
                            Report& report) {
  const int agents = fleet.size();
  FleetCounters before = fleet.counters();
  absl::Time r0 = absl::Now();
  if (auto st = controller.Stop(); !st.ok()) return st;
  absl::Time stopped = absl::Now();
  if (auto st = controller.Start(); !st.ok()) return st;
  absl::Time serving = absl::Now();
  double cpu0 = controller.CpuSeconds(), bench0 = ProcessCpuSeconds();
  bool back = fleet.WaitCounters(
      [&](const FleetCounters& c) {
        return c.welcomed_now >= agents && c.welcomes >= before.welcomes + agents;
      },
      absl::Minutes(options.smoke ? 1 : 5));
  if (!back) {
    int64_t now = fleet.counters().welcomed_now;
    report.Add("scale.restart.agents_back", static_cast<double>(now), "agents");
    return absl::DeadlineExceededError(
        absl::StrCat("after the restart only ", now, " of ", agents,
                     " agents came back within the deadline; look for 'Failed accept4' in ",
                     controller.log_path(), " (gRPC stops accepting after EMFILE)"));
  }
  absl::Time last = fleet.counters().last_welcome;
  double secs = std::max(1e-3, absl::ToDoubleSeconds(absl::Now() - serving));
  report.Add("scale.restart.stop", absl::ToDoubleSeconds(stopped - r0), "s");
  report.Add("scale.restart.start", absl::ToDoubleSeconds(serving - stopped), "s");
  report.Add("scale.restart.serving_to_all_welcomed", absl::ToDoubleSeconds(last - serving), "s");
  report.Add("scale.restart.total", absl::ToDoubleSeconds(last - r0), "s");
  report.Add("scale.restart.controller_cpu", (controller.CpuSeconds() - cpu0) / secs * 100,
             "%core");
  report.Add("scale.restart.bench_cpu", (ProcessCpuSeconds() - bench0) / secs * 100, "%core");
  ReportRestartSpread(fleet, before, serving, report);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunScale(const BenchOptions& options, Report& report) {
  const int agents = options.smoke ? 20 : options.scale_agents;
  const double heartbeat = options.scale_heartbeat_s;
  auto env = StartEnv(options, "scale", report, heartbeat, std::max(30.0, heartbeat * 6));
  if (!env.ok()) return env.status();
  Controller& controller = *env->controller;
  std::this_thread::sleep_for(std::chrono::seconds(1));  // settle after start (timed)
  int64_t rss_base = controller.RssKiB();
  report.Add("scale.controller_rss_base", static_cast<double>(rss_base), "KiB");
  absl::Duration base_window =
      absl::Seconds(std::min(options.smoke ? 1.0 : 10.0, options.scale_idle_s));
  CpuWindow base_cpu = MeasureIdle(controller, base_window);
  report.Add("scale.controller_cpu_no_agents",
             base_cpu.controller / absl::ToDoubleSeconds(base_window) * 100, "%core");

  Fleet fleet(ScaleFleetOptions(options, controller.address(), agents, report), {});
  absl::Status st = RegisterAndConnect(fleet, controller, agents, report);
  if (st.ok()) st = MeasureConnected(options, fleet, controller, rss_base, report);
  if (st.ok()) st = MeasureRestart(options, fleet, controller, report);
  if (st.ok()) {
    std::this_thread::sleep_for(std::chrono::seconds(options.smoke ? 1 : 5));  // timed
    report.Add("scale.controller_rss_after_restart", static_cast<double>(controller.RssKiB()),
               "KiB");
  }
  fleet.Shutdown();
  StopEnv(options, *env);
  return st;
}

}  // namespace gantry::bench
