// End-to-end: the completion scripts as the shells run them. Real bash and
// zsh source `gantry completion bash|zsh` and call their function the way
// TAB does; the function runs the real `gantry __complete`, which asks the
// real controller for pipeline and environment names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/process/process.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;

constexpr char kConfig[] = R"(format_version: 10
environments:
  prod:
    pipelines: [deploy-prod]
  staging:
    pipelines: [deploy-staging]
pipelines:
  build:
    group: e2e
    stages:
      - package: {jobs: {package: {tasks: [{exec: {command: "true"}}]}}}
  deploy-prod:
    group: e2e
    stages:
      - deploy: {jobs: {deploy: {tasks: [{exec: {command: "true"}}]}}}
  deploy-staging:
    group: e2e
    stages:
      - deploy: {jobs: {deploy: {tasks: [{exec: {command: "true"}}]}}}
)";

class CompletionE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = cluster_.StartController();
    ASSERT_TRUE(started.ok()) << started;
    absl::Status applied = cluster_.ApplyConfig(kConfig);
    ASSERT_TRUE(applied.ok()) << applied;
  }

  // Runs `script` in `shell` with gantry on PATH and pointed at the
  // controller through the environment, as a user's shell would be.
  std::vector<std::string> InShell(const std::string& shell, const std::string& script) {
    std::string setup =
        absl::StrCat("export PATH='", BinDir(), "':$PATH GANTRY_CONTROLLER='",
                     cluster_.controller_addr(), "' GANTRY_CA_FILE='", cluster_.ca_file(),
                     "' GANTRY_TOKEN=$(cat '", cluster_.admin_token_file(), "')\n");
    std::vector<std::string> argv = {shell};
    if (shell == "bash") argv.push_back("--norc");
    if (shell == "zsh") argv.push_back("-f");
    argv.push_back("-c");
    argv.push_back(setup + script);
    RunOptions options;
    options.timeout = absl::Seconds(60);
    absl::StatusOr<RunResult> run = RunCommand(argv, options);
    EXPECT_TRUE(run.ok()) << run.status();
    if (!run.ok()) return {};
    EXPECT_EQ(run->exit_code, 0) << run->Describe() << run->err;
    EXPECT_EQ(run->err, "");
    return absl::StrSplit(run->out, '\n', absl::SkipEmpty());
  }

  // What bash's TAB offers after `line` (its words; the last is the one
  // being completed).
  std::vector<std::string> BashTab(const std::vector<std::string>& line) {
    std::vector<std::string> quoted;
    for (const std::string& w : line) quoted.push_back(absl::StrCat("'", w, "'"));
    return InShell("bash",
                   absl::StrCat("source <(gantry completion bash)\n", "COMP_WORDS=(",
                                absl::StrJoin(quoted, " "), ")\n", "COMP_CWORD=", line.size() - 1,
                                "\n", "_gantry\n", "printf '%s\\n' \"${COMPREPLY[@]}\"\n"));
  }

  // The same for zsh: compadd, which only exists inside the completion
  // system, is replaced by one that prints what it is given.
  std::vector<std::string> ZshTab(const std::vector<std::string>& line) {
    std::vector<std::string> quoted;
    for (const std::string& w : line) quoted.push_back(absl::StrCat("'", w, "'"));
    return InShell("zsh", absl::StrCat("source <(gantry completion zsh)\n",
                                       "compadd() { [[ $1 == -S ]] && shift 2; [[ $1 == -- ]] && "
                                       "shift; print -l -- \"$@\"; }\n",
                                       "words=(", absl::StrJoin(quoted, " "), ")\n",
                                       "CURRENT=", line.size(), "\n", "_gantry\n"));
  }

  Cluster cluster_;
};

TEST_F(CompletionE2eTest, BashCompletesCommandsFlagsAndTheControllersNames) {
  EXPECT_THAT(BashTab({"gantry", "pipe"}), ElementsAre("pipeline"));
  EXPECT_THAT(BashTab({"gantry", "pipeline", "trigger", "--w"}), ElementsAre("--wait"));
  EXPECT_THAT(BashTab({"gantry", "pipeline", "trigger", "de"}),
              ElementsAre("deploy-prod", "deploy-staging"));
  EXPECT_THAT(BashTab({"gantry", "stage", "rerun", "bu"}), ElementsAre("build/"));
  EXPECT_THAT(BashTab({"gantry", "env", "history", ""}), Contains("staging"));
  EXPECT_THAT(BashTab({"gantry", "-o", ""}), ElementsAre("json", "text"));
}

TEST_F(CompletionE2eTest, ZshCompletesTheSame) {
  EXPECT_THAT(ZshTab({"gantry", "pipe"}), ElementsAre("pipeline"));
  EXPECT_THAT(ZshTab({"gantry", "pipeline", "trigger", "deploy-s"}), ElementsAre("deploy-staging"));
  EXPECT_THAT(ZshTab({"gantry", "stage", "rerun", "bu"}), ElementsAre("build/"));
}

}  // namespace
}  // namespace gantry::e2e
