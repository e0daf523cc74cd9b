// End-to-end: the ways back from a bad release (docs/rollback.md), through
// the real controller, agents and CLI on a real PostgreSQL:
//   - `gantry rollback ENV` re-runs the last good deploy, is shown as a
//     rollback in `env history`, and marks the version it replaced bad, so
//     an upstream stage passing again does not deploy it there, and a manual
//     trigger must name its upstream run until the mark is cleared;
//   - the rollback stage of the production pipeline, after its approval,
//     sees the deploy's variables and upstream revision;
//   - a hotfix fetches from build/N's build-installer while build/N's
//     acceptance is still running, and after it failed.
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/testing/wait_for.h"
#include "gantry/v1/operator.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(90);

// @DIR@ is the test's directory: jobs append what they saw to files there.
// build-installer writes the installer (its label); acceptance passes only
// with ACCEPT=yes, and with HOLD=yes blocks reading the FIFO @DIR@/go until
// the test writes to it. staging deploys
// automatically whatever build-installer made; production deploys behind a
// gate and has a rollback stage behind another; hotfix takes the installer
// straight from build-installer.
constexpr char kConfig[] = R"(format_version: 10
environments:
  staging:
    pipelines: [staging]
  prod:
    pipelines: [production, hotfix]
pipelines:
  build:
    group: e2e
    label_template: "1.${COUNT}"
    environment_variables: {ACCEPT: "yes", HOLD: "no"}
    stages:
      - build-installer:
          jobs:
            package:
              artifacts: [{build: {source: installer.txt}}]
              tasks:
                - exec: {command: /bin/sh, arguments: [-c, "echo installer-$GANTRY_PIPELINE_LABEL > installer.txt"]}
      - acceptance:
          jobs:
            test:
              tasks:
                - exec: {command: /bin/sh, arguments: [-c, "if [ $HOLD = yes ]; then cat @DIR@/go >/dev/null; fi; test $ACCEPT = yes"]}
  staging:
    group: e2e
    materials:
      build: {pipeline: build, stage: build-installer}
    stages:
      - deploy:
          deploys: true
          jobs:
            deploy:
              tasks:
                - exec: {command: /bin/sh, arguments: [-c, "echo staging $GANTRY_REVISION_BUILD >> @DIR@/staging.log"]}
  production:
    group: e2e
    environment_variables: {DEPLOY_TARGET: blue}
    materials:
      build: {pipeline: build, stage: build-installer}
    stages:
      - deploy:
          deploys: true
          approval: {type: manual}
          jobs:
            deploy:
              tasks:
                - exec: {command: /bin/sh, arguments: [-c, "echo deploy $DEPLOY_TARGET $GANTRY_REVISION_BUILD >> @DIR@/production.log"]}
      - rollback:
          approval: {type: manual}
          jobs:
            rollback:
              tasks:
                - exec: {command: /bin/sh, arguments: [-c, "echo rollback $DEPLOY_TARGET $GANTRY_REVISION_BUILD >> @DIR@/production.log"]}
  hotfix:
    group: e2e
    materials:
      build: {pipeline: build, stage: build-installer}
    stages:
      - deploy:
          deploys: true
          jobs:
            deploy:
              tasks:
                - fetch: {pipeline: build, stage: build-installer, job: package, source: installer.txt, is_file: true}
                - exec: {command: /bin/sh, arguments: [-c, "echo hotfix $(cat installer.txt) >> @DIR@/hotfix.log"]}
)";

template <typename Message>
bool Parse(const std::string& json, Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  return google::protobuf::util::JsonStringToMessage(json, message, options).ok();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class RollbackE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = cluster_.StartController();
    ASSERT_TRUE(started.ok()) << started;
    ASSERT_TRUE(cluster_.StartAgent().ok());
    AgentOptions staging;
    staging.environments = {"staging"};
    ASSERT_TRUE(cluster_.StartAgent(staging).ok());
    AgentOptions prod;
    prod.environments = {"prod"};
    ASSERT_TRUE(cluster_.StartAgent(prod).ok());
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << "the agents never became idle";
    ASSERT_EQ(mkfifo((cluster_.dir() + "/go").c_str(), 0600), 0);
    absl::Status applied =
        cluster_.ApplyConfig(absl::StrReplaceAll(kConfig, {{"@DIR@", cluster_.dir()}}));
    ASSERT_TRUE(applied.ok()) << applied;
  }

  v1::EnvironmentHistoryResponse History(const std::string& env) {
    CliResult history = cluster_.Cli({"-o", "json", "env", "history", env});
    v1::EnvironmentHistoryResponse out;
    EXPECT_EQ(history.exit_code, 0) << history.ToString();
    EXPECT_TRUE(Parse(history.out, &out)) << history.out;
    return out;
  }

  // build/N passes both stages; staging/N deploys it by itself.
  void BuildAndStage(int n) {
    CliResult trigger = cluster_.Cli({"pipeline", "trigger", "build", "--wait"}, kRunDeadline);
    ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();
    ASSERT_TRUE(cluster_.WaitForRunState(absl::StrCat("staging/", n), "passed", kRunDeadline))
        << cluster_.LogTails();
  }

  Cluster cluster_;
};

// v1 then v2 reach staging; `rollback staging` puts v1 back as a rollback
// of staging/2, marks staging/2 bad, and keeps build/2 out of staging until
// the mark is cleared.
TEST_F(RollbackE2eTest, RollbackRedeploysTheLastGoodVersionAndKeepsTheBadOneOut) {
  BuildAndStage(1);
  BuildAndStage(2);

  CliResult no_reason = cluster_.Cli({"rollback", "staging"});
  EXPECT_NE(no_reason.exit_code, 0) << no_reason.ToString();
  CliResult unknown = cluster_.Cli({"rollback", "nowhere", "--reason", "x"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(unknown.err, "no environment named 'nowhere'")) << unknown.err;

  CliResult rollback = cluster_.Cli({"rollback", "staging", "--reason", "1.2 breaks logins"});
  ASSERT_EQ(rollback.exit_code, 0) << rollback.ToString() << cluster_.LogTails();
  EXPECT_TRUE(absl::StrContains(rollback.out, "staging/2 (build/2) -> staging/1 (build/1)"))
      << rollback.out;

  v1::EnvironmentHistoryResponse history;
  ASSERT_TRUE(WaitFor(
      [&] {
        history = History("staging");
        return history.deployments_size() == 3;
      },
      kRunDeadline, absl::Milliseconds(100)))
      << cluster_.LogTails();
  const v1::Deployment& back = history.deployments(0);
  EXPECT_EQ(back.kind(), "rollback");
  EXPECT_EQ(back.pipeline(), "staging");
  EXPECT_EQ(back.counter(), 1);
  EXPECT_EQ(back.stage_counter(), 2);
  EXPECT_EQ(back.rollback().by(), "admin");
  EXPECT_EQ(back.rollback().reason(), "1.2 breaks logins");
  EXPECT_EQ(back.rollback().from_counter(), 2);
  EXPECT_TRUE(history.deployments(1).marked_bad()) << history.DebugString();
  EXPECT_EQ(history.deployments(1).counter(), 2);
  EXPECT_FALSE(back.marked_bad());
  // The re-run deployed build/1 again, with staging/1's own upstream.
  EXPECT_TRUE(absl::StrContains(ReadAll(cluster_.dir() + "/staging.log"),
                                "staging build/1/build-installer/1\nstaging build/2/"
                                "build-installer/1\nstaging build/1/build-installer/1\n"))
      << ReadAll(cluster_.dir() + "/staging.log");

  CliResult text = cluster_.Cli({"env", "history", "staging"});
  EXPECT_TRUE(absl::StrContains(text.out, "rolled back from staging/2 by admin: 1.2 breaks"))
      << text.out;
  CliResult marks = cluster_.Cli({"version", "list", "staging"});
  ASSERT_EQ(marks.exit_code, 0) << marks.ToString();
  EXPECT_TRUE(absl::StrContains(marks.out, "staging/2")) << marks.out;
  EXPECT_TRUE(absl::StrContains(marks.out, "build/2")) << marks.out;

  // build/2's build-installer passing again would deploy 1.2 into staging:
  // the bad mark holds it back (decided in the batch that passed the stage).
  CliResult rerun = cluster_.Cli({"stage", "rerun", "build/2/build-installer"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.ToString();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto run = cluster_.ShowRun("build/2");
        if (!run.ok()) return false;
        for (const auto& s : run->stages()) {
          if (s.name() == "build-installer" && s.counter() == 2 && s.state() == "passed") {
            return true;
          }
        }
        return false;
      },
      kRunDeadline, absl::Milliseconds(100)))
      << cluster_.LogTails();
  EXPECT_FALSE(cluster_.ShowRun("staging/3").ok()) << "build/2 was deployed into staging again";
  EXPECT_TRUE(absl::StrContains(cluster_.ControllerLog(), "build/2 is marked bad in staging"))
      << cluster_.LogTails();

  // A manual trigger would take build/2 too: refused, with the way out.
  CliResult manual = cluster_.Cli({"pipeline", "trigger", "staging"});
  EXPECT_NE(manual.exit_code, 0) << manual.ToString();
  EXPECT_TRUE(absl::StrContains(manual.err, "build/2 is marked bad in staging")) << manual.err;
  EXPECT_TRUE(absl::StrContains(manual.err, "gantry version clear staging build/2")) << manual.err;

  CliResult clear =
      cluster_.Cli({"version", "clear", "staging", "build/2", "--reason", "fixed by config"});
  ASSERT_EQ(clear.exit_code, 0) << clear.ToString();
  EXPECT_TRUE(absl::StrContains(clear.out, "cleared the mark on staging/2")) << clear.out;
  CliResult again = cluster_.Cli({"pipeline", "trigger", "staging", "--wait"}, kRunDeadline);
  EXPECT_EQ(again.exit_code, 0) << again.ToString();
  CliResult none = cluster_.Cli({"version", "list", "staging"});
  EXPECT_TRUE(absl::StrContains(none.out, "no version is marked bad")) << none.out;
  CliResult all = cluster_.Cli({"version", "list", "--all"});
  EXPECT_TRUE(absl::StrContains(all.out, "by admin")) << all.out;
}

// `rollback --to` names the run; a run that never deployed there, and the
// version deployed now, are refused with the reason; deploy permission on
// the environment is needed.
TEST_F(RollbackE2eTest, RollbackToANamedRunAndItsRefusals) {
  BuildAndStage(1);
  BuildAndStage(2);
  BuildAndStage(3);
  CliResult current = cluster_.Cli({"rollback", "staging", "--to", "staging/3", "--reason", "x"});
  EXPECT_NE(current.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(current.err, "it is what is deployed there now")) << current.err;
  CliResult never = cluster_.Cli({"rollback", "staging", "--to", "staging/9", "--reason", "x"});
  EXPECT_NE(never.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(never.err, "never deployed into it")) << never.err;
  CliResult foreign =
      cluster_.Cli({"rollback", "staging", "--to", "production/1", "--reason", "x"});
  EXPECT_NE(foreign.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(foreign.err, "is not in the environment")) << foreign.err;

  CliResult rollback =
      cluster_.Cli({"rollback", "staging", "--to", "staging/1", "--reason", "back to 1.1"});
  ASSERT_EQ(rollback.exit_code, 0) << rollback.ToString();
  ASSERT_TRUE(WaitFor([&] { return History("staging").deployments_size() == 4; }, kRunDeadline,
                      absl::Milliseconds(100)))
      << cluster_.LogTails();
  v1::EnvironmentHistoryResponse history = History("staging");
  EXPECT_EQ(history.deployments(0).counter(), 1);
  EXPECT_EQ(history.deployments(0).kind(), "rollback");
  EXPECT_EQ(history.deployments(0).rollback().from_counter(), 3);

  // A second rollback goes back past staging/1's rollback to staging/2, the
  // newest deploy of another run not marked bad (staging/3 is).
  CliResult second = cluster_.Cli({"rollback", "staging", "--reason", "1.1 too"});
  ASSERT_EQ(second.exit_code, 0) << second.ToString();
  EXPECT_TRUE(absl::StrContains(second.out, "-> staging/2 (build/2)")) << second.out;

  // deployers: bob may not deploy to staging.
  CliResult created = cluster_.Cli({"token", "create", "--user", "bob"});
  ASSERT_EQ(created.exit_code, 0) << created.ToString();
  std::string config = absl::StrReplaceAll(kConfig, {{"@DIR@", cluster_.dir()}});
  config = absl::StrReplaceAll(config,
                               {{"    pipelines: [staging]\n",
                                 "    pipelines: [staging]\n    deployers: {users: [carol]}\n"}});
  absl::Status applied = cluster_.ApplyConfig(config);
  ASSERT_TRUE(applied.ok()) << applied;
  std::string bob(absl::StripTrailingAsciiWhitespace(created.out));
  CliResult denied = cluster_.Cli({"--token", bob, "rollback", "staging", "--reason", "not mine"});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(denied.err, "may not deploy to environment 'staging'"))
      << denied.err;
}

// The production run's rollback stage, approved after its deploy, runs with
// that run's variables (a trigger-time DEPLOY_TARGET) and upstream revision.
TEST_F(RollbackE2eTest, RollbackStageSeesTheDeploysVariablesAndUpstream) {
  CliResult build = cluster_.Cli({"pipeline", "trigger", "build", "--wait"}, kRunDeadline);
  ASSERT_EQ(build.exit_code, 0) << build.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("production/1", "awaiting_approval", kRunDeadline))
      << cluster_.LogTails();
  // A person triggering production opens its deploy gate: production/2
  // deploys build/1 to green.
  CliResult trigger =
      cluster_.Cli({"pipeline", "trigger", "production", "--var", "DEPLOY_TARGET=green"});
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();
  ASSERT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(ReadAll(cluster_.dir() + "/production.log"),
                                 "deploy green build/1/build-installer/1\n");
      },
      kRunDeadline, absl::Milliseconds(100)))
      << cluster_.LogTails();
  ASSERT_TRUE(cluster_.WaitForRunState("production/2", "awaiting_approval", kRunDeadline))
      << cluster_.LogTails();
  CliResult approve = cluster_.Cli({"stage", "approve", "production/2/rollback"});
  ASSERT_EQ(approve.exit_code, 0) << approve.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("production/2", "passed", kRunDeadline))
      << cluster_.LogTails();
  std::string log = ReadAll(cluster_.dir() + "/production.log");
  EXPECT_TRUE(absl::StrContains(log,
                                "deploy green build/1/build-installer/1\n"
                                "rollback green build/1/build-installer/1\n"))
      << log;
  // The rollback stage is not a deploy: prod still shows production/2's.
  CliResult list = cluster_.Cli({"-o", "json", "env", "list"});
  v1::ListDeployedEnvironmentsResponse envs;
  ASSERT_TRUE(Parse(list.out, &envs)) << list.ToString();
  for (const auto& env : envs.environments()) {
    if (env.name() != "prod") continue;
    EXPECT_EQ(env.current().pipeline(), "production") << list.out;
    EXPECT_EQ(env.current().counter(), 2) << list.out;
    EXPECT_EQ(env.current().stage(), "deploy") << list.out;
  }
}

// hotfix/N takes build/N's installer as soon as build-installer passed: while
// acceptance still runs, and when it has failed.
TEST_F(RollbackE2eTest, HotfixFetchesWhileAcceptanceRunsAndAfterItFailed) {
  CliResult held = cluster_.Cli({"pipeline", "trigger", "build", "--var", "HOLD=yes"});
  ASSERT_EQ(held.exit_code, 0) << held.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("hotfix/1", "passed", kRunDeadline)) << cluster_.LogTails();
  auto build1 = cluster_.ShowRun("build/1");
  ASSERT_TRUE(build1.ok()) << build1.status();
  EXPECT_EQ(build1->state(), "building") << "acceptance finished before the hotfix";
  EXPECT_TRUE(absl::StrContains(ReadAll(cluster_.dir() + "/hotfix.log"), "hotfix installer-1.1\n"));
  // The held acceptance job is the FIFO's reader: opening it for writing
  // succeeds once that job reads, and closing it lets the job go on.
  int fd = -1;
  ASSERT_TRUE(WaitFor(
      [&] {
        fd = open((cluster_.dir() + "/go").c_str(), O_WRONLY | O_NONBLOCK);
        return fd >= 0;
      },
      kRunDeadline, absl::Milliseconds(50)))
      << "acceptance never opened the FIFO";
  close(fd);
  ASSERT_TRUE(cluster_.WaitForRunState("build/1", "passed", kRunDeadline)) << cluster_.LogTails();

  CliResult failed =
      cluster_.Cli({"pipeline", "trigger", "build", "--var", "ACCEPT=no", "--wait"}, kRunDeadline);
  EXPECT_NE(failed.exit_code, 0) << failed.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("build/2", "failed", kRunDeadline)) << cluster_.LogTails();
  ASSERT_TRUE(cluster_.WaitForRunState("hotfix/2", "passed", kRunDeadline)) << cluster_.LogTails();
  EXPECT_TRUE(absl::StrContains(ReadAll(cluster_.dir() + "/hotfix.log"), "hotfix installer-1.2\n"))
      << ReadAll(cluster_.dir() + "/hotfix.log");
}

}  // namespace
}  // namespace gantry::e2e
