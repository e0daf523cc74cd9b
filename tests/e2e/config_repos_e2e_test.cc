// End-to-end: config repositories (docs/config-repos.md) through the real
// controller, agent and CLI on a real PostgreSQL, with a bare repository in
// the test's directory reached by a file:// URL. Polling is slowed to ten
// minutes after the first fetch, so each later commit is read because
// `material notify` asked for it.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/git/test_repo.h"
#include "common/testing/wait_for.h"
#include "gantry/v1/operator.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(60);

// The main config: a template the repo's pipelines use, a pipeline of its
// own, and the config repo. `extra` is appended under `pipelines:`.
std::string MainConfig(const std::string& url, const std::string& extra = "") {
  return absl::StrCat(
      "format_version: 10\n"
      "config_repos:\n"
      "  cfg:\n"
      "    git: ",
      url,
      "\n"
      "    branch: main\n"
      "    pattern: \"ci/*.gocd.yaml\"\n"
      "templates:\n"
      "  hello:\n"
      "    stages:\n"
      "      - run:\n"
      "          jobs:\n"
      "            say:\n"
      "              tasks:\n"
      "                - exec:\n"
      "                    command: /bin/sh\n"
      "                    arguments: [-c, 'echo hello from $GANTRY_PIPELINE_NAME']\n"
      "pipelines:\n"
      "  main-p:\n"
      "    group: main\n"
      "    template: hello\n",
      extra);
}

std::string RepoPipeline(const std::string& name, const std::string& extra_line = "") {
  return absl::StrCat("pipelines:\n  ", name,
                      ":\n"
                      "    group: cfg\n"
                      "    template: hello\n",
                      extra_line);
}

absl::StatusOr<v1::ConfigRepoState> RepoStatus(Cluster& cluster) {
  CliResult r = cluster.Cli({"-o", "json", "config", "repo", "status"});
  if (r.exit_code != 0) return absl::UnknownError(r.ToString());
  v1::ConfigRepoStatusResponse response;
  if (!ParseJson(r.out, &response) || response.repos_size() != 1) {
    return absl::UnknownError(absl::StrCat("unexpected status: ", r.out));
  }
  return response.repos(0);
}

// Waits until the repo's last seen commit is `commit`.
bool WaitForSeen(Cluster& cluster, const std::string& commit, v1::ConfigRepoState* state) {
  return WaitFor(
      [&] {
        auto s = RepoStatus(cluster);
        if (!s.ok() || s->last_seen_commit() != commit) return false;
        *state = *s;
        return true;
      },
      kDeadline, absl::Milliseconds(100));
}

// One repository through its life: a commit adds a pipeline that runs, a
// broken commit is refused whole while the old pipelines still run, `config
// apply` cannot take a repo pipeline's name, and a restart forgets nothing.
TEST(ConfigReposE2eTest, CommitsAddPipelinesBrokenOnesAreRefusedAndRepoPipelinesAreOwned) {
  Cluster cluster("config_repos");
  git::TestRepo repo(cluster.dir() + "/repos", "cfg");
  std::string c1 = repo.Commit("base pipeline", "ci/base.gocd.yaml", RepoPipeline("repo-base"));
  ASSERT_TRUE(
      cluster.StartController({"--material-poll-interval", "10m", "--git-timeout", "10s"}).ok());
  ASSERT_TRUE(cluster.StartAgent().ok());
  ASSERT_TRUE(cluster.WaitForIdleAgents());
  absl::Status applied = cluster.ApplyConfig(MainConfig(repo.url()), "config/main.yaml");
  ASSERT_TRUE(applied.ok()) << applied;

  // The first fetch brings the repo's pipeline, built from the main
  // config's template.
  v1::ConfigRepoState state;
  ASSERT_TRUE(WaitForSeen(cluster, c1, &state)) << cluster.LogTails();
  EXPECT_EQ(state.last_good_commit(), c1);
  EXPECT_EQ(state.errors_size(), 0);
  EXPECT_EQ(state.branch(), "main");
  ASSERT_EQ(state.pipelines_size(), 1);
  EXPECT_EQ(state.pipelines(0), "repo-base");

  // A commit adding a pipeline (and a file the pattern leaves out): after a
  // notify it is in force, and runs.
  repo.Commit("not config", "README.gocd.yaml", "pipelines: [this is not read]\n");
  // Its plain secure value is stored encrypted, as `config apply` does.
  std::string c2 = repo.Commit(
      "extra pipeline", "ci/extra.gocd.yaml",
      RepoPipeline("repo-extra", "    secure_variables:\n      REPO_TOKEN: s3cret-in-repo\n"));
  CliResult notify = cluster.Cli({"material", "notify", "--url", repo.url()});
  ASSERT_EQ(notify.exit_code, 0) << notify.ToString();
  ASSERT_TRUE(WaitForSeen(cluster, c2, &state)) << cluster.LogTails();
  EXPECT_EQ(state.last_good_commit(), c2);
  EXPECT_EQ(state.pipelines_size(), 2);
  CliResult trigger = cluster.Cli({"pipeline", "trigger", "repo-extra"});
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();
  ASSERT_TRUE(cluster.WaitForRunState("repo-extra/1", "passed", kDeadline)) << cluster.LogTails();
  auto log = cluster.JobLog("repo-extra/1/run/say");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StrContains(*log, "hello from repo-extra")) << *log;
  // The revision records where it came from.
  CliResult show = cluster.Cli({"config", "show"});
  ASSERT_EQ(show.exit_code, 0) << show.ToString();
  EXPECT_TRUE(absl::StrContains(show.out, absl::StrCat("from config repo cfg at commit ", c2)))
      << show.out;
  EXPECT_TRUE(absl::StrContains(show.out, "==> config-repo/cfg/ci/extra.gocd.yaml <=="))
      << show.out;
  EXPECT_TRUE(absl::StrContains(show.out, "REPO_TOKEN: ")) << show.out;
  EXPECT_FALSE(absl::StrContains(show.out, "s3cret-in-repo")) << show.out;

  // A broken commit is refused whole, with the error at its place in the
  // repository's file; the last good config stays in force.
  std::string c3 = repo.Commit("broken", "ci/extra.gocd.yaml",
                               RepoPipeline("repo-extra", "    bogus_key: 1\n") +
                                   "  repo-third:\n    group: cfg\n    template: hello\n");
  notify = cluster.Cli({"material", "notify", "--url", repo.url()});
  ASSERT_EQ(notify.exit_code, 0) << notify.ToString();
  ASSERT_TRUE(WaitForSeen(cluster, c3, &state)) << cluster.LogTails();
  EXPECT_EQ(state.last_good_commit(), c2);
  ASSERT_GE(state.errors_size(), 1);
  EXPECT_TRUE(absl::StartsWith(state.errors(0), "ci/extra.gocd.yaml:5:5: ")) << state.errors(0);
  EXPECT_TRUE(absl::StrContains(state.errors(0), "bogus_key")) << state.errors(0);
  CliResult text = cluster.Cli({"config", "repo", "status"});
  ASSERT_EQ(text.exit_code, 0) << text.ToString();
  EXPECT_TRUE(absl::StrContains(text.out, "(refused)")) << text.out;
  EXPECT_TRUE(absl::StrContains(text.out, "    ci/extra.gocd.yaml:5:5: ")) << text.out;
  trigger = cluster.Cli({"pipeline", "trigger", "repo-extra"});
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();
  ASSERT_TRUE(cluster.WaitForRunState("repo-extra/2", "passed", kDeadline)) << cluster.LogTails();
  CliResult third = cluster.Cli({"pipeline", "trigger", "repo-third"});
  EXPECT_NE(third.exit_code, 0) << "the refused commit's pipeline exists: " << third.ToString();

  // `config apply` may not change a repo's pipeline: a clear error naming
  // the repo, and nothing applied.
  std::string clash = MainConfig(repo.url(),
                                 "  repo-base:\n"
                                 "    group: main\n"
                                 "    template: hello\n");
  cluster.WriteFile("config/main.yaml", clash);
  CliResult refused = cluster.Cli({"config", "apply", "-f", cluster.dir() + "/config/main.yaml"});
  EXPECT_NE(refused.exit_code, 0) << refused.ToString();
  EXPECT_TRUE(absl::StrContains(refused.err,
                                "pipeline 'repo-base' is already defined by config "
                                "repo 'cfg'"))
      << refused.ToString();
  EXPECT_TRUE(absl::StrContains(refused.err, "config apply cannot change it")) << refused.err;
  // The main config's own pipeline still runs, beside the repo's.
  trigger = cluster.Cli({"pipeline", "trigger", "main-p"});
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();
  ASSERT_TRUE(cluster.WaitForRunState("main-p/1", "passed", kDeadline)) << cluster.LogTails();

  // A restart keeps what the controller saw: the refused commit stays
  // refused with its errors, the last good one in force.
  ASSERT_TRUE(cluster.RestartController().ok()) << cluster.LogTails();
  ASSERT_TRUE(WaitForSeen(cluster, c3, &state)) << cluster.LogTails();
  EXPECT_EQ(state.last_good_commit(), c2);
  ASSERT_GE(state.errors_size(), 1);
  EXPECT_TRUE(absl::StartsWith(state.errors(0), "ci/extra.gocd.yaml:5:5: ")) << state.errors(0);
  EXPECT_EQ(state.pipelines_size(), 2);
}

}  // namespace
}  // namespace gantry::e2e
