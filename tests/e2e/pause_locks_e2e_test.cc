// End-to-end: `gantry pipeline pause|unpause|unlock` and `lock_behavior`
// through the real controller, agent and CLI on a real PostgreSQL. A paused
// pipeline refuses a trigger and an approval and, once unpaused, runs once
// with the newest upstream that passed meanwhile; lockOnFailure keeps a
// pipeline locked after a failed run until `unlock`; unlockWhenFinished
// releases the lock when the run ends.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/testing/wait_for.h"
#include "gantry/v1/operator.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(90);

// YAML for a job named `job` with one task, `/bin/sh -c script`.
std::string ShellJob(const std::string& job, const std::string& script) {
  return absl::StrCat("            ", job, ":\n",
                      "              tasks:\n"
                      "                - exec:\n"
                      "                    command: /bin/sh\n"
                      "                    arguments:\n"
                      "                      - -c\n"
                      "                      - \"",
                      script, "\"\n");
}

// A two-stage pipeline whose first job fails when triggered with --var FAIL=1.
std::string LockedPipeline(const std::string& name, const std::string& behavior) {
  return absl::StrCat("  ", name, ":\n    group: e2e\n    lock_behavior: ", behavior,
                      "\n    environment_variables: {FAIL: '0'}\n    stages:\n"
                      "      - first:\n          jobs:\n",
                      ShellJob("maybe", "test $FAIL != 1"), "      - second:\n          jobs:\n",
                      ShellJob("after", "echo second"));
}

class PauseLocksE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = cluster_.StartController();
    ASSERT_TRUE(started.ok()) << started;
    absl::StatusOr<int> agent = cluster_.StartAgent();
    ASSERT_TRUE(agent.ok()) << agent.status();
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << "the agent never became idle";
    absl::Status applied = cluster_.ApplyConfig(
        absl::StrCat("format_version: 10\n"
                     "pipelines:\n"
                     "  up:\n"
                     "    group: e2e\n"
                     "    stages:\n"
                     "      - s:\n"
                     "          jobs:\n",
                     ShellJob("j", "echo up"),
                     "  down:\n"
                     "    group: e2e\n"
                     "    materials:\n"
                     "      up: {pipeline: up, stage: s}\n"
                     "    stages:\n"
                     "      - go:\n"
                     "          jobs:\n",
                     ShellJob("d", "echo down"),
                     "      - gate:\n"
                     "          approval: manual\n"
                     "          jobs:\n",
                     ShellJob("g", "echo gate"), LockedPipeline("onfail", "lockOnFailure"),
                     LockedPipeline("whenfinished", "unlockWhenFinished")));
    ASSERT_TRUE(applied.ok()) << applied;
  }

  // The pipeline's controls from `pipeline list -o json`.
  v1::PipelineControls Controls(const std::string& pipeline) {
    CliResult r = cluster_.Cli({"-o", "json", "pipeline", "list"});
    EXPECT_EQ(r.exit_code, 0) << r.ToString();
    v1::ListPipelinesResponse list;
    EXPECT_TRUE(ParseJson(r.out, &list)) << r.out;
    for (const auto& p : list.pipelines()) {
      if (p.name() == pipeline) return p.controls();
    }
    ADD_FAILURE() << "no pipeline " << pipeline << " in " << r.out;
    return {};
  }

  void TriggerAndExpect(const std::string& pipeline, int exit_code,
                        std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"pipeline", "trigger", pipeline, "--wait"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliResult r = cluster_.Cli(args, kRunDeadline);
    ASSERT_EQ(r.exit_code, exit_code) << r.ToString() << cluster_.LogTails();
  }

  Cluster cluster_;
};

// A paused pipeline refuses a trigger and an approval, naming who paused it
// and why; upstream runs that pass meanwhile trigger nothing, and unpausing
// runs it once, with the newest of them.
TEST_F(PauseLocksE2eTest, PausedPipelineRefusesThenRunsWithNewestUpstream) {
  TriggerAndExpect("up", 0);
  ASSERT_TRUE(cluster_.WaitForRunState("down/1", "awaiting_approval", kRunDeadline))
      << cluster_.LogTails();

  CliResult pause = cluster_.Cli({"pipeline", "pause", "down", "--reason", "prod freeze"});
  ASSERT_EQ(pause.exit_code, 0) << pause.ToString();
  EXPECT_TRUE(absl::StartsWith(pause.out, "paused down by admin at ")) << pause.out;

  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "down"});
  EXPECT_EQ(trigger.exit_code, 1) << trigger.ToString();
  EXPECT_TRUE(absl::StrContains(trigger.err, "paused by admin at ")) << trigger.err;
  EXPECT_TRUE(absl::StrContains(trigger.err, ": prod freeze")) << trigger.err;
  CliResult approve = cluster_.Cli({"stage", "approve", "down/1/gate"});
  EXPECT_EQ(approve.exit_code, 1) << approve.ToString();
  EXPECT_TRUE(absl::StrContains(approve.err, "pipeline down is paused by admin")) << approve.err;
  EXPECT_TRUE(absl::StrContains(approve.err, "prod freeze")) << approve.err;

  v1::PipelineControls controls = Controls("down");
  EXPECT_TRUE(controls.paused());
  EXPECT_EQ(controls.paused_by(), "admin");
  EXPECT_EQ(controls.pause_reason(), "prod freeze");
  CliResult list = cluster_.Cli({"pipeline", "list"});
  EXPECT_TRUE(absl::StrContains(list.out, "down is paused by admin at ")) << list.out;
  absl::StatusOr<v1::PipelineRun> shown = cluster_.ShowRun("down/1");
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_TRUE(shown->controls().paused());

  // Two upstream runs pass while down is paused: the newest one waits.
  TriggerAndExpect("up", 0);
  TriggerAndExpect("up", 0);
  EXPECT_EQ(Controls("down").waiting_trigger(), "up/3/s/1");
  EXPECT_FALSE(cluster_.ShowRun("down/2").ok()) << "a paused pipeline was triggered";

  CliResult unpause = cluster_.Cli({"pipeline", "unpause", "down"});
  ASSERT_EQ(unpause.exit_code, 0) << unpause.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("down/2", "awaiting_approval", kRunDeadline))
      << cluster_.LogTails();
  absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun("down/2");
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->cause().materials_size(), 1);
  EXPECT_EQ(run->cause().materials(0).upstream_counter(), 3);
  EXPECT_EQ(run->cause().kind(), "upstream");
  EXPECT_FALSE(cluster_.ShowRun("down/3").ok()) << "the waiting trigger ran more than once";
  EXPECT_EQ(Controls("down").waiting_trigger(), "");

  approve = cluster_.Cli({"stage", "approve", "down/1/gate"});
  EXPECT_EQ(approve.exit_code, 0) << approve.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("down/1", "passed", kRunDeadline)) << cluster_.LogTails();
}

// lockOnFailure: after a run fails in its first stage the pipeline stays
// locked (triggers are refused, naming the run) until `pipeline unlock`.
TEST_F(PauseLocksE2eTest, LockOnFailureBlocksAfterFailureUntilUnlock) {
  TriggerAndExpect("onfail", 1, {"--var", "FAIL=1"});
  v1::PipelineControls controls = Controls("onfail");
  EXPECT_EQ(controls.lock_behavior(), "lockOnFailure");
  EXPECT_EQ(controls.locked_by(), 1);
  CliResult show = cluster_.Cli({"pipeline", "show", "onfail"});
  EXPECT_TRUE(absl::StrContains(show.out, "lock:            lockOnFailure, held by onfail/1"))
      << show.out;

  CliResult refused = cluster_.Cli({"pipeline", "trigger", "onfail"});
  EXPECT_EQ(refused.exit_code, 1) << refused.ToString();
  EXPECT_TRUE(absl::StrContains(refused.err, "locked by its run onfail/1")) << refused.err;
  EXPECT_FALSE(cluster_.ShowRun("onfail/2").ok());

  CliResult unlock = cluster_.Cli({"pipeline", "unlock", "onfail"});
  ASSERT_EQ(unlock.exit_code, 0) << unlock.ToString();
  EXPECT_EQ(unlock.out, "unlocked onfail\n");
  EXPECT_EQ(Controls("onfail").locked_by(), 0);
  CliResult again = cluster_.Cli({"pipeline", "unlock", "onfail"});
  EXPECT_EQ(again.exit_code, 1) << again.ToString();
  EXPECT_TRUE(absl::StrContains(again.err, "is not locked")) << again.err;

  TriggerAndExpect("onfail", 0);  // a passing run takes and releases the lock
  EXPECT_EQ(Controls("onfail").locked_by(), 0);
}

// unlockWhenFinished: the lock is released when the run ends, even failed.
TEST_F(PauseLocksE2eTest, UnlockWhenFinishedReleasesAtTheEnd) {
  TriggerAndExpect("whenfinished", 1, {"--var", "FAIL=1"});
  EXPECT_EQ(Controls("whenfinished").locked_by(), 0);
  TriggerAndExpect("whenfinished", 0);
  EXPECT_EQ(Controls("whenfinished").locked_by(), 0);
}

}  // namespace
}  // namespace gantry::e2e
