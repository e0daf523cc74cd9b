// Completion candidates from the real command tree (through `gantry
// __complete`, as the scripts call it) and, with names a fake controller
// knows, for locator and name slots.
#include "cli/completion.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "absl/strings/str_split.h"
#include "cli/test_util.h"

namespace gantry::cli {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;

// Runs `gantry __complete WORDS...` against a controller nobody listens on.
std::vector<std::string> Candidates(const std::vector<std::string>& words) {
  std::vector<std::string> args = {"__complete"};
  args.insert(args.end(), words.begin(), words.end());
  CliOptions options;
  options.env = testing::MapEnv(
      {{"GANTRY_CONTROLLER", "127.0.0.1:1"}, {"GANTRY_DATA_DIR", testing::MakeTempDir()}});
  testing::CliResult result = testing::RunGantry(args, options);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.err, "");
  return absl::StrSplit(result.out, '\n', absl::SkipEmpty());
}

TEST(CompletionTest, NounsVerbsAndFlagsComeFromTheCommandTree) {
  std::vector<std::string> nouns = Candidates({""});
  EXPECT_THAT(nouns, Contains("pipeline"));
  EXPECT_THAT(nouns, Contains("stage"));
  EXPECT_THAT(nouns, Contains("completion"));
  EXPECT_THAT(nouns, Not(Contains("__complete")));
  EXPECT_THAT(Candidates({"pi"}), ElementsAre("pipeline"));
  EXPECT_THAT(Candidates({"pipeline", "tr"}), ElementsAre("trigger"));

  std::vector<std::string> flags = Candidates({"pipeline", "trigger", "--"});
  EXPECT_THAT(flags, Contains("--var"));
  EXPECT_THAT(flags, Contains("--wait"));
  // Global flags may follow the verb.
  EXPECT_THAT(flags, Contains("--controller"));
  EXPECT_THAT(flags, Not(Contains("--with-current-config")));
  EXPECT_THAT(Candidates({"stage", "rerun", "--w"}), Contains("--with-current-config"));
}

TEST(CompletionTest, FlagValuesAndFixedChoices) {
  EXPECT_THAT(Candidates({"-o", ""}), ElementsAre("json", "text"));
  EXPECT_THAT(Candidates({"pipeline", "list", "--output", "j"}), ElementsAre("json"));
  // A value already given with '=' is not waited for.
  EXPECT_THAT(Candidates({"--output=json", "pi"}), ElementsAre("pipeline"));
  EXPECT_THAT(Candidates({"completion", ""}), ElementsAre("bash", "zsh"));
  EXPECT_THAT(Candidates({"--token-file", ""}), ElementsAre("__files"));
}

TEST(CompletionTest, AnUnreachableControllerGivesNoNamesAndNoError) {
  EXPECT_THAT(Candidates({"pipeline", "show", ""}), IsEmpty());
  EXPECT_THAT(Candidates({"stage", "rerun", "x"}), IsEmpty());
}

// A tree shaped like the real one, with names from a fake controller.
TEST(CompletionTest, NameAndLocatorSlots) {
  CLI::App app("test", "gantry");
  std::string value;
  CLI::App* pipeline = app.add_subcommand("pipeline", "p");
  pipeline->add_subcommand("show", "s")->add_option("PIPELINE", value);
  CLI::App* stage = app.add_subcommand("stage", "s");
  CLI::App* rerun = stage->add_subcommand("rerun", "r");
  rerun->add_option("STAGE", value);
  rerun->add_option("--pipeline", value);
  CLI::App* env = app.add_subcommand("env", "e");
  CLI::App* lock = env->add_subcommand("lock", "l");
  lock->add_option("ENV", value);
  lock->add_option("--reason", value);
  std::vector<NameKind> asked;
  NameSource names = [&](NameKind kind) -> std::vector<std::string> {
    asked.push_back(kind);
    switch (kind) {
      case NameKind::kPipeline:
        return {"build", "deploy-prod", "deploy-staging"};
      case NameKind::kEnvironment:
        return {"prod", "staging"};
      case NameKind::kAgent:
        return {"agent-1"};
    }
    return {};
  };
  EXPECT_THAT(Complete(app, {"pipeline", "show", "de"}, names),
              ElementsAre("deploy-prod", "deploy-staging"));
  // A locator slot offers the pipeline with its '/', to go on typing.
  EXPECT_THAT(Complete(app, {"stage", "rerun", "b"}, names), ElementsAre("build/"));
  EXPECT_THAT(Complete(app, {"stage", "rerun", "--pipeline", ""}, names),
              ElementsAre("build", "deploy-prod", "deploy-staging"));
  EXPECT_THAT(Complete(app, {"env", "lock", "p"}, names), ElementsAre("prod"));
  // The slot is filled: nothing more to offer, and nobody is asked.
  asked.clear();
  EXPECT_THAT(Complete(app, {"env", "lock", "prod", ""}, names), IsEmpty());
  EXPECT_THAT(Complete(app, {"env", "lock", "--reason", ""}, names), IsEmpty());
  EXPECT_THAT(asked, IsEmpty());
}

TEST(CompletionTest, ScriptsForBashAndZshOnly) {
  testing::CliResult bash = testing::RunGantry({"completion", "bash"});
  EXPECT_EQ(bash.exit_code, 0);
  EXPECT_THAT(bash.out, ::testing::HasSubstr("complete -F _gantry gantry"));
  testing::CliResult zsh = testing::RunGantry({"completion", "zsh"});
  EXPECT_EQ(zsh.exit_code, 0);
  EXPECT_THAT(zsh.out, ::testing::HasSubstr("compdef _gantry gantry"));
  testing::CliResult fish = testing::RunGantry({"completion", "fish"});
  EXPECT_EQ(fish.exit_code, 1);
  EXPECT_EQ(fish.err, "gantry: no completion for shell 'fish': give bash or zsh\n");
}

}  // namespace
}  // namespace gantry::cli
