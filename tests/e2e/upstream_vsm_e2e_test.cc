// End-to-end: `pipeline trigger deploy --revision up=N` deploys an older
// upstream run, and `pipeline vsm` shows what fed a run and what it fed
// (issue 16 points 2 and 6), through the real controller, agent and CLI on
// a real PostgreSQL. The proof of a pick is what the deploy job saw: its
// label and the artifact its fetch task downloaded, both from build/1.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gantry/v1/operator.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(90);

// A `/bin/sh -c SCRIPT` exec task at indent 16, the script a literal block.
std::string ShTask(const std::string& script) {
  std::string out =
      "                - exec:\n"
      "                    command: /bin/sh\n"
      "                    arguments:\n"
      "                      - -c\n"
      "                      - |\n";
  for (absl::string_view line : absl::StrSplit(script, '\n')) {
    if (!line.empty()) absl::StrAppend(&out, "                        ", line, "\n");
  }
  return out;
}

class UpstreamVsmE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = cluster_.StartController();
    ASSERT_TRUE(started.ok()) << started;
    absl::StatusOr<int> agent = cluster_.StartAgent();
    ASSERT_TRUE(agent.ok()) << agent.status();
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << "the agent never became idle";
    absl::Status applied = cluster_.ApplyConfig(absl::StrCat(
        "format_version: 10\n"
        "pipelines:\n"
        "  build:\n"
        "    group: e2e\n"
        "    stages:\n"
        "      - make:\n"
        "          jobs:\n"
        "            pack:\n"
        "              artifacts:\n"
        "                - build: {source: out/version.txt, destination: v}\n"
        "              tasks:\n",
        ShTask("mkdir -p out\necho version-$GANTRY_PIPELINE_COUNTER > out/version.txt\n"),
        "  deploy:\n"
        "    group: e2e\n"
        "    label_template: \"${up}\"\n"
        "    materials:\n"
        "      up: {pipeline: build, stage: make}\n"
        "    stages:\n"
        "      - ship:\n"
        "          jobs:\n"
        "            go:\n"
        "              tasks:\n"
        "                - fetch: {pipeline: build, stage: make, job: pack, source: v}\n",
        ShTask("echo label=$GANTRY_PIPELINE_LABEL\necho deployed $(cat v/version.txt)\n"),
        "  smoke:\n"
        "    group: e2e\n"
        "    materials:\n"
        "      deployed: {pipeline: deploy, stage: ship}\n"
        "    stages:\n"
        "      - check:\n"
        "          jobs:\n"
        "            ok:\n"
        "              tasks:\n",
        ShTask("echo smoke\n")));
    ASSERT_TRUE(applied.ok()) << applied;
  }

  // Triggers `pipeline` and waits for the run to pass.
  void TriggerAndPass(std::vector<std::string> extra, const std::string& run) {
    std::vector<std::string> args = {"pipeline", "trigger"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("--wait");
    CliResult trigger = cluster_.Cli(args, kRunDeadline);
    ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString() << cluster_.LogTails();
    ASSERT_TRUE(cluster_.WaitForRunState(run, "passed", kRunDeadline)) << cluster_.LogTails();
  }

  Cluster cluster_;
};

TEST_F(UpstreamVsmE2eTest, RevisionPicksAnOlderUpstreamRunAndVsmShowsBothDirections) {
  // build/1 and build/2 each pass and feed deploy/1 and deploy/2.
  ASSERT_NO_FATAL_FAILURE(TriggerAndPass({"build"}, "build/1"));
  ASSERT_TRUE(cluster_.WaitForRunState("deploy/1", "passed", kRunDeadline));
  ASSERT_NO_FATAL_FAILURE(TriggerAndPass({"build"}, "build/2"));
  ASSERT_TRUE(cluster_.WaitForRunState("deploy/2", "passed", kRunDeadline));
  absl::StatusOr<std::string> newest = cluster_.JobLog("deploy/2/ship/go");
  ASSERT_TRUE(newest.ok()) << newest.status();
  EXPECT_TRUE(absl::StrContains(*newest, "deployed version-2")) << *newest;

  // --revision up=1 deploys build 1 although build/2 is newer.
  ASSERT_NO_FATAL_FAILURE(TriggerAndPass({"deploy", "--revision", "up=1"}, "deploy/3"));
  absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun("deploy/3");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->label(), "build-1");
  absl::StatusOr<std::string> log = cluster_.JobLog("deploy/3/ship/go");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StrContains(*log, "label=build-1")) << *log;
  EXPECT_TRUE(absl::StrContains(*log, "deployed version-1")) << *log;
  // The UPSTREAM/N spelling names the same run.
  ASSERT_NO_FATAL_FAILURE(TriggerAndPass({"deploy", "--revision", "up=build/1"}, "deploy/4"));
  log = cluster_.JobLog("deploy/4/ship/go");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StrContains(*log, "deployed version-1")) << *log;

  // Refusals are one clear line each, and start nothing.
  struct Refusal {
    std::string revision;
    std::string message;
  };
  for (const Refusal& r : {Refusal{"nope=1", "has no material named 'nope'"},
                           Refusal{"up=12", "build/12 does not exist"},
                           Refusal{"up=x", "expected a run counter of build"}}) {
    CliResult refused = cluster_.Cli({"pipeline", "trigger", "deploy", "--revision", r.revision});
    EXPECT_NE(refused.exit_code, 0) << refused.ToString();
    EXPECT_TRUE(absl::StrContains(refused.err, r.message)) << refused.ToString();
  }
  EXPECT_FALSE(cluster_.ShowRun("deploy/5").ok());

  // Each deploy fed a smoke run: smoke/4 is the last.
  ASSERT_TRUE(cluster_.WaitForRunState("smoke/4", "passed", kRunDeadline));

  // Downstream of build/1, every level: deploys 1, 3 and 4, each with its smoke run.
  CliResult vsm = cluster_.Cli({"-o", "json", "pipeline", "vsm", "build/1"});
  ASSERT_EQ(vsm.exit_code, 0) << vsm.ToString();
  v1::PipelineVsm down;
  ASSERT_TRUE(ParseJson(vsm.out, &down)) << vsm.out;
  EXPECT_EQ(down.run().pipeline(), "build");
  EXPECT_EQ(down.run().counter(), 1);
  EXPECT_EQ(down.run().upstream_size(), 0);
  ASSERT_EQ(down.run().downstream_size(), 3) << vsm.out;
  const int64_t deploys[] = {1, 3, 4};
  const int64_t smokes[] = {1, 3, 4};
  for (int i = 0; i < 3; ++i) {
    const v1::VsmNode& d = down.run().downstream(i);
    EXPECT_EQ(d.pipeline(), "deploy");
    EXPECT_EQ(d.counter(), deploys[i]);
    EXPECT_EQ(d.state(), "passed");
    EXPECT_EQ(d.label(), "build-1");
    ASSERT_EQ(d.downstream_size(), 1) << vsm.out;
    EXPECT_EQ(d.downstream(0).pipeline(), "smoke");
    EXPECT_EQ(d.downstream(0).counter(), smokes[i]);
    EXPECT_EQ(d.downstream(0).state(), "passed");
  }

  // Upstream of smoke/3: deploy/3, picked from build/1, with its revisions.
  vsm = cluster_.Cli({"-o", "json", "pipeline", "vsm", "smoke/3"});
  ASSERT_EQ(vsm.exit_code, 0) << vsm.ToString();
  v1::PipelineVsm up;
  ASSERT_TRUE(ParseJson(vsm.out, &up)) << vsm.out;
  EXPECT_EQ(up.run().downstream_size(), 0);
  ASSERT_EQ(up.run().upstream_size(), 1) << vsm.out;
  const v1::VsmNode& d3 = up.run().upstream(0);
  EXPECT_EQ(d3.pipeline(), "deploy");
  EXPECT_EQ(d3.counter(), 3);
  ASSERT_EQ(d3.materials_size(), 1);
  EXPECT_EQ(d3.materials(0).revision(), "build/1/make/1");
  ASSERT_EQ(d3.upstream_size(), 1) << vsm.out;
  EXPECT_EQ(d3.upstream(0).pipeline(), "build");
  EXPECT_EQ(d3.upstream(0).counter(), 1);
  EXPECT_EQ(d3.upstream(0).state(), "passed");

  // The text tree shows both halves around deploy/3.
  vsm = cluster_.Cli({"pipeline", "vsm", "deploy/3"});
  ASSERT_EQ(vsm.exit_code, 0) << vsm.ToString();
  EXPECT_TRUE(absl::StrContains(vsm.out,
                                "deploy/3 passed (label build-1)\n"
                                "  material up: build/1/make/1\n"
                                "upstream (what fed deploy/3):\n"
                                "  build/1 passed (label 1)\n"
                                "downstream (what deploy/3 fed):\n"
                                "  smoke/3 passed (label 3)\n"))
      << vsm.out;
  CliResult missing = cluster_.Cli({"pipeline", "vsm", "deploy/99"});
  EXPECT_NE(missing.exit_code, 0) << missing.ToString();
  EXPECT_TRUE(absl::StrContains(missing.err, "has no run 99")) << missing.ToString();
}

}  // namespace
}  // namespace gantry::e2e
