// End-to-end: the foundation's pipeline behaviour, through the real
// controller, agent and CLI on a real PostgreSQL.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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

const v1::StageRun* FindStage(const v1::PipelineRun& run, const std::string& name) {
  for (const v1::StageRun& s : run.stages()) {
    if (s.name() == name) return &s;
  }
  return nullptr;
}

const v1::JobRun* FindJob(const v1::StageRun& stage, const std::string& name) {
  for (const v1::JobRun& j : stage.jobs()) {
    if (j.name() == name) return &j;
  }
  return nullptr;
}

class PipelineE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = cluster_.StartController();
    ASSERT_TRUE(started.ok()) << started;
    absl::StatusOr<int> agent = cluster_.StartAgent();
    ASSERT_TRUE(agent.ok()) << agent.status();
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << "the agent never became idle";
  }

  // Applies a config; fails the test if the controller refuses it.
  void Apply(const std::string& yaml) {
    absl::Status applied = cluster_.ApplyConfig(yaml);
    ASSERT_TRUE(applied.ok()) << applied;
  }

  // The job's whole log; failing to read it fails the test.
  std::string JobLog(const std::string& locator) {
    absl::StatusOr<std::string> log = cluster_.JobLog(locator);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.value_or("");
  }

  Cluster cluster_;
};

// A two-stage pipeline runs both stages, in order, and passes.
TEST_F(PipelineE2eTest, TwoStagePipelinePasses) {
  ASSERT_NO_FATAL_FAILURE(Apply(absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  two:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - build:\n"
      "          jobs:\n",
      ShellJob("compile", "echo building $GANTRY_PIPELINE_NAME/$GANTRY_PIPELINE_COUNTER"),
      "      - test:\n"
      "          jobs:\n",
      ShellJob("unit", "echo testing in $GANTRY_STAGE_NAME"))));

  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "two", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();

  absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun("two/1");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), "passed");
  ASSERT_EQ(run->stages_size(), 2);
  EXPECT_EQ(run->stages(0).name(), "build");
  EXPECT_EQ(run->stages(1).name(), "test");
  for (const v1::StageRun& stage : run->stages()) {
    EXPECT_EQ(stage.state(), "passed") << stage.name();
    ASSERT_EQ(stage.jobs_size(), 1) << stage.name();
    EXPECT_EQ(stage.jobs(0).state(), "passed") << stage.name();
    EXPECT_EQ(stage.jobs(0).agent_name(), cluster_.agent_name(0));
  }
  EXPECT_TRUE(absl::StrContains(JobLog("two/1/build/compile"), "building two/1"));
  EXPECT_TRUE(absl::StrContains(JobLog("two/1/test/unit"), "testing in test"));
}

// A failing task fails its job and stage; the stage's other job still
// finishes, later tasks of the failed job and later stages do not run.
TEST_F(PipelineE2eTest, FailingTaskFailsStageAndEndsRun) {
  ASSERT_NO_FATAL_FAILURE(
      Apply(absl::StrCat("format_version: 10\n"
                         "pipelines:\n"
                         "  failing:\n"
                         "    group: e2e\n"
                         "    stages:\n"
                         "      - build:\n"
                         "          jobs:\n"
                         "            bad:\n"
                         "              tasks:\n"
                         "                - exec:\n"
                         "                    command: /bin/sh\n"
                         "                    arguments:\n"
                         "                      - -c\n"
                         "                      - \"echo before failure; exit 3\"\n"
                         "                - exec:\n"
                         "                    command: /bin/sh\n"
                         "                    arguments:\n"
                         "                      - -c\n"
                         "                      - \"echo after failure\"\n",
                         ShellJob("good", "echo the good job"),
                         "      - deploy:\n"
                         "          jobs:\n",
                         ShellJob("ship", "echo shipping"))));

  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "failing", "--wait"}, kRunDeadline);
  EXPECT_EQ(trigger.exit_code, 1) << trigger.ToString();

  absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun("failing/1");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), "failed");
  const v1::StageRun* build = FindStage(*run, "build");
  ASSERT_NE(build, nullptr);
  EXPECT_EQ(build->state(), "failed");
  const v1::JobRun* bad = FindJob(*build, "bad");
  const v1::JobRun* good = FindJob(*build, "good");
  ASSERT_NE(bad, nullptr);
  ASSERT_NE(good, nullptr);
  EXPECT_EQ(bad->state(), "failed");
  EXPECT_EQ(good->state(), "passed");
  const v1::StageRun* deploy = FindStage(*run, "deploy");
  if (deploy != nullptr) {
    EXPECT_EQ(deploy->state(), "not_run");
    for (const v1::JobRun& job : deploy->jobs()) {
      EXPECT_EQ(job.state(), "not_run") << job.name();
    }
  }
  // The task's own output lines (the agent's "[gantry] ..." lines may quote
  // the skipped command).
  std::string log = JobLog("failing/1/build/bad");
  EXPECT_TRUE(absl::StrContains(log, "\nbefore failure\n")) << log;
  EXPECT_FALSE(absl::StrContains(log, "\nafter failure\n")) << log;
  EXPECT_TRUE(absl::StrContains(JobLog("failing/1/build/good"), "the good job"));
}

// A manual gate stops the run until the stage is approved; then it goes on.
TEST_F(PipelineE2eTest, ManualGateWaitsForApproval) {
  ASSERT_NO_FATAL_FAILURE(
      Apply(absl::StrCat("format_version: 10\n"
                         "pipelines:\n"
                         "  gated:\n"
                         "    group: e2e\n"
                         "    stages:\n"
                         "      - build:\n"
                         "          jobs:\n",
                         ShellJob("compile", "echo built"),
                         "      - deploy:\n"
                         "          approval: manual\n"
                         "          jobs:\n",
                         ShellJob("ship", "echo shipped after approval"))));

  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "gated", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 3) << trigger.ToString();

  absl::StatusOr<v1::PipelineRun> waiting = cluster_.ShowRun("gated/1");
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  EXPECT_EQ(waiting->state(), "awaiting_approval");
  const v1::StageRun* build = FindStage(*waiting, "build");
  ASSERT_NE(build, nullptr);
  EXPECT_EQ(build->state(), "passed");
  const v1::StageRun* gate = FindStage(*waiting, "deploy");
  ASSERT_NE(gate, nullptr);
  EXPECT_EQ(gate->state(), "awaiting_approval");
  EXPECT_EQ(gate->approval(), "manual");
  for (const v1::JobRun& job : gate->jobs()) {
    EXPECT_TRUE(job.state() != "assigned" && job.state() != "running" && job.state() != "passed" &&
                job.state() != "failed")
        << "deploy job " << job.name() << " ran before approval: " << job.state();
  }

  CliResult approve = cluster_.Cli({"stage", "approve", "gated/1/deploy"});
  ASSERT_EQ(approve.exit_code, 0) << approve.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("gated/1", "passed", kRunDeadline))
      << cluster_.ShowRun("gated/1").status();

  absl::StatusOr<v1::PipelineRun> done = cluster_.ShowRun("gated/1");
  ASSERT_TRUE(done.ok()) << done.status();
  const v1::StageRun* deploy = FindStage(*done, "deploy");
  ASSERT_NE(deploy, nullptr);
  EXPECT_EQ(deploy->state(), "passed");
  EXPECT_FALSE(deploy->approved_by().empty());
  EXPECT_TRUE(absl::StrContains(JobLog("gated/1/deploy/ship"), "shipped after approval"));
}

// A pipeline with a pipeline material starts when that upstream stage passes.
TEST_F(PipelineE2eTest, DownstreamStartsWhenUpstreamStagePasses) {
  ASSERT_NO_FATAL_FAILURE(
      Apply(absl::StrCat("format_version: 10\n"
                         "pipelines:\n"
                         "  lib:\n"
                         "    group: e2e\n"
                         "    stages:\n"
                         "      - compile:\n"
                         "          jobs:\n",
                         ShellJob("make", "echo compiling lib"),
                         "      - package:\n"
                         "          jobs:\n",
                         ShellJob("tar", "echo packaging lib"),
                         "  app:\n"
                         "    group: e2e\n"
                         "    materials:\n"
                         "      lib:\n"
                         "        pipeline: lib\n"
                         "        stage: compile\n"
                         "    stages:\n"
                         "      - deploy:\n"
                         "          jobs:\n",
                         ShellJob("release", "echo releasing app"))));

  EXPECT_FALSE(cluster_.ShowRun("app").ok()) << "app ran before lib";
  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "lib", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();

  ASSERT_TRUE(cluster_.WaitForRunState("app/1", "passed", kRunDeadline))
      << cluster_.ShowRun("app/1").status();
  absl::StatusOr<v1::PipelineRun> app = cluster_.ShowRun("app/1");
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_EQ(app->cause().kind(), "upstream");
  // Exactly one downstream run for one upstream pass.
  EXPECT_FALSE(cluster_.ShowRun("app/2").ok());
  EXPECT_TRUE(absl::StrContains(JobLog("app/1/deploy/release"), "releasing app"));
}

// An invalid config is refused with its line number, and the config in force
// stays as it was.
TEST_F(PipelineE2eTest, InvalidConfigIsRefusedAndOldOneStays) {
  const std::string good = absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  keep:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - build:\n"
      "          jobs:\n",
      ShellJob("compile", "echo still here"));
  ASSERT_NO_FATAL_FAILURE(Apply(good));

  std::string bad_path =
      cluster_.WriteFile("config/bad.gocd.yaml",
                         "format_version: 10\n"                     // 1
                         "pipelines:\n"                             // 2
                         "  keep:\n"                                // 3
                         "    group: e2e\n"                         // 4
                         "    stages:\n"                            // 5
                         "      - build:\n"                         // 6
                         "          jobs:\n"                        // 7
                         "            compile:\n"                   // 8
                         "              tasks:\n"                   // 9
                         "                - exec:\n"                // 10
                         "                    comand: /bin/true\n"  // 11: the typo
                         "  added:\n"
                         "    group: e2e\n"
                         "    stages:\n"
                         "      - build:\n"
                         "          jobs:\n" +
                             ShellJob("compile", "echo new"));
  CliResult refused = cluster_.Cli({"config", "apply", "-f", bad_path});
  EXPECT_NE(refused.exit_code, 0) << refused.ToString();
  EXPECT_TRUE(absl::StrContains(refused.err, "bad.gocd.yaml:11:")) << refused.ToString();
  EXPECT_TRUE(absl::StrContains(refused.err, "comand")) << refused.ToString();

  CliResult shown = cluster_.Cli({"config", "show"});
  ASSERT_EQ(shown.exit_code, 0) << shown.ToString();
  EXPECT_TRUE(absl::StrContains(shown.out, "config revision 1 ")) << shown.out;
  EXPECT_FALSE(absl::StrContains(shown.out, "comand")) << shown.out;
  CliResult list = cluster_.Cli({"pipeline", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.ToString();
  EXPECT_TRUE(absl::StrContains(list.out, "keep"));
  EXPECT_FALSE(absl::StrContains(list.out, "added"));

  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "keep", "--wait"}, kRunDeadline);
  EXPECT_EQ(trigger.exit_code, 0) << trigger.ToString();
  EXPECT_TRUE(absl::StrContains(JobLog("keep/1/build/compile"), "still here"));
}

}  // namespace
}  // namespace gantry::e2e
