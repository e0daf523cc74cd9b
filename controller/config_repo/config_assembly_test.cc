// The main config and config repos' files validated as one config
// (config_assembly.h): references across both, clashes named, errors in
// the right file, repos the main config drops leave with their pipelines.
#include "controller/config_repo/config_assembly.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace gantry::config_repo {
namespace {

using config::ConfigFile;

const char kMain[] =
    "config_repos:\n"
    "  ci:\n"
    "    git: file:///repos/ci.git\n"
    "templates:\n"
    "  t:\n"
    "    stages:\n"
    "      - s:\n"
    "          jobs:\n"
    "            j:\n"
    "              tasks:\n"
    "                - exec: {command: /bin/true}\n"
    "pipelines:\n"
    "  main-p:\n"
    "    group: g\n"
    "    template: t\n";

const char kRepoFile[] =
    "pipelines:\n"
    "  repo-p:\n"
    "    group: g\n"
    "    template: t\n"
    "    materials:\n"
    "      up:\n"
    "        pipeline: main-p\n"
    "        stage: s\n";

std::vector<ConfigFile> Current() {
  return {{"main.yaml", kMain, ""}, {"config-repo/ci/ci/a.gocd.yaml", kRepoFile, "ci"}};
}

TEST(ConfigAssemblyTest, RepoPipelinesUseTheMainConfigsTemplatesAndUpstreams) {
  Assembled a = AssembleRepoCommit("ci", {{"ci/a.gocd.yaml", kRepoFile}}, {{"main.yaml", kMain}});
  ASSERT_TRUE(a.parsed.ok()) << a.parsed.ErrorText();
  const config::Pipeline* p = a.parsed.config.FindPipeline("repo-p");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->config_repo, "ci");
  EXPECT_EQ(a.parsed.config.FindPipeline("main-p")->config_repo, "");
  ASSERT_EQ(a.files.size(), 2u);
  EXPECT_EQ(a.files[0].path, "main.yaml");
  EXPECT_EQ(a.files[1].path, "config-repo/ci/ci/a.gocd.yaml");
}

TEST(ConfigAssemblyTest, MainConfigMayReferToRepoPipelines) {
  std::string main = std::string(kMain) +
                     "environments:\n"
                     "  prod:\n"
                     "    pipelines: [repo-p]\n";
  Assembled a = AssembleMainApply({{"main.yaml", main}}, Current());
  ASSERT_TRUE(a.parsed.ok()) << a.parsed.ErrorText();
  EXPECT_EQ(a.files.size(), 2u);
  EXPECT_NE(a.parsed.config.FindPipeline("repo-p"), nullptr);
}

TEST(ConfigAssemblyTest, ApplyCannotTakeARepoPipelinesName) {
  std::string main = std::string(kMain) +
                     "  repo-p:\n"
                     "    group: g\n"
                     "    template: t\n";
  Assembled a = AssembleMainApply({{"main.yaml", main}}, Current());
  ASSERT_FALSE(a.parsed.ok());
  EXPECT_EQ(a.parsed.errors[0].ToString(),
            "main.yaml:16:3: pipeline 'repo-p' is already defined by config repo 'ci' at "
            "config-repo/ci/ci/a.gocd.yaml:2:3; change it in that repository: config apply "
            "cannot change it");
}

TEST(ConfigAssemblyTest, RepoCommitCannotTakeAMainPipelinesName) {
  Assembled a = AssembleRepoCommit(
      "ci", {{"ci/a.gocd.yaml", "pipelines:\n  main-p:\n    group: g\n    template: t\n"}},
      Current());
  ASSERT_FALSE(a.parsed.ok());
  EXPECT_EQ(a.parsed.errors[0].ToString(),
            "config-repo/ci/ci/a.gocd.yaml:2:3: pipeline 'main-p' is already defined by the "
            "main config at main.yaml:13:3; pipeline names are shared by the main config and "
            "config repos");
}

TEST(ConfigAssemblyTest, RepoFilesHoldNoSecurityNorConfigRepos) {
  Assembled a = AssembleRepoCommit(
      "ci", {{"x.gocd.yaml", "security:\n  admins: {users: [eve]}\nconfig_repos: {}\n"}},
      Current());
  std::string text = a.parsed.ErrorText();
  EXPECT_TRUE(absl::StrContains(text,
                                "config-repo/ci/x.gocd.yaml:1:1: a file of config repo 'ci' may "
                                "not hold 'security': only the main config (config apply) does"))
      << text;
  EXPECT_TRUE(absl::StrContains(text,
                                "config-repo/ci/x.gocd.yaml:3:1: a file of config repo 'ci' may "
                                "not hold 'config_repos'"))
      << text;
}

TEST(ConfigAssemblyTest, DroppingARepoDropsItsPipelines) {
  const char main[] =
      "pipelines:\n"
      "  main-p:\n"
      "    group: g\n"
      "    stages:\n"
      "      - s:\n"
      "          jobs:\n"
      "            j:\n"
      "              tasks:\n"
      "                - exec: {command: /bin/true}\n";
  Assembled a = AssembleMainApply({{"main.yaml", main}}, Current());
  ASSERT_TRUE(a.parsed.ok()) << a.parsed.ErrorText();
  EXPECT_EQ(a.parsed.config.FindPipeline("repo-p"), nullptr);
  ASSERT_EQ(a.files.size(), 1u);
}

TEST(ConfigAssemblyTest, MainFilesMayNotUseTheRepoPrefix) {
  Assembled a = AssembleMainApply({{"config-repo/ci/x.yaml", kMain}}, {});
  ASSERT_FALSE(a.parsed.ok());
  EXPECT_TRUE(absl::StrContains(a.parsed.ErrorText(), "may not start with 'config-repo/'"));
}

TEST(ConfigAssemblyTest, ARepoTheMainConfigDoesNotListIsRefused) {
  Assembled a = AssembleRepoCommit("other", {{"a.gocd.yaml", "pipelines: {}\n"}}, Current());
  ASSERT_FALSE(a.parsed.ok());
  EXPECT_TRUE(absl::StrContains(a.parsed.ErrorText(), "config repo 'other' is not in the config"));
}

TEST(ConfigAssemblyTest, ConfigReposEntriesAreChecked) {
  config::ParseResult r = config::ParseConfig({{"m.yaml",
                                                "config_repos:\n"
                                                "  a:\n"
                                                "    branch: x\n"
                                                "  b:\n"
                                                "    git: u\n"
                                                "    pattern: /abs\n"
                                                "  c:\n"
                                                "    git: u\n"
                                                "    pattern: \"**/*.yml\"\n"}});
  ASSERT_EQ(r.errors.size(), 2u) << r.ErrorText();
  EXPECT_EQ(r.errors[0].ToString(), "m.yaml:2:3: config repo 'a' has no git URL: give 'git: URL'");
  EXPECT_TRUE(absl::StartsWith(r.errors[1].ToString(), "m.yaml:6:14: config repo 'b': 'pattern'"))
      << r.errors[1].ToString();
  const config::ConfigRepo* c = r.config.FindConfigRepo("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->branch, "master");
  EXPECT_EQ(c->pattern, "**/*.yml");
  EXPECT_EQ(r.config.FindConfigRepo("a"), nullptr);
}

}  // namespace
}  // namespace gantry::config_repo
