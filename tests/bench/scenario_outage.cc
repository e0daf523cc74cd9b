// outage: many agents streaming console output while the database stops
// answering for a while (every process of the embedded PostgreSQL cluster
// SIGSTOPped, then SIGCONTed: a hung database, connections kept), then
// recovery. Controller RSS is sampled once a second: the scheduler's inbox is
// bounded (SchedulerOptions::max_inbox_bytes), so the growth should follow
// that bound, not the console volume the agents produce meanwhile. Then every
// job must still complete and every chunk be stored exactly once.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/bench/bench.h"
#include "tests/bench/operator_client.h"
#include "tests/bench/sim_agents.h"

namespace gantry::bench {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
// controller/scheduling/scheduler.h SchedulerOptions::max_inbox_bytes (no flag).
constexpr double kMaxInboxMiB = 64;
// How close to its output an agent must be acknowledged to count as live again.
constexpr absl::Duration kLiveLag = absl::Seconds(1);

// The controller's RSS once a second, on a thread of its own.
class RssSampler {
 public:
  explicit RssSampler(const Controller& controller)
      : controller_(controller), thread_([this] { Loop(); }) {}
  ~RssSampler() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // Largest sample in [from, to], in KiB (0 if none).
  int64_t Peak(absl::Time from, absl::Time to) {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t peak = 0;
    for (const auto& [t, kib] : samples_) {
      if (t >= from && t <= to) peak = std::max(peak, kib);
    }
    return peak;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      samples_.emplace_back(absl::Now(), controller_.RssKiB());
      // The sampling period is the thing timed here, not a synchronisation.
      cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; });
    }
  }

  const Controller& controller_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<std::pair<absl::Time, int64_t>> samples_;
  std::thread thread_;
};

struct Sizes {
  int agents;
  absl::Duration before, outage, after;
};

Sizes SizesOf(const BenchOptions& o) {
  if (o.smoke) return {5, absl::Seconds(1), absl::Seconds(2), absl::Seconds(1)};
  return {o.outage_agents, absl::Seconds(o.outage_before_s), absl::Seconds(o.outage_s),
          absl::Seconds(o.outage_after_s)};
}

// Lines of the controller log from byte `from` on that contain `needle`.
int64_t CountLogLines(const std::string& path, std::streamoff from, const std::string& needle) {
  std::ifstream in(path);
  in.seekg(from);
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) ++n;
  }
  return n;
}

std::streamoff LogSize(const std::string& path) {
  std::ifstream in(path, std::ios::ate);
  return in ? static_cast<std::streamoff>(in.tellg()) : 0;
}

absl::Status SignalAll(const std::vector<pid_t>& pids, int sig) {
  for (pid_t p : pids) {
    if (::kill(p, sig) != 0 && errno != ESRCH) {
      return absl::InternalError(absl::StrCat("kill(", p, ", ", sig, "): ", strerror(errno)));
    }
  }
  return absl::OkStatus();
}

// Triggers `count` runs, one per pipeline <prefix><i>, `inflight` at a time.
absl::Status TriggerAll(Operator& op, const std::string& prefix, int count, int inflight) {
  std::mutex mu;
  std::condition_variable cv;
  int replied = 0;
  absl::Status error;
  std::atomic<int> next{0};
  std::function<void()> send_next = [&] {
    int i = next.fetch_add(1);
    if (i >= count) return;
    op.TriggerAsync(absl::StrCat(prefix, i), i, [&](absl::StatusOr<v1::PipelineRun> r) {
      send_next();
      // The last reply may end TriggerAll: nothing of it is touched after.
      std::lock_guard<std::mutex> lock(mu);
      ++replied;
      if (!r.ok() && error.ok()) error = r.status();
      cv.notify_all();
    });
  };
  for (int k = 0; k < inflight; ++k) send_next();
  std::unique_lock<std::mutex> lock(mu);
  if (!cv.wait_for(lock, std::chrono::minutes(10), [&] { return replied >= count; })) {
    return absl::DeadlineExceededError("triggers did not all return in 10 min");
  }
  return error;
}

// Everything the phases share.
struct Outage {
  Outage(const BenchOptions& o, Report& r) : options(o), report(r), sizes(SizesOf(o)) {}
  const BenchOptions& options;
  Report& report;
  Env env;
  Sizes sizes;
  std::unique_ptr<Fleet> fleet;
  std::unique_ptr<RssSampler> rss;
  std::mutex mu;
  std::vector<int64_t> attempts;  // every assigned attempt
  absl::Time resumed = absl::InfiniteFuture();
  absl::Time first_ack_after_resume = absl::InfiniteFuture();
  std::streamoff log_from = 0;

  Controller& controller() { return *env.controller; }
  void Add(const std::string& name, double value, const std::string& unit) {
    report.Add("outage." + name, value, unit);
  }
};

absl::Status StartStreaming(Outage& o) {
  const int n = o.sizes.agents;
  Operator op(o.controller().address(), o.controller().admin_token());
  if (auto r = op.ApplyConfig(SingleJobPipelines("outage", n)); !r.ok()) return r.status();
  FleetOptions fo;
  fo.address = o.controller().address();
  fo.dial_per_attempt = true;  // one connection per agent, as real agents
  fo.auto_finish = false;
  fo.console_chunk_bytes = o.options.outage_chunk_kib * 1024;
  fo.console_period = absl::Milliseconds(o.options.outage_chunk_ms);
  fo.name_prefix = "outage";
  FleetHooks hooks;
  hooks.on_assign = [&o](SimAgent& agent, const v1::Assign& a, absl::Time t) {
    {
      std::lock_guard<std::mutex> lock(o.mu);
      o.attempts.push_back(a.attempt_id());
    }
    agent.StreamConsole(a.attempt_id(), t);
  };
  hooks.on_console_ack = [&o](SimAgent&, const v1::ConsoleAck&) {
    absl::Time now = absl::Now();
    std::lock_guard<std::mutex> lock(o.mu);
    if (now >= o.resumed && now < o.first_ack_after_resume) o.first_ack_after_resume = now;
  };
  o.fleet = std::make_unique<Fleet>(fo, hooks);
  if (auto st = o.fleet->Register(n, o.controller().register_key(), 32); !st.ok()) return st;
  o.fleet->ConnectAll();
  if (!o.fleet->WaitWelcomed(n, absl::Minutes(5))) {
    return absl::DeadlineExceededError("not every simulated agent was welcomed");
  }
  if (auto st = TriggerAll(op, "outage", n, 64); !st.ok()) return st;
  if (!o.fleet->WaitCounters([n](const FleetCounters& c) { return c.assigns >= n; },
                             absl::Minutes(5))) {
    return absl::DeadlineExceededError("not every job was assigned");
  }
  o.Add("agents", n, "agents");
  o.Add("chunk_bytes", fo.console_chunk_bytes, "B");
  o.Add("chunk_period", absl::ToDoubleMilliseconds(fo.console_period), "ms");
  o.Add("offered_rate",
        n * fo.console_chunk_bytes / kMiB / absl::ToDoubleSeconds(fo.console_period), "MiB/s");
  return absl::OkStatus();
}

// Streams for `sizes.before` and reports how much of it the controller stored.
void SteadyState(Outage& o) {
  absl::Time t0 = absl::Now();
  ConsoleTotals a = o.fleet->ConsoleTotalsAt(t0);
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(o.sizes.before));  // timed
  absl::Time t1 = absl::Now();
  ConsoleTotals b = o.fleet->ConsoleTotalsAt(t1);
  double secs = absl::ToDoubleSeconds(t1 - t0);
  double chunk = o.options.outage_chunk_kib * 1024.0;
  o.Add("steady.produced_rate", (b.produced - a.produced) * chunk / kMiB / secs, "MiB/s");
  o.Add("steady.acked_rate", (b.acked - a.acked) * chunk / kMiB / secs, "MiB/s");
  o.Add("steady.backlog_chunks", static_cast<double>(b.produced - b.acked), "chunks");
  o.Add("rss_before", o.controller().RssKiB() / 1024.0, "MiB");
}

// The database stops answering for `sizes.outage`: every process of the
// cluster SIGSTOPped (connections stay open; the strand's statement hangs).
absl::Status DatabaseOutage(Outage& o) {
  std::vector<pid_t> pids = o.controller().PostgresPids();
  if (pids.empty()) return absl::InternalError("no PostgreSQL processes found");
  double chunk = o.options.outage_chunk_kib * 1024.0;
  o.log_from = LogSize(o.controller().log_path());
  int64_t rss0 = o.controller().RssKiB();
  absl::Time t0 = absl::Now();
  ConsoleTotals a = o.fleet->ConsoleTotalsAt(t0);
  int64_t written0 = o.fleet->counters().console_written;
  // The postmaster first, so it forks nothing unstopped meanwhile.
  if (auto st = SignalAll(pids, SIGSTOP); !st.ok()) {
    (void)SignalAll(pids, SIGCONT);
    return st;
  }
  spdlog::info("outage: {} PostgreSQL processes stopped for {}", pids.size(),
               absl::FormatDuration(o.sizes.outage));
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(o.sizes.outage));  // timed
  absl::Time t1 = absl::Now();
  ConsoleTotals b = o.fleet->ConsoleTotalsAt(t1);
  int64_t written1 = o.fleet->counters().console_written;
  std::vector<pid_t> reversed(pids.rbegin(), pids.rend());
  {
    std::lock_guard<std::mutex> lock(o.mu);
    o.resumed = absl::Now();
  }
  o.fleet->MarkConsole(o.resumed, kLiveLag);
  if (auto st = SignalAll(reversed, SIGCONT); !st.ok()) return st;
  int64_t peak = o.rss->Peak(t0, t1);
  o.Add("pg_processes_stopped", static_cast<double>(pids.size()), "processes");
  o.Add("duration", absl::ToDoubleSeconds(t1 - t0), "s");
  o.Add("produced_during", (b.produced - a.produced) * chunk / kMiB, "MiB");
  o.Add("accepted_during", (written1 - written0) * chunk / kMiB, "MiB");
  o.Add("agents_held_back", static_cast<double>(b.stalled), "agents");
  o.Add("rss_at_stop", rss0 / 1024.0, "MiB");
  o.Add("rss_peak_during", peak / 1024.0, "MiB");
  o.Add("rss_peak_growth_during", (peak - rss0) / 1024.0, "MiB");
  o.Add("max_inbox", kMaxInboxMiB, "MiB");
  return absl::OkStatus();
}

absl::Duration Longest(const std::vector<absl::Duration>& d) {
  return d.empty() ? absl::ZeroDuration() : *std::max_element(d.begin(), d.end());
}

// From SIGCONT until every chunk produced before it is acknowledged, and
// until every agent is acknowledged within kLiveLag of its output again.
absl::Status Recover(Outage& o) {
  int64_t n = o.fleet->ConsoleTotalsAt(o.resumed).streaming;
  bool ok = o.fleet->WaitCounters(
      [n](const FleetCounters& c) { return c.console_backlog_stored >= n && c.console_live >= n; },
      absl::Minutes(10));
  absl::Time done = absl::Now();
  absl::Time first;
  {
    std::lock_guard<std::mutex> lock(o.mu);
    first = o.first_ack_after_resume;
  }
  if (first != absl::InfiniteFuture()) {
    o.Add("resume_to_first_ack", absl::ToDoubleMilliseconds(first - o.resumed), "ms");
  }
  o.Add("recovery.outage_output_stored",
        absl::ToDoubleSeconds(Longest(o.fleet->BacklogStoredTimes())), "s");
  std::vector<absl::Duration> live = o.fleet->LiveTimes();
  o.Add("recovery.all_live", absl::ToDoubleSeconds(Longest(live)), "s");
  o.report.AddLatencies("outage.recovery.live", live);
  int64_t peak = std::max(o.rss->Peak(o.resumed, done), o.controller().RssKiB());
  o.Add("rss_peak_recovery", peak / 1024.0, "MiB");
  if (!ok) {
    FleetCounters c = o.fleet->counters();
    return absl::DeadlineExceededError(absl::StrCat(
        "10 min after the database came back, ", c.console_backlog_stored, " of ", n,
        " agents had their outage output stored and ", c.console_live, " were live again"));
  }
  return absl::OkStatus();
}

// Streams for `sizes.after`, then ends every job and waits for the acks.
absl::Status Finish(Outage& o) {
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(o.sizes.after));  // timed
  o.Add("rss_after", o.controller().RssKiB() / 1024.0, "MiB");
  if (o.options.pg_stat_statements) (void)o.env.pg->ResetStatements();
  int64_t acks0 = o.fleet->counters().completion_acks;
  absl::Time t0 = absl::Now();
  o.fleet->StopConsole(t0);
  int64_t n = o.sizes.agents;
  bool ok = o.fleet->WaitCounters(
      [&](const FleetCounters& c) { return c.completion_acks - acks0 >= n; }, absl::Minutes(10));
  o.Add("stop_to_all_completed", absl::ToDoubleSeconds(absl::Now() - t0), "s");
  if (o.options.pg_stat_statements) ReportTopStatements(o.report, "outage.finish", *o.env.pg, n);
  FleetCounters c = o.fleet->counters();
  ConsoleTotals t = o.fleet->ConsoleTotalsAt(absl::Now());
  o.Add("jobs_completed", static_cast<double>(t.completed), "jobs");
  o.Add("chunks_acked", static_cast<double>(t.acked), "chunks");
  o.Add("abandons", static_cast<double>(c.abandons), "attempts");
  o.Add("reconnects", static_cast<double>(c.streams_opened - n), "streams");
  std::string log = o.controller().log_path();
  o.Add("log.lost", static_cast<double>(CountLogLines(log, o.log_from, "marking it lost")),
        "lines");
  o.Add("log.not_stored", static_cast<double>(CountLogLines(log, o.log_from, "not stored")),
        "lines");
  o.Add("log.warnings", static_cast<double>(CountLogLines(log, o.log_from, " warning ")), "lines");
  if (!ok) {
    return absl::DeadlineExceededError(
        absl::StrCat("only ", t.completed, " of ", n, " jobs completed after the outage"));
  }
  return absl::OkStatus();
}

// What the database holds: every job passed, every chunk 1..last stored once.
absl::Status Verify(Outage& o) {
  std::string ids;
  {
    std::lock_guard<std::mutex> lock(o.mu);
    ids = absl::StrCat("'{", absl::StrJoin(o.attempts, ","), "}'::bigint[]");
  }
  ConsoleTotals t = o.fleet->ConsoleTotalsAt(absl::Now());
  auto passed = o.env.pg->Scalar(
      absl::StrCat("SELECT count(*) FROM job_runs WHERE state = 'passed' AND id = ANY(", ids, ")"));
  auto stored = o.env.pg->Scalar(
      absl::StrCat("SELECT count(*) || ' ' || coalesce(sum(length(data)), 0) FROM console_chunks"
                   " WHERE job_run_id = ANY(",
                   ids, ")"));
  auto gaps = o.env.pg->Scalar(absl::StrCat(
      "SELECT count(*) FROM (SELECT job_run_id FROM console_chunks WHERE job_run_id = ANY(", ids,
      ") GROUP BY job_run_id HAVING count(*) <> max(sequence) OR min(sequence) <> 1) g"));
  if (!passed.ok()) return passed.status();
  if (!stored.ok()) return stored.status();
  if (!gaps.ok()) return gaps.status();
  int64_t rows = 0, bytes = 0, passed_n = 0, gaps_n = 0;
  std::sscanf(stored->c_str(), "%ld %ld", &rows, &bytes);
  (void)absl::SimpleAtoi(*passed, &passed_n);
  (void)absl::SimpleAtoi(*gaps, &gaps_n);
  int64_t chunk = o.options.outage_chunk_kib * 1024;
  o.Add("db.jobs_passed", static_cast<double>(passed_n), "jobs");
  o.Add("db.chunks_stored", static_cast<double>(rows), "chunks");
  o.Add("db.chunks_missing_or_extra", static_cast<double>(rows - t.acked), "chunks");
  o.Add("db.jobs_with_gaps", static_cast<double>(gaps_n), "jobs");
  o.Add("db.bytes_mismatch", static_cast<double>(bytes - rows * chunk), "B");
  // The headline: every job ended, and every byte the jobs produced (up to
  // StopConsole) is in the database.
  o.Add("all_jobs_finished", passed_n == o.sizes.agents ? 1 : 0, "bool");
  o.Add("console_bytes_lost", static_cast<double>(std::max<int64_t>(0, t.produced * chunk - bytes)),
        "B");
  if (passed_n != o.sizes.agents || rows != t.acked || rows != t.produced || gaps_n != 0 ||
      bytes != rows * chunk) {
    return absl::InternalError(absl::StrCat("after the outage: ", passed_n, " of ", o.sizes.agents,
                                            " jobs passed, ", rows, " chunks stored for ", t.acked,
                                            " acknowledged and ", t.produced, " produced, ", gaps_n,
                                            " jobs with gaps"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunOutage(const BenchOptions& options, Report& report) {
  Outage o(options, report);
  auto env = StartEnv(options, "outage", report);
  if (!env.ok()) return env.status();
  o.env = *env;
  o.rss = std::make_unique<RssSampler>(o.controller());
  absl::Status st = StartStreaming(o);
  if (st.ok()) {
    SteadyState(o);
    st = DatabaseOutage(o);
  }
  if (st.ok()) st = Recover(o);
  if (st.ok()) st = Finish(o);
  if (st.ok()) st = Verify(o);
  o.rss.reset();
  if (o.fleet) o.fleet->Shutdown();
  StopEnv(options, o.env);
  return st;
}

}  // namespace gantry::bench
