// End-to-end: manual gates (approval.users and approval.roles on a first
// stage opened by a trigger and on a later stage, allow_only_on_success),
// what an approval records, and trigger-time variables, through the real
// controller, agent and CLI on a real PostgreSQL, with tokens of several
// users (`gantry token create --user`).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gantry/v1/operator.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(90);
constexpr char kSecret[] = "override-secret-4711";

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

class GatesE2eTest : public ::testing::Test {
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
        "    releasers: [carol]\n"
        "pipelines:\n"
        "  gated:\n"
        "    group: e2e\n"
        "    secure_variables:\n"
        "      DB_PASSWORD: config-secret-value\n"
        "    stages:\n"
        "      - build:\n"
        "          approval: {type: manual, users: [rel-lead]}\n"
        "          jobs:\n",
        ShellJob("show", "echo pw=$DB_PASSWORD"),
        "      - deploy:\n"
        "          approval: {type: manual, roles: [releasers]}\n"
        "          jobs:\n",
        ShellJob("ship", "echo shipped"),
        "  strict:\n"
        "    group: e2e\n"
        "    stages:\n"
        "      - build:\n"
        "          jobs:\n",
        ShellJob("broken", "exit 3"),
        "      - ship:\n"
        "          approval: {type: manual, roles: [releasers], allow_only_on_success: true}\n"
        "          jobs:\n",
        ShellJob("ship", "echo never")));
    ASSERT_TRUE(applied.ok()) << applied;
    for (const char* user : {"rel-lead", "carol", "mallory"}) {
      CliResult created = cluster_.Cli({"token", "create", "--user", user});
      ASSERT_EQ(created.exit_code, 0) << created.ToString();
      tokens_[user] = std::string(absl::StripAsciiWhitespace(created.out));
    }
  }

  // The CLI as `user` ("admin": the harness's Cli, with the bootstrap
  // token). Cluster::Cli always passes the admin's --token-file, so other
  // users' calls run the binary here.
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

// The gate of a manual first stage is checked on the trigger that opens it
// and a later stage's on `stage approve`, by user and by role, admins
// included; an approval's user, time and comment are recorded and printed.
// Along the way: a GANTRY_* --var is refused, and a --var for a secure
// variable stays masked in the job's log and in `pipeline show`.
TEST_F(GatesE2eTest, GatesAreEnforcedAndApprovalsRecorded) {
  for (const char* user : {"admin", "mallory"}) {
    CliResult refused = As(user, {"pipeline", "trigger", "gated"});
    EXPECT_EQ(refused.exit_code, 1) << refused.ToString();
    EXPECT_EQ(refused.err, absl::StrCat("gantry: permission denied: user '", user,
                                        "' may not trigger gated (a trigger opens its first "
                                        "stage build): only users rel-lead may approve it\n"));
  }
  CliResult reserved =
      As("rel-lead", {"pipeline", "trigger", "gated", "--var", "GANTRY_TRIGGER_USER=mallory"});
  EXPECT_EQ(reserved.exit_code, 1) << reserved.ToString();
  EXPECT_TRUE(absl::StrContains(reserved.err, "reserved")) << reserved.ToString();
  EXPECT_FALSE(cluster_.ShowRun("gated/1").ok()) << "a refused trigger created a run";

  CliResult trigger =
      As("rel-lead",
         {"pipeline", "trigger", "gated", "--var", absl::StrCat("DB_PASSWORD=", kSecret), "--wait"},
         kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 3) << trigger.ToString();  // stopped at deploy's gate

  absl::StatusOr<std::string> log = cluster_.JobLog("gated/1/build/show");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StrContains(*log, "pw=********")) << *log;
  EXPECT_FALSE(absl::StrContains(*log, kSecret)) << *log;

  for (const char* user : {"admin", "mallory", "rel-lead"}) {
    CliResult refused = As(user, {"stage", "approve", "gated/1/deploy"});
    EXPECT_EQ(refused.exit_code, 1) << refused.ToString();
    EXPECT_EQ(refused.err, absl::StrCat("gantry: permission denied: user '", user,
                                        "' may not approve stage gated/1/deploy: only roles "
                                        "releasers may approve it\n"));
  }
  CliResult approve =
      As("carol", {"stage", "approve", "gated/1/deploy", "--comment", "ship it: change 42"});
  ASSERT_EQ(approve.exit_code, 0) << approve.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("gated/1", "passed", kRunDeadline))
      << cluster_.ShowRun("gated/1").status();

  CliResult show = cluster_.Cli({"pipeline", "show", "gated/1"});
  ASSERT_EQ(show.exit_code, 0) << show.ToString();
  EXPECT_TRUE(absl::StrContains(show.out, "DB_PASSWORD=****")) << show.out;
  EXPECT_FALSE(absl::StrContains(show.out, kSecret)) << show.out;
  EXPECT_TRUE(absl::StrContains(show.out, "  approved by rel-lead at ")) << show.out;
  EXPECT_TRUE(absl::StrContains(show.out, "  approved by carol at ")) << show.out;
  EXPECT_TRUE(absl::StrContains(show.out, ": ship it: change 42\n")) << show.out;
  CliResult json = cluster_.Cli({"-o", "json", "pipeline", "show", "gated/1"});
  ASSERT_EQ(json.exit_code, 0) << json.ToString();
  EXPECT_FALSE(absl::StrContains(json.out, kSecret)) << json.out;

  absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun("gated/1");
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->variables_size(), 1);
  EXPECT_TRUE(run->variables(0).secure());
  const v1::StageRun* build = FindStage(*run, "build");
  ASSERT_NE(build, nullptr);
  ASSERT_EQ(build->approvals_size(), 1);  // the trigger opened it
  EXPECT_EQ(build->approvals(0).user(), "rel-lead");
  EXPECT_EQ(build->approvals(0).comment(), "");
  const v1::StageRun* deploy = FindStage(*run, "deploy");
  ASSERT_NE(deploy, nullptr);
  ASSERT_EQ(deploy->approvals_size(), 1);
  EXPECT_EQ(deploy->approvals(0).user(), "carol");
  EXPECT_EQ(deploy->approvals(0).comment(), "ship it: change 42");
  EXPECT_GE(deploy->approvals(0).at().seconds(), build->approvals(0).at().seconds());
}

// allow_only_on_success: after the previous stage failed, an approver's
// approval is refused with the reason, and the stage does not run.
TEST_F(GatesE2eTest, AllowOnlyOnSuccessRefusesApprovalAfterAFailure) {
  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "strict", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 1) << trigger.ToString();

  CliResult approve = As("carol", {"stage", "approve", "strict/1/ship", "--comment", "try"});
  EXPECT_EQ(approve.exit_code, 1) << approve.ToString();
  EXPECT_EQ(approve.err, "gantry: cannot approve strict/1/ship: previous stage build is failed\n");
  absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun("strict/1");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), "failed");
  const v1::StageRun* ship = FindStage(*run, "ship");
  ASSERT_NE(ship, nullptr);
  EXPECT_EQ(ship->state(), "not_run");
  EXPECT_EQ(ship->approvals_size(), 0);
}

}  // namespace
}  // namespace gantry::e2e
