// The controller on its own embedded PostgreSQL: a kill -9 of the
// postmaster during a run is noticed and repaired (the server is started
// again, with crash recovery), the run finishes once, and SIGTERM then stops
// everything within 10 s.
#include <gtest/gtest.h>
#include <signal.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr char kConfig[] = R"(
format_version: 10
pipelines:
  slow:
    stages:
      - build:
          jobs:
            j:
              tasks:
                - exec: {command: sh, arguments: ["-c", "echo start; sleep 4; echo $$ >> ../../runs; echo done"]}
)";

int PostmasterPid(const std::string& data_dir) {
  auto content = ReadFile(data_dir + "/pg/postmaster.pid");
  if (!content.ok()) return 0;
  std::vector<std::string> lines = absl::StrSplit(*content, '\n');
  int pid = 0;
  return !lines.empty() && absl::SimpleAtoi(lines[0], &pid) ? pid : 0;
}

TEST(EmbeddedPgTest, AKilledPostmasterIsRestartedAndTheRunFinishesOnce) {
  Cluster cluster;
  cluster.UseEmbeddedDatabase();
  ASSERT_TRUE(cluster.StartController().ok()) << cluster.LogTails();
  ASSERT_TRUE(cluster.ApplyConfig(kConfig).ok()) << cluster.LogTails();
  auto agent = cluster.StartAgent({.name = "a1"});
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(cluster.WaitForIdleAgents()) << cluster.LogTails();
  ASSERT_EQ(cluster.Cli({"pipeline", "trigger", "slow"}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] {
    auto run = cluster.ShowRun("slow/1");
    return run.ok() && run->stages(0).jobs_size() == 1 && run->stages(0).jobs(0).state() == "running";
  }, absl::Seconds(60), kCliPoll)) << cluster.LogTails();

  int pid = PostmasterPid(cluster.data_dir());
  ASSERT_GT(pid, 0) << "no postmaster.pid under " << cluster.data_dir();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);

  // Noticed and restarted, and the run finishes, once.
  EXPECT_TRUE(WaitFor([&] {
    return absl::StrContains(cluster.ControllerLog(), "embedded PostgreSQL restarted");
  }, absl::Seconds(30))) << cluster.LogTails();
  EXPECT_TRUE(cluster.WaitForRunState("slow/1", "passed", absl::Seconds(120))) << cluster.LogTails();
  int new_pid = PostmasterPid(cluster.data_dir());
  EXPECT_GT(new_pid, 0);
  EXPECT_NE(new_pid, pid);
  auto runs = ReadFile(cluster.agent_work_dir(*agent) + "/runs");
  ASSERT_TRUE(runs.ok()) << runs.status();
  EXPECT_EQ(std::count(runs->begin(), runs->end(), '\n'), 1) << *runs;

  // SIGTERM stops the controller, and its PostgreSQL, promptly.
  absl::Time asked = absl::Now();
  ExitStatus stopped = cluster.KillController(SIGTERM);
  EXPECT_LT(absl::Now() - asked, absl::Seconds(10));
  EXPECT_EQ(stopped.exit_code, 0) << cluster.LogTails();
  EXPECT_TRUE(WaitFor([&] { return ::kill(new_pid, 0) != 0; }, absl::Seconds(10)));
}

// With its database gone (and work waiting to be written), SIGTERM still
// stops the controller within 10 s rather than after the retry deadline.
TEST(EmbeddedPgTest, SigtermStopsTheControllerWhileItsDatabaseIsAway) {
  Cluster cluster;
  ASSERT_TRUE(cluster.StartController().ok()) << cluster.LogTails();
  ASSERT_TRUE(cluster.ApplyConfig(kConfig).ok()) << cluster.LogTails();
  auto agent = cluster.StartAgent({.name = "a1"});
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(cluster.WaitForIdleAgents()) << cluster.LogTails();
  ASSERT_EQ(cluster.Cli({"pipeline", "trigger", "slow"}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] {
    auto run = cluster.ShowRun("slow/1");
    return run.ok() && run->stages(0).jobs_size() == 1 && run->stages(0).jobs(0).state() == "running";
  }, absl::Seconds(60), kCliPoll)) << cluster.LogTails();
  ASSERT_TRUE(StopSharedPostgres().ok());
  // The job ends while the database is away: its report waits in a retry.
  EXPECT_TRUE(WaitFor([&] {
    return absl::StrContains(cluster.ControllerLog(), "retrying");
  }, absl::Seconds(30))) << cluster.LogTails();
  absl::Time asked = absl::Now();
  ExitStatus stopped = cluster.KillController(SIGTERM);
  absl::Duration took = absl::Now() - asked;
  EXPECT_LT(took, absl::Seconds(10)) << stopped.ToString() << "\n" << cluster.LogTails();
  EXPECT_EQ(stopped.term_signal, 0) << stopped.ToString();
  ASSERT_TRUE(StartSharedPostgres().ok());
}

}  // namespace
}  // namespace gantry::e2e
