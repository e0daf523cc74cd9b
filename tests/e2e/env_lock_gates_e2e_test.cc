// End-to-end: the deploy controls of issue 15 that decide when and who: the
// environment deploy lock (`environments.E.lock`), gates needing several
// approvers (approval.required) or one who did not trigger the run
// (approver_not_triggerer), and a pipeline's triggerers; through the real
// controller, agents and CLI on a real PostgreSQL, with tokens of several
// users (`gantry token create --user`).
#include <gtest/gtest.h>

#include <map>
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

// YAML for a stage `stage` with one job `job` running `script`, and the
// stage's `approval` line ("" for none).
std::string Stage(const std::string& stage, const std::string& approval,
                  const std::string& script = "echo ok") {
  std::string out = absl::StrCat("      - ", stage, ":\n");
  if (!approval.empty()) absl::StrAppend(&out, "          approval: ", approval, "\n");
  absl::StrAppend(&out,
                  "          jobs:\n"
                  "            job:\n"
                  "              tasks:\n"
                  "                - exec:\n"
                  "                    command: /bin/sh\n"
                  "                    arguments: [-c, \"",
                  script, "\"]\n");
  return out;
}

const v1::StageRun* FindStage(const v1::PipelineRun& run, const std::string& name) {
  for (const v1::StageRun& s : run.stages()) {
    if (s.name() == name) return &s;
  }
  return nullptr;
}

class DeployControlsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = cluster_.StartController();
    ASSERT_TRUE(started.ok()) << started;
    absl::StatusOr<int> agent = cluster_.StartAgent();
    ASSERT_TRUE(agent.ok()) << agent.status();
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << "the agent never became idle";
    absl::Status applied = cluster_.ApplyConfig(absl::StrCat(
        "format_version: 10\n"
        "security:\n"
        "  roles:\n"
        "    release-managers: [rita]\n"
        "pipelines:\n"
        "  quorum:\n"
        "    group: e2e\n"
        "    stages:\n",
        Stage("build", ""), Stage("prod", "{type: manual, required: 2}"),
        "  four-eyes:\n"
        "    group: e2e\n"
        "    stages:\n",
        Stage("build", ""), Stage("prod", "{type: manual, approver_not_triggerer: true}"),
        "  hotfix:\n"
        "    group: e2e\n"
        "    triggerers: {roles: [release-managers]}\n"
        "    stages:\n",
        Stage("fix", "")));
    ASSERT_TRUE(applied.ok()) << applied;
    for (const char* user : {"alice", "bob", "rita", "mallory"}) {
      CliResult created = cluster_.Cli({"token", "create", "--user", user});
      ASSERT_EQ(created.exit_code, 0) << created.ToString();
      tokens_[user] = std::string(absl::StripAsciiWhitespace(created.out));
    }
  }

  // The CLI as `user` ("admin": the harness's Cli, with the bootstrap token).
  CliResult As(const std::string& user, std::vector<std::string> args,
               absl::Duration timeout = absl::Seconds(120)) {
    if (user == "admin") return cluster_.Cli(std::move(args), timeout);
    std::vector<std::string> argv = {BinDir() + "/gantry", "--controller",
                                     cluster_.controller_addr(), "--token", tokens_[user],
                                     "--ca-file", cluster_.ca_file()};
    argv.insert(argv.end(), args.begin(), args.end());
    RunOptions options;
    options.timeout = timeout;
    options.working_dir = cluster_.dir();
    options.kill_on_parent_death = true;
    CliResult result;
    absl::StatusOr<RunResult> run = RunCommand(argv, options);
    if (!run.ok()) {
      result.err = std::string(run.status().message());
      return result;
    }
    result.exit_code = run->term_signal == 0 && !run->timed_out ? run->exit_code : -1;
    result.out = std::move(run->out);
    result.err = std::move(run->err);
    return result;
  }

  Cluster cluster_;
  std::map<std::string, std::string> tokens_;
};

// A gate with required: 2 opens only on the second distinct approver: the
// first approval is recorded and shown as "1 of 2 approvals", the same user
// approving again is refused, and a second user starts the stage; both
// approvals and their comments are in `pipeline show` and its JSON.
TEST_F(DeployControlsE2eTest, QuorumOfTwoNeedsTwoDifferentUsers) {
  CliResult trigger = As("admin", {"pipeline", "trigger", "quorum", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 3) << trigger.ToString();  // stopped at prod's gate

  CliResult first = As("alice", {"stage", "approve", "quorum/1/prod", "--comment", "looks good"});
  ASSERT_EQ(first.exit_code, 0) << first.ToString();
  CliResult show = cluster_.Cli({"pipeline", "show", "quorum/1"});
  ASSERT_EQ(show.exit_code, 0) << show.ToString();
  EXPECT_TRUE(absl::StrContains(show.out, "awaiting_approval, approval manual, 1 of 2 approvals"))
      << show.out;
  EXPECT_TRUE(absl::StrContains(show.out, "  approved by alice at ")) << show.out;

  CliResult again = As("alice", {"stage", "approve", "quorum/1/prod"});
  EXPECT_EQ(again.exit_code, 1) << again.ToString();
  EXPECT_TRUE(absl::StrContains(again.err, "user 'alice' already approved")) << again.ToString();
  absl::StatusOr<v1::PipelineRun> waiting = cluster_.ShowRun("quorum/1");
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  EXPECT_EQ(waiting->state(), "awaiting_approval");
  const v1::StageRun* gate = FindStage(*waiting, "prod");
  ASSERT_NE(gate, nullptr);
  EXPECT_EQ(gate->approvals_size(), 1);
  EXPECT_EQ(gate->approvals_required(), 2);

  CliResult second = As("bob", {"stage", "approve", "quorum/1/prod", "--comment", "ship it"});
  ASSERT_EQ(second.exit_code, 0) << second.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("quorum/1", "passed", kRunDeadline))
      << cluster_.ShowRun("quorum/1").status();

  absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun("quorum/1");
  ASSERT_TRUE(run.ok()) << run.status();
  const v1::StageRun* prod = FindStage(*run, "prod");
  ASSERT_NE(prod, nullptr);
  EXPECT_EQ(prod->state(), "passed");
  EXPECT_EQ(prod->approved_by(), "bob");
  ASSERT_EQ(prod->approvals_size(), 2);
  EXPECT_EQ(prod->approvals(0).user(), "alice");
  EXPECT_EQ(prod->approvals(0).comment(), "looks good");
  EXPECT_EQ(prod->approvals(1).user(), "bob");
  EXPECT_EQ(prod->approvals(1).comment(), "ship it");
  show = cluster_.Cli({"pipeline", "show", "quorum/1"});
  EXPECT_TRUE(absl::StrContains(show.out, "2 of 2 approvals")) << show.out;
}

// Approvals short of the quorum are stored: after a controller restart the
// first approver is still counted (and still refused a second time), and
// one more person starts the stage.
TEST_F(DeployControlsE2eTest, QuorumSurvivesARestart) {
  CliResult trigger = As("admin", {"pipeline", "trigger", "quorum", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 3) << trigger.ToString();
  CliResult first = As("alice", {"stage", "approve", "quorum/1/prod"});
  ASSERT_EQ(first.exit_code, 0) << first.ToString();
  EXPECT_EQ(first.out, "approved quorum/1/prod (1 of 2 approvals; the stage waits for more)\n");

  absl::Status restarted = cluster_.RestartController();
  ASSERT_TRUE(restarted.ok()) << restarted;
  CliResult again = As("alice", {"stage", "approve", "quorum/1/prod"});
  EXPECT_EQ(again.exit_code, 1) << again.ToString();
  EXPECT_TRUE(absl::StrContains(again.err, "(1 of 2 approvals; another person must approve)"))
      << again.ToString();
  CliResult second = As("bob", {"stage", "approve", "quorum/1/prod"});
  ASSERT_EQ(second.exit_code, 0) << second.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("quorum/1", "passed", kRunDeadline))
      << cluster_.ShowRun("quorum/1").status();
}

// approver_not_triggerer: the user who triggered the run may not approve its
// gate (PERMISSION_DENIED, nothing changes); another user may.
TEST_F(DeployControlsE2eTest, ApproverWhoTriggeredIsRefused) {
  CliResult trigger = As("alice", {"pipeline", "trigger", "four-eyes", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 3) << trigger.ToString();

  CliResult refused = As("alice", {"stage", "approve", "four-eyes/1/prod"});
  EXPECT_EQ(refused.exit_code, 1) << refused.ToString();
  EXPECT_EQ(refused.err,
            "gantry: permission denied: user 'alice' may not approve stage four-eyes/1/prod: they "
            "triggered the run, and the stage needs an approver who did not "
            "(approver_not_triggerer)\n");
  absl::StatusOr<v1::PipelineRun> waiting = cluster_.ShowRun("four-eyes/1");
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  EXPECT_EQ(waiting->state(), "awaiting_approval");

  CliResult approved = As("bob", {"stage", "approve", "four-eyes/1/prod"});
  ASSERT_EQ(approved.exit_code, 0) << approved.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("four-eyes/1", "passed", kRunDeadline))
      << cluster_.ShowRun("four-eyes/1").status();
}

// triggerers: an operator of the group who is not listed may not trigger
// the pipeline (one-line PERMISSION_DENIED, no run); a listed role member
// and an admin may.
TEST_F(DeployControlsE2eTest, RestrictedTriggerRefusesUnlistedOperator) {
  CliResult refused = As("mallory", {"pipeline", "trigger", "hotfix"});
  EXPECT_EQ(refused.exit_code, 1) << refused.ToString();
  EXPECT_EQ(refused.err,
            "gantry: permission denied: mallory may not trigger pipeline 'hotfix': not one of "
            "its triggerers\n");
  EXPECT_FALSE(cluster_.ShowRun("hotfix/1").ok()) << "a refused trigger created a run";

  CliResult listed = As("rita", {"pipeline", "trigger", "hotfix", "--wait"}, kRunDeadline);
  EXPECT_EQ(listed.exit_code, 0) << listed.ToString();
  CliResult admin = As("admin", {"pipeline", "trigger", "hotfix", "--wait"}, kRunDeadline);
  EXPECT_EQ(admin.exit_code, 0) << admin.ToString();
  // mallory may still operate the group's other pipelines.
  CliResult other = As("mallory", {"pipeline", "trigger", "quorum", "--wait"}, kRunDeadline);
  EXPECT_EQ(other.exit_code, 3) << other.ToString();
}

// Two pipelines of an environment with `lock: true`, two agents in it.
// Each pipeline's job waits for a file the test creates, so the test
// decides when the holder finishes.
class EnvLockE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = cluster_.StartController();
    ASSERT_TRUE(started.ok()) << started;
    for (int i = 0; i < 2; ++i) {
      AgentOptions options;
      options.environments = {"prod"};
      absl::StatusOr<int> agent = cluster_.StartAgent(options);
      ASSERT_TRUE(agent.ok()) << agent.status();
    }
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << "the agents never became idle";
    absl::Status applied =
        cluster_.ApplyConfig(absl::StrCat("format_version: 10\n"
                                          "environments:\n"
                                          "  prod:\n"
                                          "    pipelines: [deploy-a, deploy-b, deploy-c]\n"
                                          "    lock: true\n"
                                          "pipelines:\n"
                                          "  deploy-a:\n"
                                          "    group: e2e\n"
                                          "    stages:\n",
                                          Stage("ship", "", WaitForFile("gate-a")),
                                          "  deploy-b:\n"
                                          "    group: e2e\n"
                                          "    stages:\n",
                                          Stage("ship", "", WaitForFile("gate-b")),
                                          "  deploy-c:\n"
                                          "    group: e2e\n"
                                          "    stages:\n",
                                          Stage("prepare", "", WaitForFile("gate-c")),
                                          Stage("migrate", ""), Stage("switch", "{type: manual}")));
    ASSERT_TRUE(applied.ok()) << applied;
  }

  // A script that waits until the test creates `name`.
  std::string WaitForFile(const std::string& name) {
    return absl::StrCat("while [ ! -f ", cluster_.dir(), "/", name,
                        " ]; do sleep 0.05; done; echo released");
  }
  // Creates the file `name` a job waits for.
  void Release(const std::string& name) {
    FILE* f = fopen(absl::StrCat(cluster_.dir(), "/", name).c_str(), "w");
    ASSERT_NE(f, nullptr);
    fclose(f);
  }
  // The state of the only stage (and job) of run `locator`.
  std::string StageState(const std::string& locator, std::string* reason = nullptr) {
    absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun(locator);
    if (!run.ok() || run->stages_size() == 0) return "";
    if (reason != nullptr) *reason = run->stages(0).waiting_reason();
    return run->stages(0).state();
  }
  std::string JobState(const std::string& locator) {
    absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun(locator);
    if (!run.ok() || run->stages_size() == 0 || run->stages(0).jobs_size() == 0) return "";
    return run->stages(0).jobs(0).state();
  }

  Cluster cluster_;
};

// While deploy-a/1 builds, deploy-b/1 waits in the lock's queue with the
// reason on its stage (also after a controller restart); `env show` names
// the holder and the queue; deploy-b's job starts only after deploy-a's
// ended, although a second agent was idle all along.
TEST_F(EnvLockE2eTest, TwoPipelinesNeverBuildAtTheSameMoment) {
  CliResult a = cluster_.Cli({"pipeline", "trigger", "deploy-a"});
  ASSERT_EQ(a.exit_code, 0) << a.ToString();
  ASSERT_TRUE(WaitFor([&] { return JobState("deploy-a/1") == "running"; }, kRunDeadline, kCliPoll))
      << cluster_.LogTails();
  CliResult b = cluster_.Cli({"pipeline", "trigger", "deploy-b"});
  ASSERT_EQ(b.exit_code, 0) << b.ToString();

  const std::string kReason = "waiting for the prod deploy lock held by deploy-a/1";
  std::string reason;
  ASSERT_TRUE(WaitFor([&] { return StageState("deploy-b/1", &reason) == "queued"; }, kRunDeadline,
                      kCliPoll));
  EXPECT_EQ(reason, kReason);
  CliResult show = cluster_.Cli({"pipeline", "show", "deploy-b/1"});
  EXPECT_TRUE(absl::StrContains(show.out, kReason)) << show.ToString();
  CliResult env = cluster_.Cli({"env", "show", "prod"});
  ASSERT_EQ(env.exit_code, 0) << env.ToString();
  EXPECT_TRUE(absl::StrContains(env.out, "deploy lock: held by deploy-a/1\n")) << env.out;
  EXPECT_TRUE(absl::StrContains(env.out, "deploy-b/1")) << env.out;

  // The lock is derived from the runs: a restarted controller keeps it.
  absl::Status restarted = cluster_.RestartController();
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_EQ(StageState("deploy-b/1", &reason), "queued");
  EXPECT_EQ(reason, kReason);

  Release("gate-b");  // deploy-b's job ends as soon as it runs
  Release("gate-a");
  ASSERT_TRUE(cluster_.WaitForRunState("deploy-a/1", "passed", kRunDeadline))
      << cluster_.LogTails();
  ASSERT_TRUE(cluster_.WaitForRunState("deploy-b/1", "passed", kRunDeadline))
      << cluster_.LogTails();

  absl::StatusOr<v1::PipelineRun> run_a = cluster_.ShowRun("deploy-a/1");
  absl::StatusOr<v1::PipelineRun> run_b = cluster_.ShowRun("deploy-b/1");
  ASSERT_TRUE(run_a.ok() && run_b.ok());
  const v1::JobRun& job_a = run_a->stages(0).jobs(0);
  const v1::JobRun& job_b = run_b->stages(0).jobs(0);
  auto ms = [](const google::protobuf::Timestamp& t) {
    return t.seconds() * 1000 + t.nanos() / 1000000;
  };
  EXPECT_LE(ms(job_a.finished_at()), ms(job_b.scheduled_at()));
  EXPECT_LE(ms(job_a.finished_at()), ms(job_b.started_at()));
  env = cluster_.Cli({"env", "show", "prod"});
  EXPECT_TRUE(absl::StrContains(env.out, "deploy lock: free\nqueue: empty\n")) << env.out;
}

// A run keeps the lock between its stages (deploy-b does not slip in
// between deploy-c's prepare and migrate), and lets go of it when it stops
// at a manual gate: deploy-b then builds while deploy-c waits for approval,
// and the approved stage builds once deploy-b is done.
TEST_F(EnvLockE2eTest, LockHeldBetweenStagesAndReleasedAtAGate) {
  CliResult c = cluster_.Cli({"pipeline", "trigger", "deploy-c"});
  ASSERT_EQ(c.exit_code, 0) << c.ToString();
  ASSERT_TRUE(WaitFor([&] { return JobState("deploy-c/1") == "running"; }, kRunDeadline, kCliPoll))
      << cluster_.LogTails();
  CliResult b = cluster_.Cli({"pipeline", "trigger", "deploy-b"});
  ASSERT_EQ(b.exit_code, 0) << b.ToString();
  std::string reason;
  ASSERT_TRUE(WaitFor([&] { return StageState("deploy-b/1", &reason) == "queued"; }, kRunDeadline,
                      kCliPoll));
  EXPECT_EQ(reason, "waiting for the prod deploy lock held by deploy-c/1");

  Release("gate-b");
  Release("gate-c");
  ASSERT_TRUE(cluster_.WaitForRunState("deploy-c/1", "awaiting_approval", kRunDeadline))
      << cluster_.LogTails();
  ASSERT_TRUE(cluster_.WaitForRunState("deploy-b/1", "passed", kRunDeadline))
      << cluster_.LogTails();
  absl::StatusOr<v1::PipelineRun> run_c = cluster_.ShowRun("deploy-c/1");
  absl::StatusOr<v1::PipelineRun> run_b = cluster_.ShowRun("deploy-b/1");
  ASSERT_TRUE(run_c.ok() && run_b.ok());
  EXPECT_EQ(run_c->state(), "awaiting_approval");  // deploy-b ran while it waited
  const v1::StageRun* migrate = FindStage(*run_c, "migrate");
  ASSERT_NE(migrate, nullptr);
  ASSERT_EQ(migrate->jobs_size(), 1);
  auto ms = [](const google::protobuf::Timestamp& t) {
    return t.seconds() * 1000 + t.nanos() / 1000000;
  };
  EXPECT_LE(ms(migrate->jobs(0).finished_at()), ms(run_b->stages(0).jobs(0).started_at()));

  CliResult approve = cluster_.Cli({"stage", "approve", "deploy-c/1/switch"});
  ASSERT_EQ(approve.exit_code, 0) << approve.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("deploy-c/1", "passed", kRunDeadline))
      << cluster_.LogTails();
  run_c = cluster_.ShowRun("deploy-c/1");
  ASSERT_TRUE(run_c.ok());
  const v1::StageRun* sw = FindStage(*run_c, "switch");
  ASSERT_NE(sw, nullptr);
  EXPECT_LE(ms(run_b->stages(0).jobs(0).finished_at()), ms(sw->jobs(0).started_at()));
}

}  // namespace
}  // namespace gantry::e2e
