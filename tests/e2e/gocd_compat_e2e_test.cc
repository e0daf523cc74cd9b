// End-to-end: GoCD YAML as GoCD users write it runs. A pipeline takes its
// stages from a template in another file, with parameters; its `script`
// tasks run as the script-executor plugin runs them (bash, the script's
// status); a job with `elastic_profile_id` lands only on the agent that
// carries that profile; a timer triggers a pipeline.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "gantry/v1/operator.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(60);

constexpr char kPlain[] = "plain";    // linux
constexpr char kDocker[] = "docker";  // linux, and the profile docker-large

const v1::JobRun* FindJob(const v1::PipelineRun& run, const std::string& stage,
                          const std::string& job) {
  for (const v1::StageRun& s : run.stages()) {
    if (s.name() != stage) continue;
    for (const v1::JobRun& j : s.jobs()) {
      if (j.name() == job) return &j;
    }
  }
  return nullptr;
}

class GoCDCompatE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = cluster_.StartController({});
    ASSERT_TRUE(started.ok()) << started;
    for (const AgentOptions& o :
         {AgentOptions{kPlain, {"linux"}, {}, {}},
          AgentOptions{kDocker, {"linux", "elastic-docker-large"}, {}, {}}}) {
      absl::StatusOr<int> agent = cluster_.StartAgent(o);
      ASSERT_TRUE(agent.ok()) << agent.status();
    }
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << "agents never became idle";
  }

  std::string Marker(const std::string& name) {
    absl::StatusOr<std::string> s = ReadFile(absl::StrCat(cluster_.dir(), "/out/", name));
    return s.ok() ? std::string(absl::StripAsciiWhitespace(*s)) : "<none>";
  }

  Cluster cluster_;
};

// The template's stages run with the pipeline's parameters substituted; a
// script's status is its last command's (`false` then `true` passes), `exit 7`
// fails its job and stops the script there, and a `run_if: failed` script
// runs after it; the elastic-profile job ran on the agent with the profile,
// three times out of three.
TEST_F(GoCDCompatE2eTest, TemplateParametersScriptsAndElasticProfiles) {
  const std::string out = cluster_.dir() + "/out";
  // The elastic jobs run beside `scripted`, which makes the directory: it
  // must exist before either appends to it.
  cluster_.WriteFile("out/.keep", "");
  std::string templates = cluster_.WriteFile("config/templates.gocd.yaml", R"yaml(format_version: 10
templates:
  build-verify:
    stages:
      - build:
          jobs:
            scripted:
              tasks:
                - script: |
                    mkdir -p #{out}
                    echo "#{greeting} from $GANTRY_PIPELINE_NAME" > #{out}/greeting
                    false
                    true
            elastic:
              elastic_profile_id: "#{profile}"
              run_instances: 3
              tasks:
                - script: 'echo "$(basename "$(dirname "$(dirname "$(pwd -P)")")")" >> #{out}/elastic'
      - verify:
          jobs:
            failing:
              tasks:
                - script: |
                    echo before > #{out}/failing
                    exit 7
                    echo after >> #{out}/failing
                - script:
                    script: 'echo "cleanup ##1" > #{out}/cleanup'
                    run_if: failed
)yaml");
  std::string pipelines =
      cluster_.WriteFile("config/pipelines.gocd.yaml", absl::StrCat(R"(format_version: 10
pipelines:
  app:
    group: e2e
    display_order: -1
    template: build-verify
    parameters:
      greeting: hello
      profile: docker-large
      out: )",
                                                                    out, "\n"));
  CliResult apply = cluster_.Cli({"config", "apply", "-f", templates, "-f", pipelines});
  ASSERT_EQ(apply.exit_code, 0) << apply.ToString();

  CliResult run = cluster_.Cli({"pipeline", "trigger", "app", "--wait"}, kRunDeadline);
  EXPECT_NE(run.exit_code, 0) << run.ToString();  // the verify stage fails

  absl::StatusOr<v1::PipelineRun> shown = cluster_.ShowRun("app/1");
  ASSERT_TRUE(shown.ok()) << shown.status();
  const v1::JobRun* scripted = FindJob(*shown, "build", "scripted");
  ASSERT_NE(scripted, nullptr) << shown->DebugString();
  EXPECT_EQ(scripted->state(), "passed");
  EXPECT_EQ(Marker("greeting"), "hello from app");

  int elastic_jobs = 0;
  for (const v1::StageRun& s : shown->stages()) {
    for (const v1::JobRun& j : s.jobs()) {
      if (!absl::StartsWith(j.name(), "elastic")) continue;
      ++elastic_jobs;
      EXPECT_EQ(j.state(), "passed");
      EXPECT_EQ(j.agent_name(), kDocker) << j.name();
    }
  }
  EXPECT_EQ(elastic_jobs, 3);
  EXPECT_EQ(Marker("elastic"), "docker\ndocker\ndocker");

  const v1::JobRun* failing = FindJob(*shown, "verify", "failing");
  ASSERT_NE(failing, nullptr) << shown->DebugString();
  EXPECT_EQ(failing->state(), "failed");
  EXPECT_EQ(Marker("failing"), "before");
  EXPECT_EQ(Marker("cleanup"), "cleanup #1");
}

// A GoCD timer fires on the controller's clock: a spec of every second
// runs the pipeline without a trigger, and `pipeline show` names the timer
// as the cause. With `only_on_changes` and no materials, only the first tick
// has something to build. (Ticks under a fake clock, missed ticks and
// only_on_changes are covered by controller/scheduling/timer_test.cc.)
TEST_F(GoCDCompatE2eTest, TimerTriggersThePipeline) {
  ASSERT_TRUE(cluster_
                  .ApplyConfig(R"(format_version: 10
pipelines:
  ticking:
    timer: {spec: "* * * * * ?", only_on_changes: true}
    stages: [{s: {jobs: {j: {tasks: [{exec: {command: "true"}}]}}}}]
)")
                  .ok());
  ASSERT_TRUE(cluster_.WaitForRunState("ticking/1", "passed", kRunDeadline)) << cluster_.LogTails();
  absl::StatusOr<v1::PipelineRun> shown = cluster_.ShowRun("ticking/1");
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_EQ(shown->cause().kind(), "timer");
  EXPECT_EQ(shown->cause().message(), "timer '* * * * * ?'");
  CliResult text = cluster_.Cli({"pipeline", "show", "ticking/1"});
  ASSERT_EQ(text.exit_code, 0) << text.ToString();
  EXPECT_TRUE(absl::StrContains(text.out, "build cause:     timer: timer '* * * * * ?'"))
      << text.out;
}

}  // namespace
}  // namespace gantry::e2e
