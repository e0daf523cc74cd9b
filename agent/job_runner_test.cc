// JobRunner against real child processes, with no gRPC involved.
#include "agent/job_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/files.h"
#include "common/testing/wait_for.h"

namespace gantry::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Records everything a runner reports; waits for conditions with deadlines.
class RecordingSink : public JobSink {
 public:
  void OnJobStarted() override {
    absl::MutexLock lock(&mu_);
    events_.push_back("started");
  }
  void OnConsole(std::string data) override {
    absl::MutexLock lock(&mu_);
    EXPECT_FALSE(data.empty());
    console_ += data;
    events_.push_back("console");
    cv_.SignalAll();
  }
  void OnTaskResult(const TaskReport& report) override {
    absl::MutexLock lock(&mu_);
    tasks_.push_back(report);
    events_.push_back("task");
  }
  void OnJobCompleted(const JobReport& report) override {
    absl::MutexLock lock(&mu_);
    EXPECT_FALSE(job_.has_value()) << "OnJobCompleted called twice";
    job_ = report;
    events_.push_back("completed");
    cv_.SignalAll();
  }

  // Waits until the job completed; fails the test on timeout.
  JobReport WaitDone(absl::Duration timeout = absl::Seconds(20)) {
    absl::MutexLock lock(&mu_);
    absl::Time deadline = absl::Now() + timeout;
    while (!job_) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) break;
    }
    EXPECT_TRUE(job_.has_value()) << "job did not finish; console:\n"
                                  << console_;
    return job_.value_or(JobReport{JobResult::kFailed, "timeout"});
  }
  bool WaitConsole(const std::string& needle,
                   absl::Duration timeout = absl::Seconds(20)) {
    absl::MutexLock lock(&mu_);
    absl::Time deadline = absl::Now() + timeout;
    while (!absl::StrContains(console_, needle)) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) break;
    }
    return absl::StrContains(console_, needle);
  }
  std::string console() {
    absl::MutexLock lock(&mu_);
    return console_;
  }
  std::vector<TaskReport> tasks() {
    absl::MutexLock lock(&mu_);
    return tasks_;
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::string console_;
  std::vector<TaskReport> tasks_;
  std::vector<std::string> events_;
  std::optional<JobReport> job_;
};

gantry::v1::Task Sh(const std::string& script, const std::string& run_if = "") {
  gantry::v1::Task t;
  t.mutable_exec()->set_command("sh");
  t.mutable_exec()->add_arguments("-c");
  t.mutable_exec()->add_arguments(script);
  t.set_run_if(run_if);
  return t;
}

void AddVar(gantry::v1::Assign& a, const std::string& name,
            const std::string& value, bool secure = false) {
  auto* v = a.add_variables();
  v->set_name(name);
  v->set_value(value);
  v->set_secure(secure);
}

std::vector<std::string> Outcomes(const std::vector<TaskReport>& reports) {
  std::vector<std::string> out;
  for (const auto& r : reports) {
    out.push_back(std::to_string(r.task_index) + ":" +
                  std::string(TaskOutcomeName(r.outcome)));
  }
  return out;
}

// How long a task's process group may take to appear or to go.
constexpr absl::Duration kWaitDeadline = absl::Seconds(10);

bool GroupGone(pid_t pgid) { return ::kill(-pgid, 0) == -1 && errno == ESRCH; }

// Parses the number in an output line "<key><number>\n", e.g. "pgid=1234"
// (header lines quote the script, so the key must start a line).
pid_t NumberAfter(const std::string& console, const std::string& key) {
  size_t at = console.find("\n" + key);
  if (at == std::string::npos) return 0;
  ++at;
  if (at == std::string::npos) return 0;
  size_t start = at + key.size();
  size_t end = console.find_first_not_of("0123456789", start);
  if (end == std::string::npos || console[end] != '\n') return 0;
  int value = 0;
  if (!absl::SimpleAtoi(console.substr(start, end - start), &value)) return 0;
  return value;
}

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gantry-runner-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    work_dir_ = tmpl;
    options_.work_dir = work_dir_;
    options_.controller_url = "controller.test:8155";
    options_.kill_grace = absl::Seconds(5);
    options_.output_linger = absl::Milliseconds(200);
    options_.base_environment =
        std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin:/bin",
                                 "X=from-agent", "ONLY_AGENT=agent-only"};
    assign_.set_attempt_id(42);
    assign_.set_pipeline("app");
    assign_.set_pipeline_counter(7);
    assign_.set_pipeline_label("1.0.7");
    assign_.set_stage("build");
    assign_.set_stage_counter(2);
    assign_.set_job("compile");
  }
  void TearDown() override {
    runner_.reset();
    std::filesystem::remove_all(work_dir_);
  }

  JobRunner& Start() {
    runner_ = std::make_unique<JobRunner>(options_, assign_, &sink_);
    runner_->Start();
    return *runner_;
  }
  JobReport Run() {
    Start();
    JobReport r = sink_.WaitDone();
    runner_->Join();
    return r;
  }
  std::string JobDir() { return work_dir_ + "/pipelines/app"; }

  std::string work_dir_;
  JobRunnerOptions options_;
  gantry::v1::Assign assign_;
  RecordingSink sink_;
  std::unique_ptr<JobRunner> runner_;
};

// Two passing tasks run in order in DIR/pipelines/<pipeline>, with header and
// exit lines; a run_if:failed task is skipped; the job passes.
TEST_F(JobRunnerTest, TasksPassInOrder) {
  *assign_.add_tasks() = Sh("echo one; pwd");
  *assign_.add_tasks() = Sh("echo two >&2");
  *assign_.add_tasks() = Sh("echo never", "failed");
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kPassed);
  EXPECT_EQ(r.reason, "");
  std::string c = sink_.console();
  EXPECT_THAT(
      c, HasSubstr("[gantry] task 1/3: sh -c 'echo one; pwd' (run_if passed)\n"
                   "one\n" +
                   JobDir() + "\n[gantry] task 1 exited 0\n"));
  EXPECT_THAT(
      c, HasSubstr("[gantry] task 2/3: sh -c 'echo two >&2' (run_if passed)\n"
                   "two\n[gantry] task 2 exited 0\n"));
  EXPECT_THAT(c, HasSubstr("[gantry] task 3/3 skipped (run_if failed)"));
  EXPECT_THAT(c, Not(HasSubstr("never\n")));
  EXPECT_THAT(c, HasSubstr("[gantry] job passed\n"));
  EXPECT_EQ(Outcomes(sink_.tasks()),
            (std::vector<std::string>{"0:passed", "1:passed", "2:skipped"}));
  EXPECT_EQ(sink_.tasks()[0].exit_code, 0);
  auto events = sink_.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front(), "started");
  EXPECT_EQ(events.back(), "completed");
  EXPECT_TRUE(FileExists(JobDir()));
}

// After a failure, run_if:passed tasks are skipped and run_if:failed and
// run_if:any tasks run; the job fails naming the first failed task.
TEST_F(JobRunnerTest, FailureSkipsPassedTasksAndRunsFailedAndAny) {
  *assign_.add_tasks() = Sh("echo first");
  *assign_.add_tasks() = Sh("exit 3");
  *assign_.add_tasks() = Sh("echo should-skip");
  *assign_.add_tasks() = Sh("echo on-failure", "failed");
  *assign_.add_tasks() = Sh("echo always", "any");
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kFailed);
  EXPECT_THAT(r.reason, HasSubstr("task 2"));
  EXPECT_THAT(r.reason, HasSubstr("exited 3"));
  std::string c = sink_.console();
  EXPECT_THAT(c, HasSubstr("[gantry] task 2 exited 3\n"));
  EXPECT_THAT(c, Not(HasSubstr("should-skip\n")));
  EXPECT_THAT(c, HasSubstr("on-failure\n"));
  EXPECT_THAT(c, HasSubstr("always\n"));
  EXPECT_EQ(Outcomes(sink_.tasks()),
            (std::vector<std::string>{"0:passed", "1:failed", "2:skipped",
                                      "3:passed", "4:passed"}));
  EXPECT_EQ(sink_.tasks()[1].exit_code, 3);
}

// The child sees the agent's environment overlaid with Assign.variables
// (which win), plus the built-ins, unless the Assign sets them itself.
TEST_F(JobRunnerTest, VariablesAndBuiltinsReachTheChild) {
  AddVar(assign_, "X", "from-assign");
  AddVar(assign_, "Y", "why");
  AddVar(assign_, "GANTRY_PIPELINE_LABEL", "label-from-controller");
  *assign_.add_tasks() =
      Sh("echo \"X=$X Y=$Y A=$ONLY_AGENT\"; "
         "echo \"P=$GANTRY_PIPELINE_NAME/$GANTRY_PIPELINE_COUNTER/"
         "$GANTRY_PIPELINE_LABEL S=$GANTRY_STAGE_NAME/$GANTRY_STAGE_COUNTER "
         "J=$GANTRY_JOB_NAME C=$GANTRY_CONTROLLER_URL\"");
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kPassed) << sink_.console();
  std::string c = sink_.console();
  EXPECT_THAT(c, HasSubstr("X=from-assign Y=why A=agent-only\n"));
  EXPECT_THAT(c, HasSubstr("P=app/7/label-from-controller S=build/2 "
                           "J=compile C=controller.test:8155\n"));
}

// The command is looked up on the job's PATH (from the Assign), not the
// agent's.
TEST_F(JobRunnerTest, CommandIsFoundOnTheJobsPath) {
  std::string bin = work_dir_ + "/tools";
  ASSERT_TRUE(MakeDirs(bin).ok());
  ASSERT_TRUE(
      WriteFileAtomic(bin + "/mytool", "#!/bin/sh\necho mytool ran $1\n", 0755)
          .ok());
  AddVar(assign_, "PATH", bin + ":/usr/bin:/bin");
  gantry::v1::Task t;
  t.mutable_exec()->set_command("mytool");
  t.mutable_exec()->add_arguments("arg1");
  *assign_.add_tasks() = t;
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kPassed) << sink_.console();
  EXPECT_THAT(sink_.console(), HasSubstr("mytool ran arg1\n"));
}

// A task's working_directory is relative to the job dir; absolute paths and
// ".." escapes are refused with a console line, failing only that task.
TEST_F(JobRunnerTest, WorkingDirectoryStaysInsideTheJobDir) {
  *assign_.add_tasks() = Sh("mkdir -p sub/dir");
  gantry::v1::Task inside = Sh("pwd");
  inside.mutable_exec()->set_working_directory("sub/dir");
  *assign_.add_tasks() = inside;
  gantry::v1::Task escape = Sh("echo escaped-up", "any");
  escape.mutable_exec()->set_working_directory("sub/../../..");
  *assign_.add_tasks() = escape;
  gantry::v1::Task absolute = Sh("echo escaped-abs", "any");
  absolute.mutable_exec()->set_working_directory("/tmp");
  *assign_.add_tasks() = absolute;
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kFailed);
  std::string c = sink_.console();
  EXPECT_THAT(c, HasSubstr(JobDir() + "/sub/dir\n"));
  EXPECT_THAT(c, HasSubstr("[gantry] task 3: working directory 'sub/../../..' "
                           "contains '..'"));
  EXPECT_THAT(
      c, HasSubstr("[gantry] task 4: working directory '/tmp' is absolute"));
  EXPECT_THAT(c, Not(HasSubstr("\nescaped-")));
  EXPECT_EQ(Outcomes(sink_.tasks()),
            (std::vector<std::string>{"0:passed", "1:passed", "2:failed",
                                      "3:failed"}));
}

// A command that cannot be started fails its task with exit code 127 and a
// clear line; the runner carries on with run_if:any tasks.
TEST_F(JobRunnerTest, CommandNotFoundFailsClearly) {
  gantry::v1::Task missing;
  missing.mutable_exec()->set_command("no-such-command-gantry");
  *assign_.add_tasks() = missing;
  *assign_.add_tasks() = Sh("printf 'echo hi\\n' > noexec.sh", "any");
  gantry::v1::Task noexec;
  noexec.mutable_exec()->set_command("./noexec.sh");
  noexec.set_run_if("any");
  *assign_.add_tasks() = noexec;
  *assign_.add_tasks() = Sh("echo still-running", "any");
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kFailed);
  std::string c = sink_.console();
  EXPECT_THAT(c, HasSubstr("[gantry] task 1: command not found: "
                           "no-such-command-gantry (exit code 127)\n"));
  EXPECT_THAT(c, HasSubstr("[gantry] task 3: cannot execute " + JobDir() +
                           "/./noexec.sh: Permission denied"));
  EXPECT_THAT(c, HasSubstr("still-running\n"));
  auto tasks = sink_.tasks();
  ASSERT_EQ(tasks.size(), 4u);
  EXPECT_EQ(tasks[0].outcome, TaskOutcome::kFailed);
  EXPECT_EQ(tasks[0].exit_code, 127);
  EXPECT_EQ(tasks[2].exit_code, 127);
  EXPECT_EQ(tasks[3].outcome, TaskOutcome::kPassed);
}

// How a task ended reaches the console and its exit code: an exit status as
// is, death by signal N as 128+N. An executable file without a #! line runs
// under /bin/sh with its arguments (execvp's rule).
TEST_F(JobRunnerTest, ExitStatusesAndScriptsWithoutShebang) {
  *assign_.add_tasks() = Sh("printf 'echo plain got $*\\n' > plain.sh && chmod +x plain.sh");
  gantry::v1::Task plain;
  plain.mutable_exec()->set_command("./plain.sh");
  plain.mutable_exec()->add_arguments("a");
  plain.mutable_exec()->add_arguments("b c");
  *assign_.add_tasks() = plain;
  *assign_.add_tasks() = Sh("exit 3");
  *assign_.add_tasks() = Sh("kill -TERM $$", "any");
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kFailed);
  EXPECT_EQ(r.reason, "task 3 (sh -c 'exit 3') exited 3");
  std::string c = sink_.console();
  EXPECT_THAT(c, HasSubstr("plain got a b c\n[gantry] task 2 exited 0\n"));
  EXPECT_THAT(c, HasSubstr("[gantry] task 3 exited 3\n"));
  EXPECT_THAT(c, HasSubstr("[gantry] task 4 killed by signal 15 (Terminated)\n"));
  auto tasks = sink_.tasks();
  ASSERT_EQ(tasks.size(), 4u);
  EXPECT_EQ(tasks[1].exit_code, 0);
  EXPECT_EQ(tasks[2].exit_code, 3);
  EXPECT_EQ(tasks[3].exit_code, 128 + SIGTERM);
  EXPECT_EQ(Outcomes(tasks),
            (std::vector<std::string>{"0:passed", "1:passed", "2:failed", "3:failed"}));
}

// Secure values never reach the console, even when written in pieces;
// insecure and short values are left alone.
TEST_F(JobRunnerTest, SecureValuesAreMasked) {
  AddVar(assign_, "SECRET", "topsecret123", /*secure=*/true);
  AddVar(assign_, "SHORT", "ab", /*secure=*/true);
  AddVar(assign_, "PLAIN", "visible-value");
  AddVar(assign_, "HEAD", "top");
  AddVar(assign_, "TAIL", "secret123");
  // Two writes with a pause between, so the secret spans two reads.
  *assign_.add_tasks() =
      Sh("echo \"value=$SECRET plain=$PLAIN short=$SHORT\"; "
         "printf \"$HEAD\"; sleep 0.1; printf \"$TAIL\"; echo ' split'");
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kPassed);
  std::string c = sink_.console();
  EXPECT_THAT(c, Not(HasSubstr("topsecret")));
  EXPECT_THAT(c, HasSubstr("value=******** plain=visible-value short=ab\n"));
  EXPECT_THAT(c, HasSubstr("******** split\n"));
}

// Cancel sends SIGTERM to the task's whole process group (including
// background children), runs on_cancel, skips the rest, and the job ends
// "cancelled" with the reason.
TEST_F(JobRunnerTest, CancelKillsTheProcessTreeAndRunsOnCancel) {
  gantry::v1::Task t = Sh("echo pgid=$$; sleep 1000 & sleep 1000");
  *t.mutable_on_cancel() = Sh("echo cleanup ran");
  *assign_.add_tasks() = t;
  *assign_.add_tasks() = Sh("echo next-task", "any");
  JobRunner& runner = Start();
  pid_t pgid = 0;
  ASSERT_TRUE(
      WaitFor([&] { return (pgid = NumberAfter(sink_.console(), "pgid=")) != 0; }, kWaitDeadline));
  ASSERT_GT(pgid, 1);
  ASSERT_FALSE(GroupGone(pgid));
  runner.Cancel("stopped by alice");
  JobReport r = sink_.WaitDone();
  EXPECT_EQ(r.result, JobResult::kCancelled);
  EXPECT_EQ(r.reason, "stopped by alice");
  EXPECT_TRUE(WaitFor([&] { return GroupGone(pgid); }, kWaitDeadline))
      << "process group " << pgid << " survived the cancel";
  std::string c = sink_.console();
  EXPECT_THAT(c, HasSubstr("[gantry] task 1 cancelled (stopped by alice)"));
  EXPECT_THAT(c,
              HasSubstr("[gantry] task 1 on_cancel: sh -c 'echo cleanup ran'\n"
                        "cleanup ran\n"));
  EXPECT_THAT(c, Not(HasSubstr("next-task\n")));
  EXPECT_EQ(Outcomes(sink_.tasks()),
            (std::vector<std::string>{"0:cancelled", "1:skipped"}));
}

// A task that ignores SIGTERM is killed with SIGKILL after the grace period.
TEST_F(JobRunnerTest, CancelEscalatesToSigkill) {
  options_.kill_grace = absl::Milliseconds(300);
  *assign_.add_tasks() = Sh("trap '' TERM; echo pgid=$$; sleep 1000");
  JobRunner& runner = Start();
  pid_t pgid = 0;
  ASSERT_TRUE(
      WaitFor([&] { return (pgid = NumberAfter(sink_.console(), "pgid=")) != 0; }, kWaitDeadline));
  ASSERT_GT(pgid, 1);
  runner.Cancel("too slow");
  JobReport r = sink_.WaitDone();
  EXPECT_EQ(r.result, JobResult::kCancelled);
  EXPECT_THAT(sink_.console(), HasSubstr("after SIGTERM; sending SIGKILL"));
  EXPECT_THAT(sink_.console(), HasSubstr("killed by signal 9"));
  EXPECT_EQ(sink_.tasks()[0].exit_code, 128 + SIGKILL);
  EXPECT_TRUE(WaitFor([&] { return GroupGone(pgid); }, kWaitDeadline));
}

// Abort (the controller took the job away) kills at once and skips
// on_cancel.
TEST_F(JobRunnerTest, AbortSkipsOnCancel) {
  gantry::v1::Task t = Sh("echo started; sleep 1000");
  *t.mutable_on_cancel() = Sh("echo cleanup ran");
  *assign_.add_tasks() = t;
  JobRunner& runner = Start();
  ASSERT_TRUE(sink_.WaitConsole("started\n"));
  runner.Abort("abandoned");
  JobReport r = sink_.WaitDone();
  EXPECT_EQ(r.result, JobResult::kCancelled);
  EXPECT_EQ(r.reason, "abandoned");
  EXPECT_THAT(sink_.console(), Not(HasSubstr("cleanup ran")));
}

// Processes a task leaves behind in its group (here holding the output
// pipe) are killed once the task's main process has exited.
TEST_F(JobRunnerTest, LeftoverProcessesAreKilled) {
  *assign_.add_tasks() = Sh("echo pgid=$$; sleep 1000 &");
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kPassed);
  pid_t pgid = NumberAfter(sink_.console(), "pgid=");
  ASSERT_GT(pgid, 1);
  EXPECT_THAT(sink_.console(), HasSubstr("left processes running"));
  EXPECT_TRUE(WaitFor([&] { return GroupGone(pgid); }, kWaitDeadline));
}

// Assign.timeout_seconds without console output cancels the job.
TEST_F(JobRunnerTest, InactivityTimeoutCancels) {
  assign_.set_timeout_seconds(1);
  *assign_.add_tasks() = Sh("echo begin; sleep 1000");
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kCancelled);
  EXPECT_EQ(r.reason, "no console output for 1s");
}

// Output keeps the inactivity timeout away; max_duration still ends the job.
TEST_F(JobRunnerTest, MaxDurationCancelsABusyJob) {
  assign_.set_timeout_seconds(5);
  assign_.set_max_duration_seconds(1);
  *assign_.add_tasks() = Sh("while true; do echo tick; sleep 0.1; done");
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kCancelled);
  EXPECT_EQ(r.reason, "ran longer than max_duration 1s");
}

// Without a FetchHandler (no controller connection), a fetch task fails
// with a clear line.
TEST_F(JobRunnerTest, FetchTaskWithoutHandlerFails) {
  gantry::v1::Task t;
  t.mutable_fetch()->set_pipeline("upstream");
  t.mutable_fetch()->set_stage("build");
  t.mutable_fetch()->set_job("compile");
  t.mutable_fetch()->set_source("out/app.tar");
  *assign_.add_tasks() = t;
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kFailed);
  EXPECT_THAT(sink_.console(),
              HasSubstr("[gantry] fetch tasks are not supported by this "
                        "agent\n"));
  EXPECT_THAT(r.reason, HasSubstr("task 1 (fetch upstream/build/compile "
                                  "out/app.tar -> .) failed: fetch tasks are "
                                  "not supported by this agent"));
}

// Records fetch calls; fails those whose source is "bad".
class RecordingFetchHandler : public FetchHandler {
 public:
  absl::Status Fetch(const gantry::v1::FetchTask& task, int task_index,
                     const TransferContext& context) override {
    absl::MutexLock lock(&mu_);
    calls.push_back(absl::StrCat(task_index, ":", context.attempt_id, ":",
                                 task.source(), ":", context.job_dir));
    if (task.source() == "bad") return absl::NotFoundError("no such thing");
    context.console("[gantry] fetched it\n");
    return absl::OkStatus();
  }
  absl::Mutex mu_;
  std::vector<std::string> calls;
};

// Fetch tasks go to the handler with their index, the attempt and the job
// dir; a handler error fails the task with its message.
TEST_F(JobRunnerTest, FetchTaskGoesToHandler) {
  auto handler = std::make_shared<RecordingFetchHandler>();
  options_.fetch_handler = handler;
  *assign_.add_tasks() = Sh("true");
  gantry::v1::Task t;
  t.mutable_fetch()->set_source("good");
  *assign_.add_tasks() = t;
  t.mutable_fetch()->set_source("bad");
  *assign_.add_tasks() = t;
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kFailed);
  EXPECT_THAT(handler->calls, ::testing::ElementsAre("1:42:good:" + JobDir(),
                                                     "2:42:bad:" + JobDir()));
  EXPECT_THAT(sink_.console(), HasSubstr("[gantry] fetched it\n[gantry] "
                                         "task 2 fetched\n"));
  EXPECT_THAT(r.reason, HasSubstr("task 3 (fetch // bad -> .) failed: no such "
                                  "thing"));
}

// Without an uploader, a job with artifacts fails when it gets to them.
TEST_F(JobRunnerTest, ArtifactsWithoutUploaderFailJob) {
  *assign_.add_tasks() = Sh("echo x > x.txt");
  assign_.add_artifacts()->set_source("x.txt");
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kFailed);
  EXPECT_EQ(r.reason,
            "artifact upload failed: cannot upload x.txt: artifact upload is "
            "not supported by this agent");
}

// Large output arrives complete and in chunks no bigger than the limit.
TEST_F(JobRunnerTest, LargeOutputIsChunked) {
  options_.max_chunk_bytes = 1000;
  *assign_.add_tasks() =
      Sh("i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done");
  JobReport r = Run();
  EXPECT_EQ(r.result, JobResult::kPassed);
  std::string c = sink_.console();
  EXPECT_THAT(c, HasSubstr("\nline-0\nline-1\n"));
  EXPECT_THAT(c, HasSubstr("\nline-1998\nline-1999\n"));
  int chunks = 0;
  for (const auto& e : sink_.events()) chunks += e == "console";
  EXPECT_GE(chunks, static_cast<int>(c.size() / 1000));
}

}  // namespace
}  // namespace gantry::agent
