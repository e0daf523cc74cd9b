// End-to-end: where jobs run. Three agents with different resources and
// environments; jobs land only where DESIGN's matching rule allows, a job no
// agent can take says why, jobs of one stage run at once on different
// agents, and `run_instances` fans a job out.
//
// Every task is a shell script (written to the test's directory, so no YAML
// quoting) that records, in marker files, which agent ran it: the agent's
// name is its work dir's, and a task runs in WORK_DIR/pipelines/PIPELINE.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "gantry/v1/operator.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

namespace fs = std::filesystem;

constexpr absl::Duration kRunDeadline = absl::Seconds(60);

// Agent names (also their indexes, in this order).
constexpr char kProdLinux[] = "prod-linux";  // linux, docker; env prod, staging
constexpr char kWin[] = "win";               // Windows; no environment
constexpr char kPlainLinux[] = "plain-linux";  // LINUX; no environment

// A job `name` whose one task runs `script` with /bin/sh; `keys` are more
// lines of the job's map (already "key: value").
std::string Job(const std::string& name, const std::string& script,
                const std::vector<std::string>& keys = {}) {
  std::string out = absl::StrCat("            ", name, ":\n");
  for (const std::string& k : keys) absl::StrAppend(&out, "              ", k, "\n");
  absl::StrAppend(&out,
                  "              tasks:\n"
                  "                - exec:\n"
                  "                    command: /bin/sh\n"
                  "                    arguments: [",
                  script, "]\n");
  return out;
}

// A pipeline with one stage `stage` holding `jobs` (made with Job()).
std::string Pipeline(const std::string& name, const std::string& stage,
                     const std::string& jobs) {
  return absl::StrCat("  ", name,
                      ":\n"
                      "    group: e2e\n"
                      "    stages:\n"
                      "      - ",
                      stage,
                      ":\n"
                      "          jobs:\n",
                      jobs);
}

std::string Dump(const absl::StatusOr<v1::PipelineRun>& run) {
  return run.ok() ? run->DebugString() : run.status().ToString();
}

std::vector<const v1::JobRun*> JobsNamed(const v1::PipelineRun& run,
                                         const std::string& prefix) {
  std::vector<const v1::JobRun*> out;
  for (const v1::StageRun& s : run.stages()) {
    for (const v1::JobRun& j : s.jobs()) {
      if (absl::StartsWith(j.name(), prefix)) out.push_back(&j);
    }
  }
  return out;
}

class PlacementE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = cluster_.StartController(
        {"--heartbeat-interval", "0.5", "--agent-lost-timeout", "5"});
    ASSERT_TRUE(started.ok()) << started;
    for (const AgentOptions& o :
         {AgentOptions{kProdLinux, {"linux", "docker"}, {"prod", "staging"}, {}},
          AgentOptions{kWin, {"Windows"}, {}, {}},
          AgentOptions{kPlainLinux, {"LINUX"}, {}, {}}}) {
      absl::StatusOr<int> agent = cluster_.StartAgent(o);
      ASSERT_TRUE(agent.ok()) << agent.status();
    }
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << "agents never became idle";

    // Records where it ran: ran/PIPELINE.JOB.AGENT holding the environment.
    marker_script_ = cluster_.WriteFile(
        "scripts/mark.sh",
        absl::StrCat("D=", cluster_.dir(), "\n",
                     "echo $$ > \"$D/task-pids/$$\"\n"
                     "AGENT=$(basename \"$(dirname \"$(dirname \"$(pwd -P)\")\")\")\n"
                     "mkdir -p \"$D/ran\"\n"
                     "echo \"env=$GANTRY_ENVIRONMENT_NAME\" > "
                     "\"$D/ran/$GANTRY_PIPELINE_NAME.$GANTRY_JOB_NAME.$AGENT\"\n"
                     "echo \"ran $GANTRY_JOB_NAME on $AGENT\"\n"));
  }

  // Agents that ran PIPELINE.JOB, from the marker files.
  std::vector<std::string> MarkedAgents(const std::string& pipeline,
                                        const std::string& job) {
    std::vector<std::string> out;
    std::error_code ec;
    const std::string prefix = absl::StrCat(pipeline, ".", job, ".");
    for (const auto& e : fs::directory_iterator(cluster_.dir() + "/ran", ec)) {
      std::string name = e.path().filename().string();
      if (absl::StartsWith(name, prefix)) out.push_back(name.substr(prefix.size()));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string MarkerContent(const std::string& pipeline, const std::string& job,
                            const std::string& agent) {
    absl::StatusOr<std::string> s = ReadFile(absl::StrCat(
        cluster_.dir(), "/ran/", pipeline, ".", job, ".", agent));
    return s.ok() ? std::string(absl::StripAsciiWhitespace(*s)) : "<none>";
  }

  CliResult TriggerAndWait(const std::string& pipeline) {
    return cluster_.Cli({"pipeline", "trigger", pipeline, "--wait"},
                        kRunDeadline);
  }

  // The job's reason once it matches `pred`, after polling `gantry pipeline
  // show`; "" if it never did.
  std::string WaitForReason(const std::string& locator, const std::string& job,
                            const std::string& expected) {
    std::string last;
    WaitFor(
        [&] {
          absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun(locator);
          if (!run.ok()) return false;
          for (const v1::JobRun* j : JobsNamed(*run, job)) last = j->reason();
          return absl::StrContains(last, expected);
        },
        absl::Seconds(15), kCliPoll);
    return last;
  }

  Cluster cluster_;
  std::string marker_script_;
};

// DESIGN's rule over three agents: resources (all of them, ignoring case),
// a pipeline in an environment only on its agents, a pipeline in none only
// on agents in none, an agent in two environments serves both.
TEST_F(PlacementE2eTest, JobsLandOnlyOnAllowedAgents) {
  const std::string& m = marker_script_;
  ASSERT_TRUE(cluster_
                  .ApplyConfig(absl::StrCat(
                      "format_version: 10\n"
                      "environments:\n"
                      "  prod:\n"
                      "    pipelines: [deploy]\n"
                      "  staging:\n"
                      "    pipelines: [smoke]\n"
                      "pipelines:\n",
                      Pipeline("deploy", "ship",
                               Job("rollout", m, {"resources: [linux, docker]"}) +
                                   Job("anyprod", m)),
                      Pipeline("smoke", "check", Job("probe", m)),
                      Pipeline("build", "compile",
                               Job("linux-job", m, {"resources: [linux]"}) +
                                   Job("win-job", m, {"resources: [windows]"}) +
                                   Job("free-job", m))))
                  .ok());

  for (const char* p : {"deploy", "smoke", "build"}) {
    CliResult r = TriggerAndWait(p);
    ASSERT_EQ(r.exit_code, 0) << p << ": " << r.ToString();
  }

  struct Expect {
    std::string pipeline, job;
    std::set<std::string> allowed;
    std::string env;
  };
  for (const Expect& e : std::vector<Expect>{
           {"deploy", "rollout", {kProdLinux}, "prod"},
           {"deploy", "anyprod", {kProdLinux}, "prod"},
           {"smoke", "probe", {kProdLinux}, "staging"},
           {"build", "linux-job", {kPlainLinux}, ""},  // LINUX ~ linux
           {"build", "win-job", {kWin}, ""},           // Windows ~ windows
           {"build", "free-job", {kWin, kPlainLinux}, ""},
       }) {
    SCOPED_TRACE(e.pipeline + "/" + e.job);
    absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun(e.pipeline + "/1");
    ASSERT_TRUE(run.ok()) << run.status();
    std::vector<const v1::JobRun*> jobs = JobsNamed(*run, e.job);
    ASSERT_EQ(jobs.size(), 1u);
    EXPECT_EQ(jobs[0]->state(), "passed");
    EXPECT_TRUE(e.allowed.count(jobs[0]->agent_name()))
        << "ran on " << jobs[0]->agent_name();
    std::vector<std::string> marked = MarkedAgents(e.pipeline, e.job);
    ASSERT_EQ(marked.size(), 1u) << absl::StrJoin(marked, ",");
    EXPECT_EQ(marked[0], jobs[0]->agent_name());
    EXPECT_EQ(MarkerContent(e.pipeline, e.job, marked[0]), "env=" + e.env);
  }
}

// A job no agent can take waits and says why in `gantry pipeline show`; an
// agent listed under an environment's `agents:` in the config is in it (and
// so no longer serves pipelines outside environments); a job whose only
// matching agent is offline says so, and runs when it comes back.
TEST_F(PlacementE2eTest, WaitingJobsSayWhy) {
  const std::string& m = marker_script_;
  ASSERT_TRUE(cluster_
                  .ApplyConfig(absl::StrCat(
                      "format_version: 10\n"
                      "environments:\n"
                      "  prod:\n"
                      "    pipelines: [exotic]\n"
                      "  qa:\n"
                      "    pipelines: [qa-check]\n"
                      "    agents: [win]\n"
                      "pipelines:\n",
                      Pipeline("exotic", "build",
                               Job("solaris-job", m, {"resources: [solaris]"})),
                      Pipeline("qa-check", "test",
                               Job("on-qa", m, {"resources: [windows]"})),
                      Pipeline("desktop", "build",
                               Job("win-job", m, {"resources: [WINDOWS]"})),
                      Pipeline("server", "build",
                               Job("linux-job", m, {"resources: [linux]"}))))
                  .ok());

  // Environment prod has one agent, without solaris.
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "exotic"}).exit_code, 0);
  std::string reason = WaitForReason(
      "exotic/1", "solaris-job",
      "no enabled agent has resources [solaris] in environment prod");
  EXPECT_TRUE(absl::StartsWith(reason, "waiting: ")) << reason;
  EXPECT_TRUE(absl::StrContains(
      reason, "no enabled agent has resources [solaris] in environment prod"))
      << reason;
  CliResult text = cluster_.Cli({"pipeline", "show", "exotic/1"});
  EXPECT_EQ(text.exit_code, 0) << text.ToString();
  EXPECT_TRUE(absl::StrContains(
      text.out, "no enabled agent has resources [solaris] in environment prod"))
      << text.out;

  // `win` is in qa through the config's agent list: it runs qa-check...
  CliResult qa = TriggerAndWait("qa-check");
  EXPECT_EQ(qa.exit_code, 0) << qa.ToString();
  EXPECT_EQ(MarkedAgents("qa-check", "on-qa"), std::vector<std::string>{kWin});
  // ...and no longer a pipeline outside every environment.
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "desktop"}).exit_code, 0);
  reason = WaitForReason("desktop/1", "win-job", "outside every environment");
  EXPECT_TRUE(absl::StrContains(
      reason, "no enabled agent has resources [WINDOWS] outside every environment"))
      << reason;

  // The one agent that could run `server` is offline.
  int plain = cluster_.AgentIndex(kPlainLinux);
  cluster_.KillAgent(plain, SIGKILL);
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<v1::Agent> a = cluster_.FindAgent(kPlainLinux);
        return a.ok() && !a->connected();
      },
      absl::Seconds(15), kCliPoll));
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "server"}).exit_code, 0);
  reason = WaitForReason("server/1", "linux-job", "offline");
  EXPECT_EQ(reason, "waiting: every matching agent is offline");
  EXPECT_TRUE(MarkedAgents("server", "linux-job").empty());

  ASSERT_TRUE(cluster_.RestartAgent(plain).ok());
  EXPECT_TRUE(cluster_.WaitForRunState("server/1", "passed", kRunDeadline))
      << Dump(cluster_.ShowRun("server/1"));
  EXPECT_EQ(MarkedAgents("server", "linux-job"),
            std::vector<std::string>{kPlainLinux});

  // The unmatched jobs still wait and never ran anywhere.
  for (const auto& [locator, job] :
       std::vector<std::pair<std::string, std::string>>{
           {"exotic/1", "solaris-job"}, {"desktop/1", "win-job"}}) {
    absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun(locator);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->state(), "building") << locator;
    for (const v1::JobRun* j : JobsNamed(*run, job)) {
      EXPECT_EQ(j->state(), "scheduled") << locator;
      EXPECT_TRUE(j->agent_name().empty()) << locator;
    }
  }
  EXPECT_TRUE(MarkedAgents("exotic", "solaris-job").empty());
  EXPECT_TRUE(MarkedAgents("desktop", "win-job").empty());
}

// The two jobs of a stage run at the same time on different agents: each
// waits (boundedly) until it sees the other's start marker, so the stage can
// only pass if they overlapped.
TEST_F(PlacementE2eTest, JobsOfOneStageRunInParallelOnDifferentAgents) {
  const std::string rendezvous = cluster_.WriteFile(
      "scripts/rendezvous.sh",
      absl::StrCat(
          "D=", cluster_.dir(), "/par\n",
          "echo $$ > \"", cluster_.task_pid_dir(), "/$$\"\n",
          "mkdir -p \"$D\"\n"
          "case $GANTRY_JOB_NAME in left) other=right ;; *) other=left ;; esac\n"
          "touch \"$D/$GANTRY_JOB_NAME.started\"\n"
          "i=0\n"
          "while [ ! -f \"$D/$other.started\" ]; do\n"
          "  i=$((i+1)); [ $i -gt 600 ] && { echo \"never saw $other\"; exit 1; }\n"
          "  sleep 0.05\n"
          "done\n"
          "touch \"$D/$GANTRY_JOB_NAME.saw-$other\"\n"
          "echo \"$GANTRY_JOB_NAME saw $other running\"\n"));
  ASSERT_TRUE(cluster_
                  .ApplyConfig(absl::StrCat(
                      "format_version: 10\n"
                      "environments:\n"
                      "  prod:\n"
                      "    pipelines: [elsewhere]\n"
                      "pipelines:\n",
                      Pipeline("pair", "both",
                               Job("left", rendezvous) + Job("right", rendezvous)),
                      Pipeline("elsewhere", "idle", Job("noop", marker_script_))))
                  .ok());

  CliResult r = TriggerAndWait("pair");
  ASSERT_EQ(r.exit_code, 0) << r.ToString();
  absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun("pair/1");
  ASSERT_TRUE(run.ok()) << run.status();
  std::vector<const v1::JobRun*> left = JobsNamed(*run, "left");
  std::vector<const v1::JobRun*> right = JobsNamed(*run, "right");
  ASSERT_EQ(left.size(), 1u);
  ASSERT_EQ(right.size(), 1u);
  EXPECT_NE(left[0]->agent_name(), right[0]->agent_name());
  // Only agents outside every environment may run `pair` (prod-linux is in
  // prod, which the config defines).
  for (const v1::JobRun* j : {left[0], right[0]}) {
    EXPECT_TRUE(j->agent_name() == kWin || j->agent_name() == kPlainLinux)
        << j->name() << " ran on " << j->agent_name();
  }
  EXPECT_TRUE(FileExists(cluster_.dir() + "/par/left.saw-right"));
  EXPECT_TRUE(FileExists(cluster_.dir() + "/par/right.saw-left"));
}

// `run_instances: all` runs one copy on each enabled matching agent (and on
// no other); none matching fails the stage with the reason;
// `run_instances: N` runs N copies.
TEST_F(PlacementE2eTest, RunInstances) {
  const std::string& m = marker_script_;
  ASSERT_TRUE(cluster_
                  .ApplyConfig(absl::StrCat(
                      "format_version: 10\n"
                      "environments:\n"
                      "  prod:\n"
                      "    pipelines: [fanout-prod]\n"
                      "pipelines:\n",
                      Pipeline("fanout", "probe",
                               Job("probe", m, {"run_instances: all"})),
                      Pipeline("fanout-prod", "probe",
                               Job("probe", m, {"run_instances: all"})),
                      Pipeline("fanout-none", "probe",
                               Job("probe", m,
                                   {"run_instances: all", "resources: [solaris]"})),
                      Pipeline("three", "probe",
                               Job("probe", m, {"run_instances: 3"}))))
                  .ok());

  CliResult r = TriggerAndWait("fanout");
  ASSERT_EQ(r.exit_code, 0) << r.ToString();
  absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun("fanout/1");
  ASSERT_TRUE(run.ok()) << run.status();
  std::vector<const v1::JobRun*> jobs = JobsNamed(*run, "probe");
  ASSERT_EQ(jobs.size(), 2u) << run->DebugString();
  std::set<std::string> names, agents;
  for (const v1::JobRun* j : jobs) {
    EXPECT_EQ(j->state(), "passed") << j->name();
    names.insert(j->name());
    agents.insert(j->agent_name());
  }
  EXPECT_EQ(names, (std::set<std::string>{"probe-runInstance-1",
                                          "probe-runInstance-2"}));
  EXPECT_EQ(agents, (std::set<std::string>{kWin, kPlainLinux}))
      << "one instance on each matching agent";

  r = TriggerAndWait("fanout-prod");
  ASSERT_EQ(r.exit_code, 0) << r.ToString();
  run = cluster_.ShowRun("fanout-prod/1");
  ASSERT_TRUE(run.ok()) << run.status();
  jobs = JobsNamed(*run, "probe");
  ASSERT_EQ(jobs.size(), 1u) << run->DebugString();
  EXPECT_EQ(jobs[0]->agent_name(), kProdLinux);
  EXPECT_EQ(jobs[0]->state(), "passed");

  r = TriggerAndWait("fanout-none");
  EXPECT_EQ(r.exit_code, 1) << r.ToString();
  run = cluster_.ShowRun("fanout-none/1");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), "failed");
  ASSERT_EQ(run->stages_size(), 1);
  EXPECT_EQ(run->stages(0).state(), "failed");
  jobs = JobsNamed(*run, "probe");
  ASSERT_FALSE(jobs.empty());
  for (const v1::JobRun* j : jobs) {
    EXPECT_EQ(j->state(), "failed");
    EXPECT_TRUE(absl::StrContains(j->reason(), "run_instances: all")) << j->reason();
    EXPECT_TRUE(absl::StrContains(j->reason(), "[solaris]")) << j->reason();
    EXPECT_TRUE(j->agent_name().empty());
  }
  EXPECT_TRUE(MarkedAgents("fanout-none", "probe-runInstance-1").empty());

  r = TriggerAndWait("three");
  ASSERT_EQ(r.exit_code, 0) << r.ToString();
  run = cluster_.ShowRun("three/1");
  ASSERT_TRUE(run.ok()) << run.status();
  jobs = JobsNamed(*run, "probe");
  ASSERT_EQ(jobs.size(), 3u) << run->DebugString();
  for (const v1::JobRun* j : jobs) {
    EXPECT_EQ(j->state(), "passed") << j->name();
    EXPECT_TRUE(j->agent_name() == kWin || j->agent_name() == kPlainLinux)
        << j->name() << " ran on " << j->agent_name();
    EXPECT_EQ(MarkedAgents("three", j->name()),
              std::vector<std::string>{j->agent_name()});
  }
}

}  // namespace
}  // namespace gantry::e2e
