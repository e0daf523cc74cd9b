// End-to-end: no job lost or run twice. Lost agents and on_agent_lost,
// fencing of a partitioned agent, a controller killed with -9, PostgreSQL
// restarting under the controller, cancel and timeouts.
//
// Tasks are shell scripts in the test's directory. They record which agent
// runs them (a task runs in AGENT_WORK_DIR/pipelines/PIPELINE), hold at
// gates the test opens by creating files, and record their pids in
// Cluster::task_pid_dir() so that tasks orphaned by a killed agent are
// killed with the Cluster. Every wait has a deadline; nothing sleeps to
// synchronise.
#include <errno.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "gantry/v1/operator.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(60);

// Flags that make a silent agent lost in 2 s.
const std::vector<std::string> kFastLoss = {"--agent-lost-timeout", "2",
                                            "--heartbeat-interval", "0.5"};
constexpr absl::Duration kLostTimeout = absl::Seconds(2);
// For tests where agents must outlast a controller or database outage: longer
// than an agent's reconnect backoff (full jitter up to 10 s) plus a connect,
// so a slow draw cannot make a live agent lost; nothing waits for it to pass.
const std::vector<std::string> kSlowLoss = {"--agent-lost-timeout", "20",
                                            "--heartbeat-interval", "0.5"};

// One pipeline `name` with one stage `stage` of `jobs`; each job is
// {name, script, extra job keys}.
struct JobSpec {
  std::string name;
  std::string script;
  std::vector<std::string> keys;
};

std::string PipelineYaml(const std::string& name, const std::string& stage,
                         const std::vector<JobSpec>& jobs) {
  std::string out = absl::StrCat("  ", name,
                                 ":\n"
                                 "    group: e2e\n"
                                 "    stages:\n"
                                 "      - ",
                                 stage,
                                 ":\n"
                                 "          jobs:\n");
  for (const JobSpec& j : jobs) {
    absl::StrAppend(&out, "            ", j.name, ":\n");
    for (const std::string& k : j.keys) {
      absl::StrAppend(&out, "              ", k, "\n");
    }
    absl::StrAppend(&out,
                    "              tasks:\n"
                    "                - exec:\n"
                    "                    command: /bin/sh\n"
                    "                    arguments: [",
                    j.script, "]\n");
  }
  return out;
}

// Every attempt of job `name` in stage `stage`, oldest first.
std::vector<v1::JobRun> Attempts(const v1::PipelineRun& run,
                                 const std::string& stage,
                                 const std::string& name) {
  std::vector<v1::JobRun> out;
  for (const v1::StageRun& s : run.stages()) {
    if (s.name() != stage) continue;
    for (const v1::JobRun& j : s.jobs()) {
      if (j.name() == name) out.push_back(j);
    }
  }
  std::sort(out.begin(), out.end(), [](const v1::JobRun& a, const v1::JobRun& b) {
    return a.attempt_id() < b.attempt_id();
  });
  return out;
}

const v1::StageRun* FindStage(const v1::PipelineRun& run,
                              const std::string& name) {
  for (const v1::StageRun& s : run.stages()) {
    if (s.name() == name) return &s;
  }
  return nullptr;
}

// The run as JSON-ish text, or why it could not be read: for messages.
std::string Dump(const absl::StatusOr<v1::PipelineRun>& run) {
  return run.ok() ? run->DebugString() : run.status().ToString();
}

bool ProcessGone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// How many lines of `log` are exactly `line`.
int CountLines(const std::string& log, const std::string& line) {
  int n = 0;
  for (absl::string_view l : absl::StrSplit(log, '\n')) {
    if (absl::StripTrailingAsciiWhitespace(l) == line) ++n;
  }
  return n;
}

class ResilienceE2eTest : public ::testing::Test {
 protected:
  // Starts the controller with `flags` and `agents` agents named a0, a1...
  void Start(const std::vector<std::string>& flags, int agents) {
    absl::Status started = cluster_.StartController(flags);
    ASSERT_TRUE(started.ok()) << started;
    for (int i = 0; i < agents; ++i) {
      AgentOptions o;
      o.name = absl::StrCat("a", i);
      absl::StatusOr<int> agent = cluster_.StartAgent(o);
      ASSERT_TRUE(agent.ok()) << agent.status();
    }
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << "agents never became idle";
    marks_ = cluster_.dir() + "/m";
    ASSERT_TRUE(MakeDirs(marks_).ok());
  }

  // The prologue of every task script: records the task's pid, finds the
  // agent's name.
  std::string Prologue() const {
    return absl::StrCat(
        "M=", marks_, "\n",
        "echo $$ > \"", cluster_.task_pid_dir(), "/$$\"\n",
        "AGENT=$(basename \"$(dirname \"$(dirname \"$(pwd -P)\")\")\")\n",
        // The task's side of a gate: waits until the test creates mark $1,
        // polling it, and fails the task after a minute.
        "wait_for() { i=0; while [ ! -f \"$M/$1\" ]; do\n"
        "  i=$((i+1)); [ $i -gt 1200 ] && { echo \"no $1\"; exit 1; }\n"
        "  sleep 0.05; done; }\n");
  }

  // A task that marks `started-AGENT` (and `pid-AGENT`), then holds until
  // `release-AGENT` exists (at most a minute), marks `finished-AGENT` and
  // passes.
  std::string HoldScript() {
    return cluster_.WriteFile(
        "scripts/hold.sh",
        absl::StrCat(Prologue(),
                     "echo \"started on $AGENT\"\n"
                     "echo $$ > \"$M/pid-$AGENT\"\n"
                     "touch \"$M/started-$AGENT\"\n"
                     "wait_for \"release-$AGENT\"\n"
                     "echo \"finishing on $AGENT\"\n"
                     "touch \"$M/finished-$AGENT\"\n"));
  }

  bool Marked(const std::string& name) const {
    return FileExists(marks_ + "/" + name);
  }
  void Mark(const std::string& name) const {
    ASSERT_TRUE(WriteFileAtomic(marks_ + "/" + name, "").ok());
  }
  // The agent of a started-AGENT marker, waiting for one to appear; -1 if
  // none did. Agents in `exclude` are not considered.
  int WaitForStartedAgent(const std::vector<int>& exclude = {}) {
    int found = -1;
    WaitFor(
        [&] {
          for (int i = 0; i < cluster_.agent_count(); ++i) {
            if (std::find(exclude.begin(), exclude.end(), i) != exclude.end())
              continue;
            if (Marked("started-" + cluster_.agent_name(i))) {
              found = i;
              return true;
            }
          }
          return false;
        },
        absl::Seconds(30));
    return found;
  }
  pid_t MarkedPid(const std::string& name) const {
    absl::StatusOr<std::string> s = ReadFile(marks_ + "/" + name);
    int pid = 0;
    if (!s.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*s), &pid)) {
      return -1;
    }
    return pid;
  }

  absl::StatusOr<v1::PipelineRun> Show(const std::string& locator) {
    return cluster_.ShowRun(locator);
  }

  // Waits until the attempts of `job` satisfy `pred`; returns the last seen.
  std::vector<v1::JobRun> WaitForAttempts(
      const std::string& locator, const std::string& stage,
      const std::string& job,
      const std::function<bool(const std::vector<v1::JobRun>&)>& pred,
      absl::Duration deadline = absl::Seconds(30)) {
    std::vector<v1::JobRun> last;
    WaitFor(
        [&] {
          absl::StatusOr<v1::PipelineRun> run = Show(locator);
          if (!run.ok()) return false;
          last = Attempts(*run, stage, job);
          return pred(last);
        },
        deadline, kCliPoll);
    return last;
  }

  static std::string Describe(const std::vector<v1::JobRun>& attempts) {
    std::string out;
    for (const v1::JobRun& j : attempts) {
      absl::StrAppend(&out, "[attempt ", j.attempt_id(), " ", j.state(), " on '",
                      j.agent_name(), "' reason '", j.reason(), "'] ");
    }
    return out;
  }

  Cluster cluster_;
  std::string marks_;
};

// ------------------------------------------------------------ lost agents

// kill -9 of the agent running a job: within the lost timeout the attempt
// is `lost`; with `on_agent_lost: fail` the stage fails and nothing runs the
// job again.
TEST_F(ResilienceE2eTest, KilledAgentsAttemptIsLostAndFailsTheStage) {
  ASSERT_NO_FATAL_FAILURE(Start(kFastLoss, 2));
  ASSERT_TRUE(cluster_
                  .ApplyConfig(absl::StrCat(
                      "format_version: 10\npipelines:\n",
                      PipelineYaml("deploy", "ship",
                                   {{"rollout", HoldScript(),
                                     {"on_agent_lost: fail"}}})))
                  .ok());
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "deploy"}).exit_code, 0);
  int victim = WaitForStartedAgent();
  ASSERT_GE(victim, 0) << "the job never started";
  const std::string name = cluster_.agent_name(victim);

  const absl::Time killed = absl::Now();
  cluster_.KillAgent(victim, SIGKILL);
  std::vector<v1::JobRun> attempts = WaitForAttempts(
      "deploy/1", "ship", "rollout",
      [](const auto& a) { return !a.empty() && a.back().state() == "lost"; });
  const absl::Duration took = absl::Now() - killed;
  ASSERT_EQ(attempts.size(), 1u) << Describe(attempts);
  EXPECT_EQ(attempts[0].state(), "lost") << Describe(attempts);
  // Silent for the timeout (the last heartbeat was up to 0.5 s before the
  // kill), noticed by a tick (every 0.5 s), seen by our polling.
  EXPECT_LE(took, kLostTimeout + absl::Seconds(2)) << took;
  EXPECT_EQ(attempts[0].agent_name(), name);
  EXPECT_TRUE(absl::StrContains(attempts[0].reason(), "silent"))
      << attempts[0].reason();

  ASSERT_TRUE(cluster_.WaitForRunState("deploy/1", "failed", absl::Seconds(15)));
  absl::StatusOr<v1::PipelineRun> run = Show("deploy/1");
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_NE(FindStage(*run, "ship"), nullptr);
  EXPECT_EQ(FindStage(*run, "ship")->state(), "failed");
  EXPECT_EQ(Attempts(*run, "ship", "rollout").size(), 1u)
      << "on_agent_lost: fail must not run the job again";
  EXPECT_FALSE(Marked("started-" + cluster_.agent_name(1 - victim)));

  absl::StatusOr<v1::Agent> agent = cluster_.FindAgent(name);
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_EQ(agent->status(), "lost");
  EXPECT_FALSE(agent->connected());
}

// With `on_agent_lost: reschedule` the lost attempt is followed by a new one
// on the other agent, which passes; the stage passes.
TEST_F(ResilienceE2eTest, KilledAgentsJobIsRescheduledOnAnotherAgent) {
  ASSERT_NO_FATAL_FAILURE(Start(kFastLoss, 2));
  ASSERT_TRUE(cluster_
                  .ApplyConfig(absl::StrCat(
                      "format_version: 10\npipelines:\n",
                      PipelineYaml("build", "compile",
                                   {{"make", HoldScript(),
                                     {"on_agent_lost: reschedule"}}})))
                  .ok());
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "build"}).exit_code, 0);
  int victim = WaitForStartedAgent();
  ASSERT_GE(victim, 0) << "the job never started";
  const int other = 1 - victim;
  // The new attempt passes at once; the orphaned old task stays held.
  Mark("release-" + cluster_.agent_name(other));

  const absl::Time killed = absl::Now();
  cluster_.KillAgent(victim, SIGKILL);
  ASSERT_TRUE(cluster_.WaitForRunState("build/1", "passed", absl::Seconds(30)))
      << Dump(Show("build/1"));
  EXPECT_LE(absl::Now() - killed, kLostTimeout + absl::Seconds(5));

  absl::StatusOr<v1::PipelineRun> run = Show("build/1");
  ASSERT_TRUE(run.ok()) << run.status();
  std::vector<v1::JobRun> attempts = Attempts(*run, "compile", "make");
  ASSERT_EQ(attempts.size(), 2u) << Describe(attempts);
  EXPECT_EQ(attempts[0].state(), "lost");
  EXPECT_EQ(attempts[0].agent_name(), cluster_.agent_name(victim));
  EXPECT_EQ(attempts[1].state(), "passed");
  EXPECT_EQ(attempts[1].agent_name(), cluster_.agent_name(other));
  EXPECT_EQ(FindStage(*run, "compile")->state(), "passed");
  EXPECT_TRUE(Marked("finished-" + cluster_.agent_name(other)));

  absl::StatusOr<std::string> log = cluster_.JobLog("build/1/compile/make");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StrContains(*log, "finishing on " + cluster_.agent_name(other)))
      << *log;
}

// ------------------------------------------------------------ fencing

class ResilienceE2eFencingTest : public ResilienceE2eTest {
 protected:
  // Runs a held job on one agent, freezes that agent (SIGSTOP: its task
  // runs on in its own process group) past the lost timeout, and waits for
  // the rescheduled attempt to run on the other agent.
  void PartitionRunningAgent() {
    ASSERT_NO_FATAL_FAILURE(Start(kFastLoss, 2));
    ASSERT_TRUE(cluster_
                    .ApplyConfig(absl::StrCat(
                        "format_version: 10\npipelines:\n",
                        PipelineYaml("deploy", "ship",
                                     {{"rollout", HoldScript(),
                                       {"on_agent_lost: reschedule"}}})))
                    .ok());
    ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "deploy"}).exit_code, 0);
    old_ = WaitForStartedAgent();
    ASSERT_GE(old_, 0) << "the job never started";
    new_ = 1 - old_;
    std::vector<v1::JobRun> attempts = WaitForAttempts(
        "deploy/1", "ship", "rollout",
        [](const auto& a) { return a.size() == 1 && a[0].state() == "running"; });
    ASSERT_EQ(attempts.size(), 1u) << Describe(attempts);
    old_attempt_ = attempts[0].attempt_id();

    cluster_.KillAgent(old_, SIGSTOP);
    frozen_ = true;
    ASSERT_EQ(WaitForStartedAgent({old_}), new_)
        << "the job was not rescheduled on the other agent";
    attempts = WaitForAttempts("deploy/1", "ship", "rollout", [](const auto& a) {
      return a.size() == 2 && a[1].state() == "running";
    });
    ASSERT_EQ(attempts.size(), 2u) << Describe(attempts);
    EXPECT_EQ(attempts[0].attempt_id(), old_attempt_);
    EXPECT_EQ(attempts[0].state(), "lost");
    EXPECT_EQ(attempts[1].agent_name(), cluster_.agent_name(new_));
    new_attempt_ = attempts[1].attempt_id();
  }

  void Thaw() {
    if (frozen_) cluster_.KillAgent(old_, SIGCONT);
    frozen_ = false;
  }

  void TearDown() override { Thaw(); }

  // The old agent was told to abandon its attempt.
  bool OldAgentAbandoned() {
    return absl::StrContains(cluster_.AgentLog(old_),
                             absl::StrCat("controller abandoned attempt ",
                                          old_attempt_));
  }

  int old_ = -1, new_ = -1;
  int64_t old_attempt_ = 0, new_attempt_ = 0;
  bool frozen_ = false;
};

// The frozen agent's task finishes while it is partitioned; when the agent
// comes back, its (passed) completion is refused, it is told to abandon the
// attempt, and the job's result is the new attempt's.
TEST_F(ResilienceE2eFencingTest, LateCompletionOfAFencedAgentIsRefused) {
  ASSERT_NO_FATAL_FAILURE(PartitionRunningAgent());
  const std::string old_name = cluster_.agent_name(old_);
  const std::string new_name = cluster_.agent_name(new_);

  Mark("release-" + old_name);
  ASSERT_TRUE(WaitFor([&] { return Marked("finished-" + old_name); },
                      absl::Seconds(15)));
  Thaw();
  ASSERT_TRUE(WaitFor([&] { return OldAgentAbandoned(); }, absl::Seconds(20)))
      << "agent " << old_name << " was never told to abandon attempt "
      << old_attempt_;
  // Back in service, the old agent is idle again; its report changed nothing.
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<v1::Agent> a = cluster_.FindAgent(old_name);
        return a.ok() && a->connected() && a->status() == "idle";
      },
      absl::Seconds(20), kCliPoll));
  absl::StatusOr<v1::PipelineRun> run = Show("deploy/1");
  ASSERT_TRUE(run.ok()) << run.status();
  std::vector<v1::JobRun> attempts = Attempts(*run, "ship", "rollout");
  ASSERT_EQ(attempts.size(), 2u) << Describe(attempts);
  EXPECT_EQ(attempts[0].state(), "lost") << Describe(attempts);
  EXPECT_EQ(attempts[0].agent_name(), old_name);
  EXPECT_EQ(attempts[1].state(), "running") << Describe(attempts);
  EXPECT_EQ(run->state(), "building");
  EXPECT_FALSE(Marked("finished-" + new_name));

  Mark("release-" + new_name);
  ASSERT_TRUE(cluster_.WaitForRunState("deploy/1", "passed", kRunDeadline));
  run = Show("deploy/1");
  ASSERT_TRUE(run.ok()) << run.status();
  attempts = Attempts(*run, "ship", "rollout");
  ASSERT_EQ(attempts.size(), 2u) << Describe(attempts);
  EXPECT_EQ(attempts[0].state(), "lost");
  EXPECT_EQ(attempts[1].attempt_id(), new_attempt_);
  EXPECT_EQ(attempts[1].state(), "passed");
  EXPECT_EQ(attempts[1].agent_name(), new_name);
  absl::StatusOr<std::string> log = cluster_.JobLog("deploy/1/ship/rollout");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StrContains(*log, "finishing on " + new_name)) << *log;
  EXPECT_FALSE(absl::StrContains(*log, "on " + old_name + "\n")) << *log;
}

// The frozen agent's task still runs when the agent comes back: told to
// abandon the attempt, the agent kills it, so the job runs on two agents at
// once only while the old one was cut off.
TEST_F(ResilienceE2eFencingTest, FencedAgentKillsTheAttemptItStillRuns) {
  ASSERT_NO_FATAL_FAILURE(PartitionRunningAgent());
  const std::string old_name = cluster_.agent_name(old_);
  const std::string new_name = cluster_.agent_name(new_);
  const pid_t old_task = MarkedPid("pid-" + old_name);
  ASSERT_GT(old_task, 0);
  ASSERT_FALSE(ProcessGone(old_task)) << "the old task should run on";

  Thaw();
  ASSERT_TRUE(WaitFor([&] { return OldAgentAbandoned(); }, absl::Seconds(20)))
      << "agent " << old_name << " was never told to abandon attempt "
      << old_attempt_;
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(old_task); }, absl::Seconds(10)))
      << "the abandoned task (pid " << old_task << ") still runs";
  EXPECT_FALSE(Marked("finished-" + old_name));
  // The new attempt was untouched.
  absl::StatusOr<v1::PipelineRun> run = Show("deploy/1");
  ASSERT_TRUE(run.ok()) << run.status();
  std::vector<v1::JobRun> attempts = Attempts(*run, "ship", "rollout");
  ASSERT_EQ(attempts.size(), 2u) << Describe(attempts);
  EXPECT_EQ(attempts[0].state(), "lost");
  EXPECT_EQ(attempts[1].state(), "running");

  Mark("release-" + new_name);
  ASSERT_TRUE(cluster_.WaitForRunState("deploy/1", "passed", kRunDeadline));
  run = Show("deploy/1");
  ASSERT_TRUE(run.ok()) << run.status();
  attempts = Attempts(*run, "ship", "rollout");
  ASSERT_EQ(attempts.size(), 2u) << Describe(attempts);
  EXPECT_EQ(attempts[1].state(), "passed");
  EXPECT_EQ(attempts[1].agent_name(), new_name);
}

// ------------------------------------------------------------ controller

// kill -9 of the controller while two jobs run; one job finishes while it is
// down, the other after it restarts on the same port. Each job is recorded
// once, with every console line exactly once.
TEST_F(ResilienceE2eTest, ControllerKilledMidJobLosesNothing) {
  ASSERT_NO_FATAL_FAILURE(Start(kSlowLoss, 2));
  constexpr int kLines = 60;
  // Lines 1-20, gate `go`, lines 21-40 (the controller is dead), gate
  // `go2-JOB`, lines 41-60.
  const std::string script = cluster_.WriteFile(
      "scripts/count.sh",
      absl::StrCat(Prologue(),
                   "J=$GANTRY_JOB_NAME\n"
                   "n=1\n"
                   "while [ $n -le 20 ]; do echo \"line $n of $J\"; n=$((n+1)); done\n"
                   "wait_for go\n"
                   "while [ $n -le 40 ]; do echo \"line $n of $J\"; n=$((n+1)); done\n"
                   "touch \"$M/phase2-$J\"\n"
                   "wait_for \"go2-$J\"\n"
                   "while [ $n -le ",
                   kLines,
                   " ]; do echo \"line $n of $J\"; n=$((n+1)); done\n"
                   "touch \"$M/done-$J\"\n"));
  ASSERT_TRUE(cluster_
                  .ApplyConfig(absl::StrCat(
                      "format_version: 10\npipelines:\n",
                      PipelineYaml("count", "numbers",
                                   {{"early", script, {}}, {"late", script, {}}})))
                  .ok());
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "count"}).exit_code, 0);
  // Both jobs have their first 20 lines stored.
  for (const char* job : {"early", "late"}) {
    ASSERT_TRUE(WaitFor(
        [&] {
          CliResult r = cluster_.Cli(
              {"job", "log", absl::StrCat("count/1/numbers/", job)});
          return r.exit_code == 0 &&
                 CountLines(r.out, absl::StrCat("line 20 of ", job)) == 1;
        },
        absl::Seconds(30), kCliPoll))
        << job;
  }
  std::map<std::string, std::string> agent_of;
  {
    absl::StatusOr<v1::PipelineRun> run = Show("count/1");
    ASSERT_TRUE(run.ok()) << run.status();
    for (const char* job : {"early", "late"}) {
      std::vector<v1::JobRun> a = Attempts(*run, "numbers", job);
      ASSERT_EQ(a.size(), 1u);
      agent_of[job] = a[0].agent_name();
    }
  }

  ExitStatus killed = cluster_.KillController(SIGKILL);
  EXPECT_FALSE(cluster_.ControllerRunning()) << killed.ToString();
  Mark("go");
  for (const char* job : {"early", "late"}) {
    ASSERT_TRUE(WaitFor([&] { return Marked(absl::StrCat("phase2-", job)); },
                        absl::Seconds(30)));
  }
  Mark("go2-early");
  ASSERT_TRUE(WaitFor([&] { return Marked("done-early"); }, absl::Seconds(30)));

  absl::Status restarted = cluster_.RestartController();
  ASSERT_TRUE(restarted.ok()) << restarted;
  Mark("go2-late");
  ASSERT_TRUE(cluster_.WaitForRunState("count/1", "passed", kRunDeadline))
      << Dump(Show("count/1"));

  absl::StatusOr<v1::PipelineRun> run = Show("count/1");
  ASSERT_TRUE(run.ok()) << run.status();
  for (const char* job : {"early", "late"}) {
    SCOPED_TRACE(job);
    std::vector<v1::JobRun> attempts = Attempts(*run, "numbers", job);
    ASSERT_EQ(attempts.size(), 1u) << Describe(attempts);
    EXPECT_EQ(attempts[0].state(), "passed");
    EXPECT_EQ(attempts[0].agent_name(), agent_of[job]);
    absl::StatusOr<std::string> log =
        cluster_.JobLog(absl::StrCat("count/1/numbers/", job));
    ASSERT_TRUE(log.ok()) << log.status();
    for (int n = 1; n <= kLines; ++n) {
      EXPECT_EQ(CountLines(*log, absl::StrCat("line ", n, " of ", job)), 1)
          << "line " << n << " in:\n"
          << *log;
    }
  }
}

// ------------------------------------------------------------ PostgreSQL

class ResilienceE2ePostgresTest : public ResilienceE2eTest {
 protected:
  void TearDown() override {
    // Whatever happened, leave the server running for the Cluster's cleanup.
    if (pg_stopped_) StartSharedPostgres().IgnoreError();
  }

  // A job printing 50 lines: 1-20, then after gate `go` (the database is
  // down) lines 21-25, 3 s of silence (the outage lasts that long: only
  // heartbeats reach the controller meanwhile), lines 26-50, then `done`.
  void RunThroughOutage(const std::vector<std::string>& flags) {
    ASSERT_NO_FATAL_FAILURE(Start(flags, 1));
    const std::string script = cluster_.WriteFile(
        "scripts/outage.sh",
        absl::StrCat(Prologue(),
                     "n=1\n"
                     "while [ $n -le 20 ]; do echo \"line $n\"; n=$((n+1)); done\n"
                     "wait_for go\n"
                     "while [ $n -le 25 ]; do echo \"line $n\"; n=$((n+1)); done\n"
                     // The outage's length is what is under test: longer
                     // than kFastLoss's 2 s timeout, heartbeats only.
                     "sleep 3\n"
                     "while [ $n -le 50 ]; do echo \"line $n\"; n=$((n+1)); done\n"
                     "touch \"$M/done\"\n"));
    ASSERT_TRUE(cluster_
                    .ApplyConfig(absl::StrCat(
                        "format_version: 10\npipelines:\n",
                        PipelineYaml("db", "survive", {{"job", script, {}}})))
                    .ok());
    ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "db"}).exit_code, 0);
    ASSERT_TRUE(WaitFor(
        [&] {
          CliResult r = cluster_.Cli({"job", "log", "db/1/survive/job"});
          return r.exit_code == 0 && CountLines(r.out, "line 20") == 1;
        },
        absl::Seconds(30), kCliPoll));

    absl::Status stopped = StopSharedPostgres();
    ASSERT_TRUE(stopped.ok()) << stopped;
    pg_stopped_ = true;
    Mark("go");
    // The task prints and finishes while the database is down.
    ASSERT_TRUE(WaitFor([&] { return Marked("done"); }, absl::Seconds(30)));
    absl::Status started = StartSharedPostgres();
    ASSERT_TRUE(started.ok()) << started;
    pg_stopped_ = false;

    ASSERT_TRUE(cluster_.WaitForRunState("db/1", "passed", kRunDeadline))
        << Dump(Show("db/1"));
    absl::StatusOr<v1::PipelineRun> run = Show("db/1");
    ASSERT_TRUE(run.ok()) << run.status();
    std::vector<v1::JobRun> attempts = Attempts(*run, "survive", "job");
    ASSERT_EQ(attempts.size(), 1u) << Describe(attempts);
    EXPECT_EQ(attempts[0].state(), "passed") << Describe(attempts);
    absl::StatusOr<std::string> log = cluster_.JobLog("db/1/survive/job");
    ASSERT_TRUE(log.ok()) << log.status();
    for (int n = 1; n <= 50; ++n) {
      EXPECT_EQ(CountLines(*log, absl::StrCat("line ", n)), 1)
          << "line " << n << " in:\n"
          << *log;
    }
    // And the controller goes on working.
    Mark("release-" + cluster_.agent_name(0));
    CliResult again =
        cluster_.Cli({"pipeline", "trigger", "db", "--wait"}, kRunDeadline);
    EXPECT_EQ(again.exit_code, 0) << again.ToString();
  }

  bool pg_stopped_ = false;
};

// PostgreSQL stops under a running controller while a job prints and ends,
// and starts again: the controller reconnects, the run completes, every line
// is stored once.
TEST_F(ResilienceE2ePostgresTest, PostgresRestartMidRun) {
  RunThroughOutage(kSlowLoss);
}

// The same with an outage (about 3 s) longer than the agent-lost timeout
// (2 s): the agent kept talking the whole time, so it is not lost; the
// controller was the one that could not listen.
TEST_F(ResilienceE2ePostgresTest, PostgresOutageLongerThanAgentLostTimeoutLosesNoAgent) {
  RunThroughOutage(kFastLoss);
}

// ------------------------------------------------------------ timeouts

// `timeout: 2s` on a task that goes silent: the job is cancelled with the
// reason; `max_duration: 2s` on a task that keeps printing: the same.
TEST_F(ResilienceE2eTest, JobTimeoutAndMaxDurationCancel) {
  ASSERT_NO_FATAL_FAILURE(Start(kSlowLoss, 2));
  const std::string silent = cluster_.WriteFile(
      "scripts/silent.sh",
      absl::StrCat(Prologue(), "echo going quiet\nexec sleep 60\n"));
  const std::string chatty = cluster_.WriteFile(
      "scripts/chatty.sh",
      absl::StrCat(Prologue(),
                   "i=0; while [ $i -lt 600 ]; do echo \"tick $i\"; i=$((i+1)); "
                   "sleep 0.1; done\n"));
  ASSERT_TRUE(cluster_
                  .ApplyConfig(absl::StrCat(
                      "format_version: 10\npipelines:\n",
                      PipelineYaml("quiet", "wait", {{"silent", silent, {"timeout: 2s"}}}),
                      PipelineYaml("noisy", "talk",
                                   {{"chatty", chatty,
                                     {"timeout: 2s", "max_duration: 2s"}}})))
                  .ok());

  const absl::Time began = absl::Now();
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "quiet"}).exit_code, 0);
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "noisy"}).exit_code, 0);
  ASSERT_TRUE(cluster_.WaitForRunState("quiet/1", "cancelled", absl::Seconds(30)))
      << Dump(Show("quiet/1"));
  ASSERT_TRUE(cluster_.WaitForRunState("noisy/1", "cancelled", absl::Seconds(30)))
      << Dump(Show("noisy/1"));
  EXPECT_LE(absl::Now() - began, absl::Seconds(15));

  struct Expect {
    std::string locator, stage, job, reason;
  };
  for (const Expect& e : std::vector<Expect>{
           {"quiet/1", "wait", "silent", "no console output for 2s"},
           {"noisy/1", "talk", "chatty", "ran longer than max_duration 2s"}}) {
    SCOPED_TRACE(e.locator);
    absl::StatusOr<v1::PipelineRun> run = Show(e.locator);
    ASSERT_TRUE(run.ok()) << run.status();
    ASSERT_NE(FindStage(*run, e.stage), nullptr);
    EXPECT_EQ(FindStage(*run, e.stage)->state(), "cancelled");
    std::vector<v1::JobRun> attempts = Attempts(*run, e.stage, e.job);
    ASSERT_EQ(attempts.size(), 1u) << Describe(attempts);
    EXPECT_EQ(attempts[0].state(), "cancelled");
    EXPECT_TRUE(absl::StrContains(attempts[0].reason(), e.reason))
        << attempts[0].reason();
    // It ran at least the 2 s, and was stopped soon after.
    absl::Duration ran =
        absl::Seconds(attempts[0].finished_at().seconds() -
                      attempts[0].started_at().seconds()) +
        absl::Nanoseconds(attempts[0].finished_at().nanos() -
                          attempts[0].started_at().nanos());
    EXPECT_GE(ran, absl::Milliseconds(1900));
    EXPECT_LE(ran, absl::Seconds(8));
  }
  absl::StatusOr<std::string> log = cluster_.JobLog("noisy/1/talk/chatty");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StrContains(*log, "tick 10\n")) << *log;
}

// ------------------------------------------------------------ cancel

// `gantry stage cancel` stops a task's whole process tree: the task's
// background grandchild is gone within the kill grace period, and the job
// ends `cancelled` with the reason.
TEST_F(ResilienceE2eTest, CancelKillsTheTasksWholeProcessTree) {
  ASSERT_NO_FATAL_FAILURE(Start(kSlowLoss, 1));
  const std::string script = cluster_.WriteFile(
      "scripts/tree.sh",
      absl::StrCat(Prologue(),
                   "sleep 1000 &\n"
                   "echo $! > \"$M/grandchild.tmp\"\n"
                   "mv \"$M/grandchild.tmp\" \"$M/grandchild.pid\"\n"
                   "echo spawned the grandchild\n"
                   "wait\n"));
  ASSERT_TRUE(cluster_
                  .ApplyConfig(absl::StrCat(
                      "format_version: 10\npipelines:\n",
                      PipelineYaml("tree", "grow", {{"forest", script, {}}})))
                  .ok());
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "tree"}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return Marked("grandchild.pid"); }, absl::Seconds(30)));
  const pid_t grandchild = MarkedPid("grandchild.pid");
  ASSERT_GT(grandchild, 0);
  ASSERT_FALSE(ProcessGone(grandchild));
  std::vector<v1::JobRun> attempts = WaitForAttempts(
      "tree/1", "grow", "forest",
      [](const auto& a) { return a.size() == 1 && a[0].state() == "running"; });
  ASSERT_EQ(attempts.size(), 1u) << Describe(attempts);

  const absl::Time cancelled = absl::Now();
  CliResult cancel = cluster_.Cli({"stage", "cancel", "tree/1/grow"});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.ToString();
  // The agent's kill grace is 10 s; SIGTERM alone ends this tree.
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(grandchild); }, absl::Seconds(10)))
      << "grandchild " << grandchild << " survived the cancel";
  EXPECT_LE(absl::Now() - cancelled, absl::Seconds(10));

  attempts = WaitForAttempts("tree/1", "grow", "forest", [](const auto& a) {
    return a.size() == 1 && a[0].state() == "cancelled";
  });
  ASSERT_EQ(attempts.size(), 1u) << Describe(attempts);
  EXPECT_EQ(attempts[0].state(), "cancelled") << Describe(attempts);
  EXPECT_FALSE(attempts[0].reason().empty()) << Describe(attempts);
  EXPECT_TRUE(absl::StrContains(absl::AsciiStrToLower(attempts[0].reason()),
                                "cancel"))
      << Describe(attempts);
  ASSERT_TRUE(cluster_.WaitForRunState("tree/1", "cancelled", absl::Seconds(15)));
  absl::StatusOr<v1::PipelineRun> run = Show("tree/1");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(FindStage(*run, "grow")->state(), "cancelled");
  absl::StatusOr<std::string> log = cluster_.JobLog("tree/1/grow/forest");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StrContains(*log, "spawned the grandchild")) << *log;
}

}  // namespace
}  // namespace gantry::e2e
