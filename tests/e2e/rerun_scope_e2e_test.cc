// End-to-end: what a `gantry stage rerun` runs, through the real controller,
// agent and CLI on a real PostgreSQL. --with-current-config prints what
// today's config changes, then runs today's job under today's variables
// while the run keeps its own revision (a plain re-run after it runs the
// run's own again). --failed-jobs runs only the job that failed: the passed
// one is copied with its console and artifact, which a later stage fetches.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gantry/v1/operator.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(90);

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
      version, " version=$VERSION counter=$GANTRY_STAGE_COUNTER\"\n");
}

// Stage `s` has a job that passes (and counts its runs in `count_file`,
// uploading an artifact) and one that passes only once `marker` exists;
// stage `use` fetches the passing job's artifact.
std::string TwoJobConfig(const std::string& count_file, const std::string& marker) {
  return absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  twojobs:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - s:\n"
      "          jobs:\n"
      "            ok:\n"
      "              artifacts:\n"
      "                - build: {source: out.txt}\n"
      "              tasks:\n"
      "                - exec:\n"
      "                    command: /bin/sh\n"
      "                    arguments:\n"
      "                      - -c\n"
      "                      - \"echo built-in-$GANTRY_STAGE_COUNTER > out.txt && echo ran >> ",
      count_file,
      " && echo ok-ran\"\n"
      "            flaky:\n"
      "              tasks:\n"
      "                - exec:\n"
      "                    command: /bin/sh\n"
      "                    arguments:\n"
      "                      - -c\n"
      "                      - \"test -f ",
      marker,
      "\"\n"
      "      - use:\n"
      "          jobs:\n"
      "            u:\n"
      "              tasks:\n"
      "                - fetch: {stage: s, job: ok, file: out.txt}\n"
      "                - exec:\n"
      "                    command: /bin/sh\n"
      "                    arguments:\n"
      "                      - -c\n"
      "                      - \"echo fetched=$(cat out.txt)\"\n");
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const v1::StageRun* Stage(const v1::PipelineRun& run, const std::string& name) {
  for (const v1::StageRun& s : run.stages()) {
    if (s.name() == name) return &s;
  }
  return nullptr;
}

class RerunScopeE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = cluster_.StartController();
    ASSERT_TRUE(started.ok()) << started;
    absl::StatusOr<int> agent = cluster_.StartAgent();
    ASSERT_TRUE(agent.ok()) << agent.status();
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << "the agent never became idle";
  }

  Cluster cluster_;
};

TEST_F(RerunScopeE2eTest, WithCurrentConfigShowsTheDifferenceAndRunsTodaysJob) {
  ASSERT_TRUE(cluster_.ApplyConfig(DeployConfig("v1")).ok());
  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "deploy", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString() << cluster_.LogTails();
  ASSERT_TRUE(cluster_.ApplyConfig(DeployConfig("v2")).ok());

  CliResult rerun = cluster_.Cli({"stage", "rerun", "deploy/1/go", "--with-current-config"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.ToString() << cluster_.LogTails();
  // The difference comes first, then what was done.
  size_t minus = rerun.out.find("-  VERSION: v1");
  size_t plus = rerun.out.find("+  VERSION: v2");
  size_t done = rerun.out.find("re-running deploy/1/go as attempt 2");
  EXPECT_NE(minus, std::string::npos) << rerun.out;
  EXPECT_NE(plus, std::string::npos) << rerun.out;
  ASSERT_NE(done, std::string::npos) << rerun.out;
  EXPECT_LT(plus, done) << rerun.out;
  EXPECT_TRUE(absl::StrContains(rerun.out, "under config revision")) << rerun.out;

  absl::StatusOr<std::string> log = cluster_.JobLog("deploy/1/go/2/d", kRunDeadline);
  ASSERT_TRUE(log.ok()) << log.status() << cluster_.LogTails();
  EXPECT_TRUE(absl::StrContains(*log, "config-v2 version=v2 counter=2")) << *log;
  ASSERT_TRUE(cluster_.WaitForRunState("deploy/1", "passed", kRunDeadline)) << cluster_.LogTails();

  absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun("deploy/1");
  ASSERT_TRUE(run.ok()) << run.status();
  const v1::StageRun* go = Stage(*run, "go");
  ASSERT_NE(go, nullptr) << run->DebugString();
  EXPECT_GT(go->config_revision(), run->config_revision()) << run->DebugString();

  // The run kept its own revision: a plain re-run runs v1 again.
  CliResult own = cluster_.Cli({"stage", "rerun", "deploy/1/go"});
  ASSERT_EQ(own.exit_code, 0) << own.ToString() << cluster_.LogTails();
  absl::StatusOr<std::string> log3 = cluster_.JobLog("deploy/1/go/3/d", kRunDeadline);
  ASSERT_TRUE(log3.ok()) << log3.status() << cluster_.LogTails();
  EXPECT_TRUE(absl::StrContains(*log3, "config-v1 version=v1 counter=3")) << *log3;

  // A stage that today's config does not have is a clear error.
  ASSERT_TRUE(cluster_.WaitForRunState("deploy/1", "passed", kRunDeadline)) << cluster_.LogTails();
  CliResult unknown = cluster_.Cli({"stage", "rerun", "deploy/1/nope", "--with-current-config"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.ToString();
  EXPECT_TRUE(absl::StrContains(unknown.err, "stage 'nope'")) << unknown.err;
}

TEST_F(RerunScopeE2eTest, FailedJobsRunsOnlyTheFailedOnesAndKeepsThePassedOutput) {
  std::string count_file = cluster_.dir() + "/ok-runs";
  std::string marker = cluster_.dir() + "/flaky-fixed";
  ASSERT_TRUE(cluster_.ApplyConfig(TwoJobConfig(count_file, marker)).ok());
  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "twojobs"});
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("twojobs/1", "failed", kRunDeadline))
      << cluster_.LogTails();
  EXPECT_EQ(ReadAll(count_file), "ran\n");

  cluster_.WriteFile("flaky-fixed", "");
  CliResult rerun = cluster_.Cli(
      {"stage", "rerun", "twojobs/1/s", "--failed-jobs", "--and-following"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.ToString() << cluster_.LogTails();
  EXPECT_TRUE(absl::StrContains(rerun.out, "1 passed job(s) kept")) << rerun.out;
  ASSERT_TRUE(cluster_.WaitForRunState("twojobs/1", "passed", kRunDeadline))
      << cluster_.LogTails();

  // The passing job did not run again...
  EXPECT_EQ(ReadAll(count_file), "ran\n");
  absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun("twojobs/1");
  ASSERT_TRUE(run.ok()) << run.status();
  const v1::StageRun* s = Stage(*run, "s");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->counter(), 2);
  for (const v1::JobRun& j : s->jobs()) {
    EXPECT_EQ(j.state(), "passed") << j.DebugString();
    if (j.name() == "ok") {
      EXPECT_NE(j.copied_from_attempt(), 0) << j.DebugString();
    } else {
      EXPECT_EQ(j.copied_from_attempt(), 0) << j.DebugString();
    }
  }
  // ...its console and artifact are those of attempt 1, found through 2.
  absl::StatusOr<std::string> ok_log = cluster_.JobLog("twojobs/1/s/2/ok", kRunDeadline);
  ASSERT_TRUE(ok_log.ok()) << ok_log.status();
  EXPECT_TRUE(absl::StrContains(*ok_log, "ok-ran")) << *ok_log;
  absl::StatusOr<std::string> use_log = cluster_.JobLog("twojobs/1/use/1/u", kRunDeadline);
  ASSERT_TRUE(use_log.ok()) << use_log.status() << cluster_.LogTails();
  EXPECT_TRUE(absl::StrContains(*use_log, "fetched=built-in-1")) << *use_log;

  // Nothing failed in a passed stage: refused, with the way out.
  CliResult again = cluster_.Cli({"stage", "rerun", "twojobs/1/s", "--failed-jobs"});
  EXPECT_EQ(again.exit_code, 1) << again.ToString();
  EXPECT_TRUE(absl::StrContains(again.err, "every job of twojobs/1/s/2 passed")) << again.err;
}

}  // namespace
}  // namespace gantry::e2e
