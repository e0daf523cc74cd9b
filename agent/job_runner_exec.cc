// Exec tasks: the task's process group, its output into the console, the
// job's timeouts and stops turned into signals, and what it leaves behind.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/job_runner.h"
#include "agent/paths.h"
#include "agent/task_process.h"
#include "common/files.h"
#include "spdlog/spdlog.h"

namespace gantry::agent {
namespace {

// "90" -> "1m30s", as the config's durations read.
std::string HumanSeconds(int64_t seconds) { return absl::FormatDuration(absl::Seconds(seconds)); }

// How long to wait for a killed process group to disappear.
constexpr auto kGroupGoneTimeout = std::chrono::seconds(2);
// Without a pidfd, how often to check whether the child exited.
constexpr auto kExitPollTick = std::chrono::milliseconds(20);

}  // namespace

// One exec task's process as Pump watches it: the limits that apply to it
// and how far stopping it has got.
struct JobRunner::PumpState {
  Clock::duration grace;
  Clock::duration linger;
  Clock::duration inactivity;
  bool has_timeout = false;
  Clock::time_point max_end;
  bool has_max = false;

  bool exited = false;
  bool stopped = false;
  bool term_sent = false;
  bool kill_sent = false;
  Clock::time_point kill_at{};
  Clock::time_point linger_until{};
};

JobRunner::TaskRun JobRunner::RunExec(int index, const gantry::v1::ExecTask& exec, bool on_cancel) {
  const std::string label = absl::StrCat("task ", index + 1);
  auto cwd = JoinInside(job_dir_, exec.working_directory());
  if (!cwd.ok()) {
    std::string msg(cwd.status().message());
    Say(absl::StrCat(label, ": ", msg));
    return {TaskOutcome::kFailed, -1, absl::StrCat("failed: ", msg)};
  }
  if (!FileExists(*cwd)) {
    std::string msg =
        absl::StrCat("working directory ", exec.working_directory(), " does not exist");
    Say(absl::StrCat(label, ": ", msg));
    return {TaskOutcome::kFailed, -1, absl::StrCat("failed: ", msg)};
  }
  auto executable = FindExecutable(exec.command(), env_.Get("PATH"), *cwd);
  if (!executable.ok()) {
    std::string msg(executable.status().message());
    Say(absl::StrCat(label, ": ", msg, " (exit code 127)"));
    return {TaskOutcome::kFailed, 127, absl::StrCat("failed: ", msg)};
  }
  ProcessSpec spec;
  spec.executable = *executable;
  spec.argv.push_back(exec.command());
  spec.argv.insert(spec.argv.end(), exec.arguments().begin(), exec.arguments().end());
  spec.env.assign(env_.vars.begin(), env_.vars.end());
  spec.cwd = *cwd;
  auto process = TaskProcess::Start(spec);
  if (!process.ok()) {
    std::string msg(process.status().message());
    Say(absl::StrCat(label, ": ", msg, " (exit code 127)"));
    return {TaskOutcome::kFailed, 127, absl::StrCat("failed: ", msg)};
  }
  ProcessEnd end = Pump(**process, index, on_cancel);
  int code = ExitCodeOf(end.exit);
  std::string how = DescribeExit(end.exit);
  if (end.stopped) {
    Say(absl::StrCat(label, " cancelled (", StopReason(), "): ", how));
    return {TaskOutcome::kCancelled, code, how};
  }
  Say(absl::StrCat(label, " ", how));
  if (code == 0) return {TaskOutcome::kPassed, 0, ""};
  return {TaskOutcome::kFailed, code, how};
}

JobRunner::ProcessEnd JobRunner::Pump(TaskProcess& p, int index, bool on_cancel) {
  PumpState s;
  s.grace = ToClock(options_.kill_grace);
  s.linger = ToClock(options_.output_linger);
  s.inactivity = std::chrono::seconds(assign_.timeout_seconds());
  s.has_timeout = assign_.timeout_seconds() > 0 && !on_cancel;
  s.max_end = job_started_ + std::chrono::seconds(assign_.max_duration_seconds());
  s.has_max = assign_.max_duration_seconds() > 0 && !on_cancel;

  while (true) {
    auto now = Clock::now();
    Stop stop = EnforceLimits(s, now);
    // An on_cancel task is itself only stopped by Abort.
    bool stop_this = on_cancel ? stop == Stop::kAbort : stop != Stop::kNone;
    SignalTask(p, index, stop, stop_this, s, now);
    batcher_->FlushIfDue(now);
    if (s.exited && (p.output_fd() < 0 || now >= s.linger_until)) break;

    WaitForActivity(p, s, stop_this, now);
    ReadOutput(p);
    if (!s.exited && p.HasExited()) {
      s.exited = true;
      s.linger_until = Clock::now() + s.linger;
    }
  }

  ProcessEnd end;
  end.stopped = s.stopped;
  end.exit = p.Reap();
  KillLeftovers(p.pgid(), index, /*quiet=*/s.stopped);
  ReadOutput(p);  // what the leftovers wrote before they died
  p.CloseOutput();
  return end;
}

JobRunner::Stop JobRunner::EnforceLimits(const PumpState& s, Clock::time_point now) {
  Stop stop = CurrentStop();
  if (s.has_timeout && stop == Stop::kNone && now - last_output_ >= s.inactivity) {
    RequestStop(Stop::kCancel,
                absl::StrCat("no console output for ", HumanSeconds(assign_.timeout_seconds())));
    stop = CurrentStop();
  }
  if (s.has_max && stop == Stop::kNone && now >= s.max_end) {
    RequestStop(Stop::kCancel, absl::StrCat("ran longer than max_duration ",
                                            HumanSeconds(assign_.max_duration_seconds())));
    stop = CurrentStop();
  }
  return stop;
}

void JobRunner::SignalTask(TaskProcess& p, int index, Stop stop, bool stop_this, PumpState& s,
                           Clock::time_point now) {
  if (stop_this) {
    if (!s.exited) s.stopped = true;
    if (stop == Stop::kAbort && !s.kill_sent) {
      p.SignalGroup(SIGKILL);
      s.term_sent = s.kill_sent = true;
    } else if (!s.term_sent) {
      p.SignalGroup(SIGTERM);
      s.term_sent = true;
      s.kill_at = now + s.grace;
    }
  }
  if (s.term_sent && !s.kill_sent && now >= s.kill_at) {
    Say(absl::StrCat("task ", index + 1, " still running ",
                     absl::FormatDuration(options_.kill_grace), " after SIGTERM; sending SIGKILL"));
    p.SignalGroup(SIGKILL);
    s.kill_sent = true;
  }
}

void JobRunner::WaitForActivity(TaskProcess& p, const PumpState& s, bool stop_this,
                                Clock::time_point now) {
  std::optional<Clock::time_point> wake_at = batcher_->deadline();
  auto consider = [&](Clock::time_point t) {
    if (!wake_at || t < *wake_at) wake_at = t;
  };
  if (s.term_sent && !s.kill_sent) consider(s.kill_at);
  if (s.exited) consider(s.linger_until);
  if (s.has_timeout && !stop_this) consider(last_output_ + s.inactivity);
  if (s.has_max && !stop_this) consider(s.max_end);
  if (!s.exited && p.exit_fd() < 0) consider(now + kExitPollTick);

  pollfd fds[3];
  int nfds = 0;
  fds[nfds++] = {wake_fd_, POLLIN, 0};
  if (p.output_fd() >= 0) fds[nfds++] = {p.output_fd(), POLLIN, 0};
  if (!s.exited && p.exit_fd() >= 0) fds[nfds++] = {p.exit_fd(), POLLIN, 0};
  int timeout_ms = -1;
  if (wake_at) {
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(*wake_at - now);
    timeout_ms = static_cast<int>(std::max<int64_t>(0, ms.count()));
  }
  int r = ::poll(fds, nfds, timeout_ms);
  if (r < 0 && errno != EINTR) {
    spdlog::error("poll: {}", std::strerror(errno));
  }
  if (fds[0].revents & POLLIN) {
    uint64_t ignored;
    while (::read(wake_fd_, &ignored, sizeof(ignored)) > 0) {
    }
  }
}

void JobRunner::ReadOutput(TaskProcess& p) {
  char buf[64 * 1024];
  // Bounded, so a flood of output cannot starve the stop checks.
  for (int round = 0; round < 16 && p.output_fd() >= 0; ++round) {
    ssize_t n = ::read(p.output_fd(), buf, sizeof(buf));
    if (n > 0) {
      Print(std::string_view(buf, static_cast<size_t>(n)));
    } else if (n == 0) {
      p.CloseOutput();
    } else if (errno == EINTR) {
      continue;
    } else {
      if (errno != EAGAIN && errno != EWOULDBLOCK) p.CloseOutput();
      return;
    }
  }
}

void JobRunner::KillLeftovers(pid_t pgid, int index, bool quiet) {
  // Orphans of the task are our children (subreaper): reap the dead ones so
  // only live processes count as left behind.
  ReapExitedChildren();
  if (!ProcessGroupExists(pgid)) return;
  if (!quiet) {
    Say(absl::StrCat("task ", index + 1,
                     " left processes running in its process group; "
                     "killing them"));
  }
  ::kill(-pgid, SIGKILL);
  auto deadline = Clock::now() + kGroupGoneTimeout;
  while (ProcessGroupExists(pgid) && Clock::now() < deadline) {
    ReapExitedChildren();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (ProcessGroupExists(pgid)) {
    spdlog::warn("attempt {}: process group {} still exists after SIGKILL", assign_.attempt_id(),
                 pgid);
  }
}

}  // namespace gantry::agent
