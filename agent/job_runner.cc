#include "agent/job_runner.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/artifact_upload.h"
#include "agent/paths.h"
#include "agent/task_process.h"
#include "common/files.h"
#include "spdlog/spdlog.h"

namespace gantry::agent {
namespace {

using Clock = ConsoleBatcher::Clock;

// "90" -> "1m30s", as the config's durations read.
std::string HumanSeconds(int64_t seconds) {
  return absl::FormatDuration(absl::Seconds(seconds));
}

Clock::duration ToClock(absl::Duration d) {
  return std::chrono::duration_cast<Clock::duration>(
      absl::ToChronoNanoseconds(d));
}

// How long to wait for a killed process group to disappear.
constexpr auto kGroupGoneTimeout = std::chrono::seconds(2);
// Without a pidfd, how often to check whether the child exited.
constexpr auto kExitPollTick = std::chrono::milliseconds(20);

std::string RunIfOf(const gantry::v1::Task& task) {
  return task.run_if().empty() ? "passed" : task.run_if();
}

std::string DescribeTask(const gantry::v1::Task& task) {
  if (task.has_exec()) {
    std::vector<std::string> argv = {task.exec().command()};
    argv.insert(argv.end(), task.exec().arguments().begin(),
                task.exec().arguments().end());
    std::string out = CommandLine(argv);
    if (!task.exec().working_directory().empty()) {
      absl::StrAppend(&out, " (in ", task.exec().working_directory(), ")");
    }
    return out;
  }
  if (task.has_fetch()) {
    const auto& f = task.fetch();
    return absl::StrCat("fetch ", f.pipeline(), "/", f.stage(), "/", f.job(),
                        " ", f.source(), " -> ",
                        f.destination().empty() ? "." : f.destination());
  }
  return "(empty task)";
}

class UnsupportedFetchHandler : public FetchHandler {
 public:
  absl::Status Fetch(const gantry::v1::FetchTask&, int,
                     const TransferContext&) override {
    return absl::UnimplementedError(
        "fetch tasks are not supported by this agent");
  }
};

class UnsupportedUploader : public ArtifactUploader {
 public:
  absl::StatusOr<UploadedArtifact> Upload(const ArtifactItem& item,
                                          const TransferContext&) override {
    return absl::UnimplementedError(
        absl::StrCat("cannot upload ", item.artifact_path,
                     ": artifact upload is not supported by this agent"));
  }
};

}  // namespace

JobRunner::JobRunner(JobRunnerOptions options, gantry::v1::Assign assign,
                     JobSink* sink)
    : options_(std::move(options)), assign_(std::move(assign)), sink_(sink) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

JobRunner::~JobRunner() {
  Abort("agent is shutting down");
  Join();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void JobRunner::Start() {
  thread_ = std::thread([this] { Run(); });
}

void JobRunner::Join() {
  if (thread_.joinable()) thread_.join();
}

void JobRunner::Cancel(const std::string& reason) {
  RequestStop(Stop::kCancel, reason);
}

void JobRunner::Abort(const std::string& reason) {
  RequestStop(Stop::kAbort, reason);
}

void JobRunner::RequestStop(Stop stop, const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    if (static_cast<int>(stop) <= static_cast<int>(stop_)) return;
    if (stop_ == Stop::kNone) stop_reason_ = reason;
    stop_ = stop;
    if (transfer_ != nullptr &&
        (stop == Stop::kAbort || !transfer_on_cancel_)) {
      transfer_->Interrupt();
    }
  }
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_, &one, sizeof(one));
  (void)ignored;
}

JobRunner::Stop JobRunner::CurrentStop() {
  absl::MutexLock lock(&mu_);
  return stop_;
}

std::string JobRunner::StopReason() {
  absl::MutexLock lock(&mu_);
  return stop_reason_.empty() ? "cancelled" : stop_reason_;
}

void JobRunner::Print(std::string_view text) {
  last_output_ = Clock::now();
  std::string masked = masker_->Feed(text);
  if (!masked.empty()) batcher_->Append(masked, last_output_);
}

void JobRunner::Say(std::string_view line) {
  std::string text = "[gantry] ";
  text.append(line);
  text.push_back('\n');
  Print(text);
}

void JobRunner::FlushConsole() {
  std::string rest = masker_->Flush();
  if (!rest.empty()) batcher_->Append(rest, Clock::now());
  batcher_->Flush();
}

void JobRunner::Run() {
  BecomeChildSubreaper();
  env_ = BuildJobEnvironment(options_.base_environment
                                 ? *options_.base_environment
                                 : CurrentProcessEnvironment(),
                             assign_, options_.controller_url);
  masker_ = std::make_unique<SecretMasker>(env_.secrets);
  batcher_ = std::make_unique<ConsoleBatcher>(
      options_.max_chunk_bytes, ToClock(options_.flush_interval),
      [this](std::string chunk) { sink_->OnConsole(std::move(chunk)); });
  last_output_ = job_started_ = Clock::now();

  sink_->OnJobStarted();
  JobReport report = UploadArtifacts(RunTasks());
  if (report.result == JobResult::kPassed) {
    Say("job passed");
  } else {
    Say(absl::StrCat("job ", std::string(JobResultName(report.result)), ": ",
                     report.reason));
  }
  FlushConsole();
  sink_->OnJobCompleted(report);
  done_.store(true);
}

JobReport JobRunner::RunTasks() {
  const auto& a = assign_;
  auto dir = JobDir(options_.work_dir, a);
  std::string where = dir.ok() ? *dir : options_.work_dir;
  Say(absl::StrCat("job ", a.pipeline(), "/", a.pipeline_counter(), "/",
                   a.stage(), "/", a.stage_counter(), "/", a.job(),
                   " (attempt ", a.attempt_id(), ") in ", where));
  if (!dir.ok()) {
    Say(std::string(dir.status().message()));
    return {JobResult::kFailed, std::string(dir.status().message())};
  }
  if (absl::Status made = MakeDirs(*dir); !made.ok()) {
    Say(std::string(made.message()));
    return {JobResult::kFailed, std::string(made.message())};
  }
  job_dir_ = *dir;

  const int n = a.tasks_size();
  bool any_failed = false;
  std::string first_failure;
  for (int i = 0; i < n; ++i) {
    const gantry::v1::Task& task = a.tasks(i);
    if (CurrentStop() != Stop::kNone) {
      // Cancelled between tasks: the rest never run.
      for (int j = i; j < n; ++j) {
        FlushConsole();
        sink_->OnTaskResult({j, TaskOutcome::kSkipped, -1});
      }
      return {JobResult::kCancelled, StopReason()};
    }
    std::string run_if = RunIfOf(task);
    bool run;
    if (run_if == "passed") {
      run = !any_failed;
    } else if (run_if == "failed") {
      run = any_failed;
    } else if (run_if == "any") {
      run = true;
    } else {
      Say(absl::StrCat("task ", i + 1, ": unknown run_if '", run_if,
                       "', treated as 'passed'"));
      run_if = "passed";
      run = !any_failed;
    }
    if (!run) {
      Say(absl::StrCat("task ", i + 1, "/", n, " skipped (run_if ", run_if,
                       "): ", DescribeTask(task)));
      FlushConsole();
      sink_->OnTaskResult({i, TaskOutcome::kSkipped, -1});
      continue;
    }
    Say(absl::StrCat("task ", i + 1, "/", n, ": ", DescribeTask(task),
                     " (run_if ", run_if, ")"));
    TaskRun result = RunTask(i, task, /*on_cancel=*/false);
    FlushConsole();
    sink_->OnTaskResult({i, result.outcome, result.exit_code});

    if (result.outcome == TaskOutcome::kCancelled) {
      std::string reason = StopReason();
      if (task.has_on_cancel() && CurrentStop() == Stop::kCancel) {
        Say(absl::StrCat("task ", i + 1,
                         " on_cancel: ", DescribeTask(task.on_cancel())));
        TaskRun cleanup = RunTask(i, task.on_cancel(), /*on_cancel=*/true);
        Say(absl::StrCat("task ", i + 1, " on_cancel ",
                         cleanup.outcome == TaskOutcome::kPassed
                             ? "finished"
                             : cleanup.failure));
      }
      for (int j = i + 1; j < n; ++j) {
        FlushConsole();
        sink_->OnTaskResult({j, TaskOutcome::kSkipped, -1});
      }
      return {JobResult::kCancelled, reason};
    }
    if (result.outcome == TaskOutcome::kFailed) {
      if (!any_failed) {
        first_failure = absl::StrCat("task ", i + 1, " (", DescribeTask(task),
                                     ") ", result.failure);
      }
      any_failed = true;
    }
  }
  if (any_failed) return {JobResult::kFailed, first_failure};
  return {JobResult::kPassed, ""};
}

JobRunner::TaskRun JobRunner::RunTask(int index, const gantry::v1::Task& task,
                                      bool on_cancel) {
  if (task.has_exec()) return RunExec(index, task.exec(), on_cancel);
  if (task.has_fetch()) return RunFetch(index, task.fetch(), on_cancel);
  Say(absl::StrCat("task ", index + 1, " has neither exec nor fetch"));
  return {TaskOutcome::kFailed, -1, "failed: empty task"};
}

void JobRunner::SetTransfer(TransferInterrupter* transfer, bool on_cancel) {
  absl::MutexLock lock(&mu_);
  transfer_ = transfer;
  transfer_on_cancel_ = on_cancel;
  if (transfer_ != nullptr &&
      (stop_ == Stop::kAbort || (stop_ == Stop::kCancel && !on_cancel))) {
    transfer_->Interrupt();
  }
}

TransferContext JobRunner::MakeTransferContext(
    TransferInterrupter* interrupter) {
  TransferContext context;
  context.attempt_id = assign_.attempt_id();
  context.job_dir = job_dir_;
  context.console = [this](std::string_view text) { Print(text); };
  context.interrupter = interrupter;
  return context;
}

JobRunner::TaskRun JobRunner::RunFetch(int index,
                                       const gantry::v1::FetchTask& fetch,
                                       bool on_cancel) {
  UnsupportedFetchHandler unsupported;
  FetchHandler* handler =
      options_.fetch_handler ? options_.fetch_handler.get() : &unsupported;
  TransferInterrupter interrupter;
  SetTransfer(&interrupter, on_cancel);
  absl::Status status =
      handler->Fetch(fetch, index, MakeTransferContext(&interrupter));
  SetTransfer(nullptr, false);
  const std::string label = absl::StrCat("task ", index + 1);
  if (interrupter.interrupted()) {
    // Whatever the handler said, it was stopped on purpose.
    Say(absl::StrCat(label, " cancelled (", StopReason(), ")"));
    return {TaskOutcome::kCancelled, -1, "cancelled"};
  }
  if (!status.ok()) {
    Say(std::string(status.message()));
    return {TaskOutcome::kFailed, -1,
            absl::StrCat("failed: ", std::string(status.message()))};
  }
  Say(absl::StrCat(label, " fetched"));
  return {TaskOutcome::kPassed, 0, ""};
}

JobReport JobRunner::UploadArtifacts(JobReport report) {
  if (assign_.artifacts_size() == 0 || job_dir_.empty() ||
      report.result == JobResult::kCancelled) {
    return report;
  }
  UnsupportedUploader unsupported;
  ArtifactUploader* uploader = options_.artifact_uploader
                                   ? options_.artifact_uploader.get()
                                   : &unsupported;
  TransferInterrupter interrupter;
  SetTransfer(&interrupter, /*on_cancel=*/false);
  absl::Status status = UploadJobArtifacts(
      assign_.artifacts(), report.result == JobResult::kPassed, *uploader,
      MakeTransferContext(&interrupter),
      [this](const std::string& line) { Say(line); });
  SetTransfer(nullptr, false);
  if (interrupter.interrupted()) {
    Say(absl::StrCat("artifact upload cancelled (", StopReason(), ")"));
    return {JobResult::kCancelled, StopReason()};
  }
  if (status.ok()) return report;
  std::string message(status.message());
  Say(message);
  if (report.result == JobResult::kPassed) {
    return {JobResult::kFailed,
            absl::StrCat("artifact upload failed: ", message)};
  }
  return report;
}

JobRunner::TaskRun JobRunner::RunExec(int index,
                                      const gantry::v1::ExecTask& exec,
                                      bool on_cancel) {
  const std::string label = absl::StrCat("task ", index + 1);
  auto cwd = JoinInside(job_dir_, exec.working_directory());
  if (!cwd.ok()) {
    std::string msg(cwd.status().message());
    Say(absl::StrCat(label, ": ", msg));
    return {TaskOutcome::kFailed, -1, absl::StrCat("failed: ", msg)};
  }
  if (!FileExists(*cwd)) {
    std::string msg = absl::StrCat("working directory ",
                                   exec.working_directory(), " does not exist");
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
  spec.argv.insert(spec.argv.end(), exec.arguments().begin(),
                   exec.arguments().end());
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

JobRunner::ProcessEnd JobRunner::Pump(TaskProcess& p, int index,
                                      bool on_cancel) {
  const auto grace = ToClock(options_.kill_grace);
  const auto linger = ToClock(options_.output_linger);
  const auto inactivity = std::chrono::seconds(assign_.timeout_seconds());
  const bool has_timeout = assign_.timeout_seconds() > 0 && !on_cancel;
  const auto max_end =
      job_started_ + std::chrono::seconds(assign_.max_duration_seconds());
  const bool has_max = assign_.max_duration_seconds() > 0 && !on_cancel;

  bool exited = false;
  bool stopped = false;
  bool term_sent = false;
  bool kill_sent = false;
  Clock::time_point kill_at{};
  Clock::time_point linger_until{};
  char buf[64 * 1024];

  auto read_output = [&] {
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
  };

  while (true) {
    auto now = Clock::now();
    Stop stop = CurrentStop();
    if (has_timeout && stop == Stop::kNone &&
        now - last_output_ >= inactivity) {
      RequestStop(Stop::kCancel,
                  absl::StrCat("no console output for ",
                               HumanSeconds(assign_.timeout_seconds())));
      stop = CurrentStop();
    }
    if (has_max && stop == Stop::kNone && now >= max_end) {
      RequestStop(Stop::kCancel,
                  absl::StrCat("ran longer than max_duration ",
                               HumanSeconds(assign_.max_duration_seconds())));
      stop = CurrentStop();
    }
    // An on_cancel task is itself only stopped by Abort.
    bool stop_this = on_cancel ? stop == Stop::kAbort : stop != Stop::kNone;
    if (stop_this) {
      if (!exited) stopped = true;
      if (stop == Stop::kAbort && !kill_sent) {
        p.SignalGroup(SIGKILL);
        term_sent = kill_sent = true;
      } else if (!term_sent) {
        p.SignalGroup(SIGTERM);
        term_sent = true;
        kill_at = now + grace;
      }
    }
    if (term_sent && !kill_sent && now >= kill_at) {
      Say(absl::StrCat("task ", index + 1, " still running ",
                       absl::FormatDuration(options_.kill_grace),
                       " after SIGTERM; sending SIGKILL"));
      p.SignalGroup(SIGKILL);
      kill_sent = true;
    }
    batcher_->FlushIfDue(now);
    if (exited && (p.output_fd() < 0 || now >= linger_until)) break;

    std::optional<Clock::time_point> wake_at = batcher_->deadline();
    auto consider = [&](Clock::time_point t) {
      if (!wake_at || t < *wake_at) wake_at = t;
    };
    if (term_sent && !kill_sent) consider(kill_at);
    if (exited) consider(linger_until);
    if (has_timeout && !stop_this) consider(last_output_ + inactivity);
    if (has_max && !stop_this) consider(max_end);
    if (!exited && p.exit_fd() < 0) consider(now + kExitPollTick);

    pollfd fds[3];
    int nfds = 0;
    fds[nfds++] = {wake_fd_, POLLIN, 0};
    if (p.output_fd() >= 0) fds[nfds++] = {p.output_fd(), POLLIN, 0};
    if (!exited && p.exit_fd() >= 0) fds[nfds++] = {p.exit_fd(), POLLIN, 0};
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
    read_output();
    if (!exited && p.HasExited()) {
      exited = true;
      linger_until = Clock::now() + linger;
    }
  }

  ProcessEnd end;
  end.stopped = stopped;
  end.exit = p.Reap();
  KillLeftovers(p.pgid(), index, /*quiet=*/stopped);
  read_output();  // what the leftovers wrote before they died
  p.CloseOutput();
  return end;
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
    spdlog::warn("attempt {}: process group {} still exists after SIGKILL",
                 assign_.attempt_id(), pgid);
  }
}

}  // namespace gantry::agent
