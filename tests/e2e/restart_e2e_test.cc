// End-to-end: a controller restart costs a running job nothing. The
// controller is killed with -9 while an agent runs a job and started again
// at once on the same data dir and port, with a lost-agent timeout (3 s)
// shorter than the job (4 s): the agent must be back before the controller
// gives up on it, and the job must pass having run exactly once.
//
// The task appends a line to a marker file each time it runs, so a second
// run cannot hide. Every wait has a generous deadline; no timing is
// asserted beyond them.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "gantry/v1/operator.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(60);
// Only bounds a hung test: the agent is expected back within about a second
// of the controller serving (docs/architecture.md, "Agent reconnect").
constexpr absl::Duration kReconnectDeadline = absl::Seconds(20);

const std::vector<std::string> kControllerFlags = {"--agent-lost-timeout", "3",
                                                   "--heartbeat-interval", "1"};

std::string Dump(const absl::StatusOr<v1::PipelineRun>& run) {
  return run.ok() ? run->DebugString() : run.status().ToString();
}

// Non-empty lines of `text`.
int CountLines(const std::string& text) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StripAsciiWhitespace(line).empty()) ++n;
  }
  return n;
}

// How many times `needle` occurs in `haystack`.
int CountOf(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// The agent's state in `agent list`, for messages.
std::string AgentState(Cluster& cluster, const std::string& name) {
  absl::StatusOr<v1::Agent> agent = cluster.FindAgent(name);
  if (!agent.ok()) return agent.status().ToString();
  return absl::StrCat("status ", agent->status(), ", connected ", agent->connected() ? "yes" : "no",
                      ", building '", agent->building(), "'");
}

TEST(RestartE2eTest, ControllerKilledDuringAJobComesBackBeforeTheAgentIsLost) {
  Cluster cluster;
  absl::Status started = cluster.StartController(kControllerFlags);
  ASSERT_TRUE(started.ok()) << started;
  AgentOptions options;
  options.name = "a0";
  absl::StatusOr<int> agent = cluster.StartAgent(options);
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(cluster.WaitForIdleAgents()) << cluster.LogTails();

  const std::string marks = cluster.dir() + "/m";
  ASSERT_TRUE(MakeDirs(marks).ok());
  // The job's 4 s are what is under test (longer than the lost-agent
  // timeout), not a wait for anything.
  const std::string script = cluster.WriteFile(
      "scripts/job.sh", absl::StrCat("M=", marks, "\n", "echo $$ > \"", cluster.task_pid_dir(),
                                     "/$$\"\n", "echo \"run $$\" >> \"$M/runs\"\n",
                                     "touch \"$M/started\"\n", "sleep 4\n", "echo finished\n"));
  absl::Status applied =
      cluster.ApplyConfig(absl::StrCat("format_version: 10\n"
                                       "pipelines:\n"
                                       "  restart:\n"
                                       "    group: e2e\n"
                                       "    stages:\n"
                                       "      - build:\n"
                                       "          jobs:\n"
                                       "            work:\n"
                                       "              tasks:\n"
                                       "                - exec:\n"
                                       "                    command: /bin/sh\n"
                                       "                    arguments: [",
                                       script, "]\n"));
  ASSERT_TRUE(applied.ok()) << applied;
  CliResult trigger = cluster.Cli({"pipeline", "trigger", "restart"});
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();
  ASSERT_TRUE(WaitFor([&] { return FileExists(marks + "/started"); }, absl::Seconds(30)))
      << "the job never started\n"
      << cluster.LogTails();

  ExitStatus killed = cluster.KillController(SIGKILL);
  EXPECT_EQ(killed.term_signal, SIGKILL) << killed.ToString();
  absl::Status restarted = cluster.RestartController();
  ASSERT_TRUE(restarted.ok()) << restarted;

  // Back on the restarted controller while the job still runs (or already
  // idle, had it finished meanwhile): never lost.
  EXPECT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<v1::Agent> a = cluster.FindAgent("a0");
        return a.ok() && a->connected() && (a->status() == "building" || a->status() == "idle");
      },
      kReconnectDeadline, kCliPoll))
      << "agent a0 did not reconnect: " << AgentState(cluster, "a0") << "\n"
      << cluster.LogTails();

  ASSERT_TRUE(cluster.WaitForRunState("restart/1", "passed", kRunDeadline))
      << Dump(cluster.ShowRun("restart/1")) << "\n"
      << cluster.LogTails();
  absl::StatusOr<v1::PipelineRun> run = cluster.ShowRun("restart/1");
  ASSERT_TRUE(run.ok()) << run.status();
  std::vector<v1::JobRun> attempts;
  for (const v1::StageRun& s : run->stages()) {
    for (const v1::JobRun& j : s.jobs()) attempts.push_back(j);
  }
  ASSERT_EQ(attempts.size(), 1u) << run->DebugString();
  EXPECT_EQ(attempts[0].state(), "passed");
  EXPECT_EQ(attempts[0].agent_name(), "a0");

  absl::StatusOr<std::string> runs = ReadFile(marks + "/runs");
  ASSERT_TRUE(runs.ok()) << runs.status();
  EXPECT_EQ(CountLines(*runs), 1) << "the task ran more than once:\n" << *runs;
  absl::StatusOr<std::string> log = cluster.JobLog("restart/1/build/work");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(CountOf(*log, "finished\n"), 1) << *log;

  EXPECT_TRUE(cluster.WaitForIdleAgents(kReconnectDeadline))
      << "agent a0 is not idle and connected: " << AgentState(cluster, "a0");
  // Welcomed by the first controller and again by the restarted one.
  EXPECT_GE(CountOf(cluster.AgentLog(0),
                    absl::StrCat("connected to ", cluster.controller_addr(), " as agent")),
            2)
      << cluster.AgentLog(0);
}

}  // namespace
}  // namespace gantry::e2e
