// End-to-end: `gantry stage rerun` through the real controller, agent and
// CLI on a real PostgreSQL. A re-run of an old run's stage after the config
// changed runs that run's own config revision and variables, as attempt 2
// with GANTRY_STAGE_COUNTER / GANTRY_RERUN_OF_STAGE_COUNTER, and only that
// stage; a fetch in a re-run reads the original upstream run's artifact;
// a paused pipeline refuses a re-run, saying who paused it and why.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gantry/v1/operator.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(90);

// The deploy pipeline as of `version`: its variable and its job's text both
// change between versions, so a log tells which revision ran.
std::string DeployConfig(const std::string& version) {
  return absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  deploy:\n"
      "    group: e2e\n"
      "    environment_variables: {VERSION: ",
      version,
      "}\n"
      "    stages:\n"
      "      - go:\n"
      "          jobs:\n"
      "            d:\n"
      "              tasks:\n"
      "                - exec:\n"
      "                    command: /bin/sh\n"
      "                    arguments:\n"
      "                      - -c\n"
      "                      - \"echo config-",
      version,
      " version=$VERSION counter=$GANTRY_STAGE_COUNTER "
      "rerun_of=$GANTRY_RERUN_OF_STAGE_COUNTER\"\n"
      "      - after:\n"
      "          jobs:\n"
      "            a:\n"
      "              tasks:\n"
      "                - exec: {command: \"true\"}\n");
}

class RerunE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = cluster_.StartController();
    ASSERT_TRUE(started.ok()) << started;
    absl::StatusOr<int> agent = cluster_.StartAgent();
    ASSERT_TRUE(agent.ok()) << agent.status();
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << "the agent never became idle";
    absl::Status applied = cluster_.ApplyConfig(DeployConfig("v1"));
    ASSERT_TRUE(applied.ok()) << applied;
  }

  Cluster cluster_;
};

// Re-running deploy/1/go after the config moved to v2 runs v1's job with
// v1's variables as attempt 2, and the later stage does not run again.
TEST_F(RerunE2eTest, RerunUsesTheRunsOwnConfigAndOnlyThatStage) {
  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "deploy", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString() << cluster_.LogTails();
  ASSERT_TRUE(cluster_.ApplyConfig(DeployConfig("v2")).ok());

  CliResult rerun = cluster_.Cli({"stage", "rerun", "deploy/1/go"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.ToString() << cluster_.LogTails();
  EXPECT_TRUE(absl::StartsWith(rerun.out, "re-running deploy/1/go as attempt 2")) << rerun.out;

  absl::StatusOr<std::string> log = cluster_.JobLog("deploy/1/go/2/d", kRunDeadline);
  ASSERT_TRUE(log.ok()) << log.status() << cluster_.LogTails();
  EXPECT_TRUE(absl::StrContains(*log, "config-v1 version=v1 counter=2 rerun_of=1")) << *log;
  ASSERT_TRUE(cluster_.WaitForRunState("deploy/1", "passed", kRunDeadline)) << cluster_.LogTails();

  absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun("deploy/1");
  ASSERT_TRUE(run.ok()) << run.status();
  // The view shows each stage's newest attempt.
  int go = 0, after = 0;
  for (const v1::StageRun& s : run->stages()) {
    if (s.name() == "go") go = s.counter();
    if (s.name() == "after") after = s.counter();
  }
  EXPECT_EQ(go, 2) << run->DebugString();
  EXPECT_EQ(after, 1) << "the re-run dragged the later stage along: " << run->DebugString();
}

// --and-following: after the re-run of deploy/1/go, the later stage runs
// again too (attempt 2), as its approval (automatic) says.
TEST_F(RerunE2eTest, RerunAndFollowingRunsTheLaterStagesToo) {
  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "deploy", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString() << cluster_.LogTails();
  CliResult rerun = cluster_.Cli({"stage", "rerun", "deploy/1/go", "--and-following"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.ToString() << cluster_.LogTails();
  absl::StatusOr<std::string> log = cluster_.JobLog("deploy/1/after/2/a", kRunDeadline);
  ASSERT_TRUE(log.ok()) << log.status() << cluster_.LogTails();
  ASSERT_TRUE(cluster_.WaitForRunState("deploy/1", "passed", kRunDeadline)) << cluster_.LogTails();
  absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun("deploy/1");
  ASSERT_TRUE(run.ok()) << run.status();
  int go = 0, after = 0;
  for (const v1::StageRun& s : run->stages()) {
    if (s.name() == "go") go = s.counter();
    if (s.name() == "after") after = s.counter();
  }
  EXPECT_EQ(go, 2) << run->DebugString();
  EXPECT_EQ(after, 2) << run->DebugString();
}

// A paused pipeline refuses a re-run and says who paused it and why.
TEST_F(RerunE2eTest, PausedPipelineRefusesRerun) {
  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "deploy", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString() << cluster_.LogTails();
  CliResult pause = cluster_.Cli({"pipeline", "pause", "deploy", "--reason", "prod freeze"});
  ASSERT_EQ(pause.exit_code, 0) << pause.ToString();

  CliResult rerun = cluster_.Cli({"stage", "rerun", "deploy/1/go"});
  EXPECT_EQ(rerun.exit_code, 1) << rerun.ToString();
  EXPECT_TRUE(absl::StrContains(rerun.err, "cannot re-run stage deploy/1/go")) << rerun.err;
  EXPECT_TRUE(absl::StrContains(rerun.err, "paused by admin")) << rerun.err;
  EXPECT_TRUE(absl::StrContains(rerun.err, "prod freeze")) << rerun.err;
}

// A fetch in a re-run of ship/1 reads build/1's artifact, the upstream run
// ship/1 was triggered by, even though build/2 has passed since.
TEST_F(RerunE2eTest, RerunFetchesTheOriginalUpstreamArtifact) {
  ASSERT_TRUE(cluster_
                  .ApplyConfig("format_version: 10\n"
                               "pipelines:\n"
                               "  build:\n"
                               "    group: e2e\n"
                               "    stages:\n"
                               "      - pkg:\n"
                               "          jobs:\n"
                               "            make:\n"
                               "              artifacts:\n"
                               "                - build: {source: out/v.txt}\n"
                               "              tasks:\n"
                               "                - exec:\n"
                               "                    command: /bin/sh\n"
                               "                    arguments:\n"
                               "                      - -c\n"
                               "                      - \"mkdir -p out && echo "
                               "build-$GANTRY_PIPELINE_COUNTER > out/v.txt\"\n"
                               "  ship:\n"
                               "    group: e2e\n"
                               "    materials:\n"
                               "      up: {pipeline: build, stage: pkg}\n"
                               "    stages:\n"
                               "      - deploy:\n"
                               "          jobs:\n"
                               "            get:\n"
                               "              tasks:\n"
                               "                - fetch: {pipeline: build, stage: pkg, job: make, "
                               "file: v.txt}\n"
                               "                - exec:\n"
                               "                    command: /bin/sh\n"
                               "                    arguments:\n"
                               "                      - -c\n"
                               "                      - \"echo fetched=$(cat v.txt)\"\n")
                  .ok());
  for (int n = 1; n <= 2; ++n) {
    CliResult trigger = cluster_.Cli({"pipeline", "trigger", "build", "--wait"}, kRunDeadline);
    ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString() << cluster_.LogTails();
    ASSERT_TRUE(cluster_.WaitForRunState(absl::StrCat("ship/", n), "passed", kRunDeadline))
        << cluster_.LogTails();
  }
  CliResult rerun = cluster_.Cli({"stage", "rerun", "ship/1/deploy"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.ToString() << cluster_.LogTails();
  absl::StatusOr<std::string> log = cluster_.JobLog("ship/1/deploy/2/get", kRunDeadline);
  ASSERT_TRUE(log.ok()) << log.status() << cluster_.LogTails();
  EXPECT_TRUE(absl::StrContains(*log, "fetched=build-1")) << *log;
  EXPECT_FALSE(absl::StrContains(*log, "fetched=build-2")) << *log;
  ASSERT_TRUE(cluster_.WaitForRunState("ship/1", "passed", kRunDeadline)) << cluster_.LogTails();
}

}  // namespace
}  // namespace gantry::e2e
