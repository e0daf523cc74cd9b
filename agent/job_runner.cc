// A job on its own thread: the task sequence (run_if, cancel, on_cancel),
// fetches, artifact uploads and the console. Exec tasks' processes are
// job_runner_exec.cc.
#include "agent/job_runner.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "agent/artifact_upload.h"
#include "agent/paths.h"
#include "agent/task_process.h"
#include "agent/transfer_watchdog.h"
#include "common/files.h"

namespace gantry::agent {
namespace {

std::string RunIfOf(const gantry::v1::Task& task) {
  return task.run_if().empty() ? "passed" : task.run_if();
}

std::string DescribeTask(const gantry::v1::Task& task) {
  if (task.has_exec()) {
    std::vector<std::string> argv = {task.exec().command()};
    argv.insert(argv.end(), task.exec().arguments().begin(), task.exec().arguments().end());
    std::string out = CommandLine(argv);
    if (!task.exec().working_directory().empty()) {
      absl::StrAppend(&out, " (in ", task.exec().working_directory(), ")");
    }
    return out;
  }
  if (task.has_fetch()) {
    const auto& f = task.fetch();
    return absl::StrCat("fetch ", f.pipeline(), "/", f.stage(), "/", f.job(), " ", f.source(),
                        " -> ", f.destination().empty() ? "." : f.destination());
  }
  return "(empty task)";
}

class UnsupportedFetchHandler : public FetchHandler {
 public:
  absl::Status Fetch(const gantry::v1::FetchTask&, int, const TransferContext&) override {
    return absl::UnimplementedError("fetch tasks are not supported by this agent");
  }
};

class UnsupportedUploader : public ArtifactUploader {
 public:
  absl::StatusOr<UploadedArtifact> Upload(const ArtifactItem& item,
                                          const TransferContext&) override {
    return absl::UnimplementedError(absl::StrCat(
        "cannot upload ", item.artifact_path, ": artifact upload is not supported by this agent"));
  }
};

}  // namespace

JobRunner::Clock::duration JobRunner::ToClock(absl::Duration d) {
  return std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(d));
}

JobRunner::JobRunner(JobRunnerOptions options, gantry::v1::Assign assign, JobSink* sink)
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

void JobRunner::Cancel(const std::string& reason) { RequestStop(Stop::kCancel, reason); }

void JobRunner::Abort(const std::string& reason) { RequestStop(Stop::kAbort, reason); }

void JobRunner::RequestStop(Stop stop, const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    if (static_cast<int>(stop) <= static_cast<int>(stop_)) return;
    if (stop_ == Stop::kNone) stop_reason_ = reason;
    stop_ = stop;
    if (transfer_ != nullptr && (stop == Stop::kAbort || !transfer_on_cancel_)) {
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
  env_ = BuildJobEnvironment(
      options_.base_environment ? *options_.base_environment : CurrentProcessEnvironment(), assign_,
      options_.controller_url);
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
    Say(absl::StrCat("job ", std::string(JobResultName(report.result)), ": ", report.reason));
  }
  FlushConsole();
  sink_->OnJobCompleted(report);
  done_.store(true);
}

JobReport JobRunner::RunTasks() {
  if (std::optional<JobReport> failed = PrepareJobDir()) return *failed;
  if (std::optional<JobReport> failed = PrepareMaterials()) return *failed;
  const int n = assign_.tasks_size();
  bool any_failed = false;
  std::string first_failure;
  for (int i = 0; i < n; ++i) {
    const gantry::v1::Task& task = assign_.tasks(i);
    if (CurrentStop() != Stop::kNone) {
      // Cancelled between tasks: the rest never run.
      SkipTasksFrom(i);
      return {JobResult::kCancelled, StopReason()};
    }
    std::string run_if;
    if (!ShouldRun(i, task, any_failed, &run_if)) {
      Say(absl::StrCat("task ", i + 1, "/", n, " skipped (run_if ", run_if,
                       "): ", DescribeTask(task)));
      FlushConsole();
      sink_->OnTaskResult({i, TaskOutcome::kSkipped, -1});
      continue;
    }
    Say(absl::StrCat("task ", i + 1, "/", n, ": ", DescribeTask(task), " (run_if ", run_if, ")"));
    TaskRun result = RunTask(i, task, /*on_cancel=*/false);
    FlushConsole();
    sink_->OnTaskResult({i, result.outcome, result.exit_code});

    if (result.outcome == TaskOutcome::kCancelled) return CancelledAt(i, task);
    if (result.outcome == TaskOutcome::kFailed) {
      if (!any_failed) {
        first_failure =
            absl::StrCat("task ", i + 1, " (", DescribeTask(task), ") ", result.failure);
      }
      any_failed = true;
    }
  }
  if (any_failed) return {JobResult::kFailed, first_failure};
  return {JobResult::kPassed, ""};
}

std::optional<JobReport> JobRunner::PrepareJobDir() {
  const auto& a = assign_;
  auto dir = JobDir(options_.work_dir, a);
  std::string where = dir.ok() ? *dir : options_.work_dir;
  Say(absl::StrCat("job ", a.pipeline(), "/", a.pipeline_counter(), "/", a.stage(), "/",
                   a.stage_counter(), "/", a.job(), " (attempt ", a.attempt_id(), ") in ", where));
  if (!dir.ok()) {
    Say(std::string(dir.status().message()));
    return JobReport{JobResult::kFailed, std::string(dir.status().message())};
  }
  // Other users of the machine may not read a job's files (secrets on disk).
  if (absl::Status made = MakeDirs(*dir, 0700); !made.ok()) {
    Say(std::string(made.message()));
    return JobReport{JobResult::kFailed, std::string(made.message())};
  }
  job_dir_ = *dir;
  return std::nullopt;
}

bool JobRunner::ShouldRun(int index, const gantry::v1::Task& task, bool any_failed,
                          std::string* run_if) {
  *run_if = RunIfOf(task);
  if (*run_if == "passed") return !any_failed;
  if (*run_if == "failed") return any_failed;
  if (*run_if == "any") return true;
  Say(absl::StrCat("task ", index + 1, ": unknown run_if '", *run_if, "', treated as 'passed'"));
  *run_if = "passed";
  return !any_failed;
}

JobReport JobRunner::CancelledAt(int index, const gantry::v1::Task& task) {
  std::string reason = StopReason();
  if (task.has_on_cancel() && CurrentStop() == Stop::kCancel) {
    Say(absl::StrCat("task ", index + 1, " on_cancel: ", DescribeTask(task.on_cancel())));
    TaskRun cleanup = RunTask(index, task.on_cancel(), /*on_cancel=*/true);
    Say(absl::StrCat("task ", index + 1, " on_cancel ",
                     cleanup.outcome == TaskOutcome::kPassed ? "finished" : cleanup.failure));
  }
  SkipTasksFrom(index + 1);
  return {JobResult::kCancelled, reason};
}

void JobRunner::SkipTasksFrom(int first) {
  for (int j = first; j < assign_.tasks_size(); ++j) {
    FlushConsole();
    sink_->OnTaskResult({j, TaskOutcome::kSkipped, -1});
  }
}

JobRunner::TaskRun JobRunner::RunTask(int index, const gantry::v1::Task& task, bool on_cancel) {
  if (task.has_exec()) return RunExec(index, task.exec(), on_cancel);
  if (task.has_fetch()) return RunFetch(index, task.fetch(), on_cancel);
  Say(absl::StrCat("task ", index + 1, " has neither exec nor fetch"));
  return {TaskOutcome::kFailed, -1, "failed: empty task"};
}

void JobRunner::SetTransfer(TransferInterrupter* transfer, bool on_cancel) {
  absl::MutexLock lock(&mu_);
  transfer_ = transfer;
  transfer_on_cancel_ = on_cancel;
  if (transfer_ != nullptr && (stop_ == Stop::kAbort || (stop_ == Stop::kCancel && !on_cancel))) {
    transfer_->Interrupt();
  }
}

TransferContext JobRunner::MakeTransferContext(TransferInterrupter* interrupter,
                                               TransferWatchdog* watchdog) {
  TransferContext context;
  context.attempt_id = assign_.attempt_id();
  context.job_dir = job_dir_;
  context.console = [this](std::string_view text) { Print(text); };
  context.interrupter = interrupter;
  context.xxh128_uploads = assign_.transfer_xxh128();
  if (watchdog != nullptr) {
    context.deadline = TransferDeadline();
    context.on_progress = [watchdog] { watchdog->Progress(); };
  }
  return context;
}

absl::Time JobRunner::TransferDeadline() const {
  if (assign_.max_duration_seconds() <= 0) return absl::InfiniteFuture();
  // job_started_ is on the steady clock: carry the time left over.
  const auto left =
      job_started_ + std::chrono::seconds(assign_.max_duration_seconds()) - Clock::now();
  return absl::Now() + absl::FromChrono(std::chrono::duration_cast<std::chrono::nanoseconds>(left));
}

std::unique_ptr<TransferWatchdog> JobRunner::WatchTransfer() {
  const int64_t max = assign_.max_duration_seconds();
  const int64_t timeout = assign_.timeout_seconds();
  return std::make_unique<TransferWatchdog>(
      TransferDeadline(),
      absl::StrCat("ran longer than max_duration ", absl::FormatDuration(absl::Seconds(max))),
      timeout > 0 ? absl::Seconds(timeout) : absl::ZeroDuration(),
      absl::StrCat("no artifact transfer progress for ",
                   absl::FormatDuration(absl::Seconds(timeout))),
      [this](const std::string& reason) { RequestStop(Stop::kCancel, reason); });
}

JobRunner::TaskRun JobRunner::RunFetch(int index, const gantry::v1::FetchTask& fetch,
                                       bool on_cancel) {
  UnsupportedFetchHandler unsupported;
  FetchHandler* handler = options_.fetch_handler ? options_.fetch_handler.get() : &unsupported;
  TransferInterrupter interrupter;
  SetTransfer(&interrupter, on_cancel);
  // An on_cancel fetch is only stopped by Abort, as an on_cancel exec task.
  std::unique_ptr<TransferWatchdog> watchdog = on_cancel ? nullptr : WatchTransfer();
  absl::Status status =
      handler->Fetch(fetch, index, MakeTransferContext(&interrupter, watchdog.get()));
  watchdog.reset();
  SetTransfer(nullptr, false);
  const std::string label = absl::StrCat("task ", index + 1);
  if (interrupter.interrupted()) {
    // Whatever the handler said, it was stopped on purpose.
    Say(absl::StrCat(label, " cancelled (", StopReason(), ")"));
    return {TaskOutcome::kCancelled, -1, "cancelled"};
  }
  if (!status.ok()) {
    Say(std::string(status.message()));
    return {TaskOutcome::kFailed, -1, absl::StrCat("failed: ", std::string(status.message()))};
  }
  Say(absl::StrCat(label, " fetched"));
  return {TaskOutcome::kPassed, 0, ""};
}

JobReport JobRunner::UploadArtifacts(JobReport report) {
  if (assign_.artifacts_size() == 0 || job_dir_.empty() || report.result == JobResult::kCancelled) {
    return report;
  }
  UnsupportedUploader unsupported;
  ArtifactUploader* uploader =
      options_.artifact_uploader ? options_.artifact_uploader.get() : &unsupported;
  TransferInterrupter interrupter;
  SetTransfer(&interrupter, /*on_cancel=*/false);
  std::unique_ptr<TransferWatchdog> watchdog = WatchTransfer();
  absl::Status status =
      UploadJobArtifacts(assign_.artifacts(), report.result == JobResult::kPassed, *uploader,
                         MakeTransferContext(&interrupter, watchdog.get()),
                         [this](const std::string& line) { Say(line); });
  watchdog.reset();
  SetTransfer(nullptr, false);
  if (interrupter.interrupted()) {
    Say(absl::StrCat("artifact upload cancelled (", StopReason(), ")"));
    return {JobResult::kCancelled, StopReason()};
  }
  if (status.ok()) return report;
  std::string message(status.message());
  Say(message);
  if (report.result == JobResult::kPassed) {
    return {JobResult::kFailed, absl::StrCat("artifact upload failed: ", message)};
  }
  return report;
}

}  // namespace gantry::agent
