// End-to-end: what is deployed where. Through the real controller, agents
// and CLI on a real PostgreSQL: build v1 and v2, each deployed into `prod`
// by a `deploys: true` stage behind a manual gate that another user
// approves; `env list` shows the version there now with who triggered and
// approved it, and `env history` every deploy, newest first.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/testing/wait_for.h"
#include "gantry/v1/operator.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(90);

constexpr char kConfig[] = R"(format_version: 10
environments:
  prod:
    pipelines: [production]
pipelines:
  build:
    group: e2e
    label_template: "1.${COUNT}"
    stages:
      - build-installer:
          jobs:
            package: {tasks: [{exec: {command: /bin/sh, arguments: [-c, "echo built"]}}]}
  production:
    group: e2e
    materials:
      build: {pipeline: build, stage: build-installer}
    stages:
      - deploy:
          deploys: true
          approval: {type: manual}
          jobs:
            deploy: {tasks: [{exec: {command: /bin/sh, arguments: [-c, "echo deployed"]}}]}
)";

template <typename Message>
bool Parse(const std::string& json, Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  return google::protobuf::util::JsonStringToMessage(json, message, options).ok();
}

class DeploymentsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = cluster_.StartController();
    ASSERT_TRUE(started.ok()) << started;
    ASSERT_TRUE(cluster_.StartAgent().ok());
    AgentOptions in_prod;
    in_prod.environments = {"prod"};
    ASSERT_TRUE(cluster_.StartAgent(in_prod).ok());
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << "the agents never became idle";
    absl::Status applied = cluster_.ApplyConfig(kConfig);
    ASSERT_TRUE(applied.ok()) << applied;
    CliResult created = cluster_.Cli({"token", "create", "--user", "bob"});
    ASSERT_EQ(created.exit_code, 0) << created.ToString();
    bob_token_ = std::string(absl::StripAsciiWhitespace(created.out));
  }

  // Builds build/N, waits for production/N at its gate, has bob approve the
  // deploy and waits for it to pass.
  void BuildAndDeploy(int n) {
    std::string build = absl::StrCat("build/", n), production = absl::StrCat("production/", n);
    CliResult trigger = cluster_.Cli({"pipeline", "trigger", "build", "--wait"}, kRunDeadline);
    ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();
    ASSERT_TRUE(cluster_.WaitForRunState(production, "awaiting_approval", kRunDeadline))
        << cluster_.LogTails();
    CliResult approve = cluster_.Cli(
        {"--token", bob_token_, "stage", "approve", absl::StrCat(production, "/deploy")});
    ASSERT_EQ(approve.exit_code, 0) << approve.ToString();
    ASSERT_TRUE(cluster_.WaitForRunState(production, "passed", kRunDeadline))
        << cluster_.LogTails();
  }

  Cluster cluster_;
  std::string bob_token_;
};

// After v1 then v2, prod holds v2 (production/2 from build/2, label 1.2),
// approved by bob; the history lists both deploys, v2 first.
TEST_F(DeploymentsE2eTest, ListShowsTheNewestDeployAndHistoryBothNewestFirst) {
  BuildAndDeploy(1);
  BuildAndDeploy(2);

  CliResult list = cluster_.Cli({"-o", "json", "env", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.ToString();
  v1::ListDeployedEnvironmentsResponse envs;
  ASSERT_TRUE(Parse(list.out, &envs)) << list.out;
  ASSERT_EQ(envs.environments_size(), 1);
  const v1::DeployedEnvironment& prod = envs.environments(0);
  EXPECT_EQ(prod.name(), "prod");
  ASSERT_TRUE(prod.has_current()) << list.out;
  EXPECT_EQ(prod.current().pipeline(), "production");
  EXPECT_EQ(prod.current().counter(), 2);
  EXPECT_EQ(prod.current().stage(), "deploy");
  EXPECT_EQ(prod.current().kind(), "deploy");
  EXPECT_FALSE(prod.current().triggered_by().empty());
  ASSERT_EQ(prod.current().approvals_size(), 1) << list.out;
  EXPECT_EQ(prod.current().approvals(0).user(), "bob");
  ASSERT_EQ(prod.current().materials_size(), 1);
  EXPECT_EQ(prod.current().materials(0).upstream_pipeline(), "build");
  EXPECT_EQ(prod.current().materials(0).upstream_counter(), 2);
  EXPECT_EQ(prod.current().materials(0).upstream_label(), "1.2");

  CliResult text = cluster_.Cli({"env", "list"});
  ASSERT_EQ(text.exit_code, 0) << text.ToString();
  EXPECT_TRUE(absl::StrContains(text.out, "production/2")) << text.out;
  EXPECT_TRUE(absl::StrContains(text.out, "build/2 (1.2)")) << text.out;
  EXPECT_TRUE(absl::StrContains(text.out, "bob")) << text.out;

  CliResult history = cluster_.Cli({"-o", "json", "env", "history", "prod"});
  ASSERT_EQ(history.exit_code, 0) << history.ToString();
  v1::EnvironmentHistoryResponse deploys;
  ASSERT_TRUE(Parse(history.out, &deploys)) << history.out;
  ASSERT_EQ(deploys.deployments_size(), 2) << history.out;
  EXPECT_EQ(deploys.deployments(0).counter(), 2);
  EXPECT_EQ(deploys.deployments(1).counter(), 1);
  EXPECT_EQ(deploys.deployments(1).materials(0).upstream_label(), "1.1");
  EXPECT_EQ(deploys.deployments(1).approvals(0).user(), "bob");

  CliResult history_text = cluster_.Cli({"env", "history", "prod"});
  ASSERT_EQ(history_text.exit_code, 0) << history_text.ToString();
  size_t v2 = history_text.out.find("production/2"), v1_at = history_text.out.find("production/1");
  ASSERT_NE(v2, std::string::npos) << history_text.out;
  ASSERT_NE(v1_at, std::string::npos) << history_text.out;
  EXPECT_LT(v2, v1_at) << history_text.out;

  CliResult unknown = cluster_.Cli({"env", "history", "nowhere"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(unknown.err, "no environment named 'nowhere'"))
      << unknown.ToString();
}

// Re-running production/1's deploy after v2 puts v1 back: env list shows
// production/1 as a re-run (attempt 2), and the history has it on top.
TEST_F(DeploymentsE2eTest, RerunOfAnEarlierDeployIsWhatIsDeployedNow) {
  BuildAndDeploy(1);
  BuildAndDeploy(2);
  CliResult rerun = cluster_.Cli({"stage", "rerun", "production/1/deploy"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.ToString();

  v1::EnvironmentHistoryResponse deploys;
  ASSERT_TRUE(WaitFor(
      [&] {
        CliResult history = cluster_.Cli({"-o", "json", "env", "history", "prod"});
        deploys.Clear();
        return history.exit_code == 0 && Parse(history.out, &deploys) &&
               deploys.deployments_size() == 3;
      },
      kRunDeadline, absl::Milliseconds(100)))
      << cluster_.LogTails();
  EXPECT_EQ(deploys.deployments(0).counter(), 1);
  EXPECT_EQ(deploys.deployments(0).stage_counter(), 2);
  EXPECT_EQ(deploys.deployments(0).kind(), "rerun");
  EXPECT_EQ(deploys.deployments(0).materials(0).upstream_label(), "1.1");
  EXPECT_EQ(deploys.deployments(1).counter(), 2);
  EXPECT_EQ(deploys.deployments(2).counter(), 1);
  EXPECT_EQ(deploys.deployments(2).kind(), "deploy");

  CliResult list = cluster_.Cli({"env", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.ToString();
  EXPECT_TRUE(absl::StrContains(list.out, "production/1")) << list.out;
  EXPECT_TRUE(absl::StrContains(list.out, "deploy (attempt 2)")) << list.out;
}

}  // namespace
}  // namespace gantry::e2e
