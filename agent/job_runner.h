// Runs one Assign: its tasks in order, each its own process, on a thread of
// its own, reporting through a JobSink. Knows nothing about gRPC.
//
// - Directory: JobDir() (paths.h), created if missing. An exec task's
//   working_directory is relative to it; absolute paths and ".." are refused
//   (the task fails with a console line saying why).
// - Environment: see job_env.h. The command is looked up on the job's PATH.
// - run_if: "passed" (default; runs while nothing has failed), "failed" (runs
//   only after a failure), "any". The job fails if any executed task failed.
// - Console: a "[gantry] ..." line before and after every task; task stdout
//   and stderr merged; secure values masked; batched (console.h).
// - Leftovers: when a task's main process exits, its output is read until
//   the pipe closes (at most output_linger), then whatever is left of its
//   process group is killed. A daemon that must outlive its task has to
//   leave the group (setsid).
// - Cancel: SIGTERM to the running task's process group, SIGKILL after
//   kill_grace, then the task's on_cancel task; remaining tasks are skipped
//   and the job ends "cancelled". Abort: SIGKILL at once, no on_cancel (the
//   controller took the job away). Assign.timeout_seconds without console
//   output cancels the job the same way.
// - fetch tasks go to the FetchHandler (artifact_handlers.h) with the task's
//   index and the job dir; a failure fails the task with the handler's
//   message. Cancel interrupts a fetch (the task ends "cancelled"); a fetch
//   run as an on_cancel task is only interrupted by Abort.
// - Artifacts: after the tasks, unless the job was cancelled, Assign.artifacts
//   are uploaded through the ArtifactUploader (artifact_upload.h: run_if per
//   spec against the job's result so far), before OnJobCompleted: the
//   controller only accepts uploads for an attempt still running. A failed
//   upload fails a passing job ("artifact upload failed: ..."); a job that
//   already failed keeps its first reason. Cancel during the upload
//   interrupts it and the job ends "cancelled".
// - Transfers (fetch tasks, the upload) are subject to the job's limits
//   too (transfer_watchdog.h): max_duration ends them like an exec task,
//   and timeout_seconds counts from the last bytes moved rather than the
//   last console output (none is expected while bytes move). Either
//   cancels the job with its reason; Cancel/Abort stop them as well.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/artifact_handlers.h"
#include "agent/console.h"
#include "agent/job_env.h"
#include "agent/job_sink.h"
#include "common/process/process.h"
#include "gantry/v1/agent.pb.h"

namespace gantry::agent {

class TaskProcess;
class TransferWatchdog;

struct JobRunnerOptions {
  // The agent's --work-dir.
  std::string work_dir;
  // Becomes GANTRY_CONTROLLER_URL unless the Assign sets it.
  std::string controller_url;
  // The agent's own environment ("NAME=value"); nullopt: this process's.
  std::optional<std::vector<std::string>> base_environment;
  // SIGTERM → SIGKILL delay on cancel.
  absl::Duration kill_grace = absl::Seconds(10);
  // How long to keep reading a task's output after its main process exited.
  absl::Duration output_linger = absl::Seconds(1);
  // Console batching (console.h).
  absl::Duration flush_interval = absl::Milliseconds(50);
  size_t max_chunk_bytes = 16 * 1024;
  // Null: fetch tasks fail as unsupported.
  std::shared_ptr<FetchHandler> fetch_handler;
  // Null: a job with artifacts fails when it comes to uploading them.
  std::shared_ptr<ArtifactUploader> artifact_uploader;
};

class JobRunner {
 public:
  // `sink` must outlive the runner.
  JobRunner(JobRunnerOptions options, gantry::v1::Assign assign, JobSink* sink);
  // Aborts the job if it is still running and joins its thread.
  ~JobRunner();

  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Starts the job on a new thread. Call once.
  void Start();

  // Cancels the job (see above). Thread-safe; the first reason wins; no-op
  // once the job has finished.
  void Cancel(const std::string& reason);
  // Kills the job without on_cancel. Thread-safe; also escalates a Cancel.
  void Abort(const std::string& reason);

  // True once OnJobCompleted has returned.
  bool done() const { return done_.load(); }
  // Waits for the job's thread to end.
  void Join();

  int64_t attempt_id() const { return assign_.attempt_id(); }
  const gantry::v1::Assign& assign() const { return assign_; }

 private:
  enum class Stop { kNone, kCancel, kAbort };
  struct TaskRun {
    TaskOutcome outcome = TaskOutcome::kPassed;
    int exit_code = -1;
    // How it failed, to follow "task N (command) ": "exited 2",
    // "failed: command not found: mk".
    std::string failure;
  };
  struct ProcessEnd {
    ExitStatus exit;
    bool stopped = false;  // cancelled or aborted while running
  };

  using Clock = ConsoleBatcher::Clock;
  struct PumpState;  // job_runner_exec.cc

  static Clock::duration ToClock(absl::Duration d);

  void Run();
  JobReport RunTasks();
  // Says where the job runs and makes its directory (job_dir_); a report
  // if that fails, which ends the job.
  std::optional<JobReport> PrepareJobDir();
  // clean_workspace and the git checkouts (job_runner_materials.cc).
  std::optional<JobReport> PrepareMaterials();
  // Whether task `index` runs after the tasks before it (`any_failed`);
  // sets *run_if to the rule applied.
  bool ShouldRun(int index, const gantry::v1::Task& task, bool any_failed, std::string* run_if);
  // Task `index` was cancelled: runs its on_cancel (on Cancel, not Abort)
  // and skips the rest.
  JobReport CancelledAt(int index, const gantry::v1::Task& task);
  // Reports tasks `first`.. as skipped.
  void SkipTasksFrom(int first);
  // Runs one task (exec or fetch); `index` is 0-based; `on_cancel` marks
  // a task run because its parent task was cancelled (only Abort stops it).
  TaskRun RunTask(int index, const gantry::v1::Task& task, bool on_cancel);
  TaskRun RunExec(int index, const gantry::v1::ExecTask& exec, bool on_cancel);
  TaskRun RunFetch(int index, const gantry::v1::FetchTask& fetch, bool on_cancel);
  // Uploads Assign.artifacts and folds the outcome into `report`.
  JobReport UploadArtifacts(JobReport report);
  // Registers the transfer that Cancel/Abort must interrupt (null: none);
  // interrupts it at once if a stop that applies already came.
  void SetTransfer(TransferInterrupter* transfer, bool on_cancel);
  // `watchdog` (may be null) learns of the transfer's progress.
  TransferContext MakeTransferContext(TransferInterrupter* interrupter,
                                      TransferWatchdog* watchdog = nullptr);
  // When max_duration ends, as wall-clock time (InfiniteFuture: no limit).
  absl::Time TransferDeadline() const;
  // Enforces max_duration and timeout_seconds on the transfer about to run.
  std::unique_ptr<TransferWatchdog> WatchTransfer();
  // Runs an exec task's process to its end: output into the console,
  // timeouts and stops turned into signals.
  ProcessEnd Pump(TaskProcess& process, int index, bool on_cancel);
  // Cancels the job once the task has been silent for timeout_seconds or
  // the job has run past max_duration; returns the stop in force.
  Stop EnforceLimits(const PumpState& state, Clock::time_point now);
  // SIGTERM, then SIGKILL after kill_grace (at once on Abort).
  void SignalTask(TaskProcess& process, int index, Stop stop, bool stop_this, PumpState& state,
                  Clock::time_point now);
  // Blocks in poll(2) until output, the exit, a Cancel/Abort or the next
  // deadline (console flush, SIGKILL, linger, timeouts).
  void WaitForActivity(TaskProcess& process, const PumpState& state, bool stop_this,
                       Clock::time_point now);
  // Reads what is there (a bounded amount) into the console.
  void ReadOutput(TaskProcess& process);
  void KillLeftovers(pid_t pgid, int index, bool quiet);

  Stop CurrentStop();
  std::string StopReason();
  void RequestStop(Stop stop, const std::string& reason);

  // Console pipeline: masker -> batcher -> sink.
  void Print(std::string_view text);
  void Say(std::string_view line);  // "[gantry] line\n"
  void FlushConsole();

  const JobRunnerOptions options_;
  const gantry::v1::Assign assign_;
  JobSink* const sink_;

  absl::Mutex mu_;
  Stop stop_ ABSL_GUARDED_BY(mu_) = Stop::kNone;
  std::string stop_reason_ ABSL_GUARDED_BY(mu_);
  int wake_fd_ = -1;  // eventfd: Cancel/Abort wake the output loop
  // The fetch or upload in progress, if any.
  TransferInterrupter* transfer_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool transfer_on_cancel_ ABSL_GUARDED_BY(mu_) = false;

  // Owned by the job thread.
  std::string job_dir_;
  JobEnvironment env_;
  std::unique_ptr<SecretMasker> masker_;
  std::unique_ptr<ConsoleBatcher> batcher_;
  Clock::time_point last_output_;
  Clock::time_point job_started_;

  std::thread thread_;
  std::atomic<bool> done_{false};
};

}  // namespace gantry::agent
