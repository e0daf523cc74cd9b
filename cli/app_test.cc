// The CLI as a user meets it without a controller: usage errors, locators,
// offline config checks and an unreachable controller.
#include "cli/app.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/test_util.h"
#include "common/config/parser.h"

namespace gantry::cli {
namespace {

using testing::CliResult;
using ::testing::HasSubstr;
using testing::MakeTempDir;
using ::testing::MatchesRegex;
using testing::RunGantry;
using ::testing::StartsWith;

std::string WriteTemp(const std::string& dir, const std::string& name,
                      const std::string& content) {
  std::string path = dir + "/" + name;
  std::ofstream(path) << content;
  return path;
}

constexpr char kGoodConfig[] = R"(format_version: 10
pipelines:
  pipe1:
    group: simple
    materials:
      mygit:
        git: https://example.org/mygit.git
    stages:
      - build:
          jobs:
            build:
              tasks:
                - exec:
                    command: make
)";

// Stage `test` fetches from a job that does not exist, and the YAML of the
// second pipeline is broken: several errors from two files.
constexpr char kBadConfigA[] = R"(format_version: 10
pipelines:
  pipe2:
    group: simple
    materials:
      upstream:
        pipeline: no-such-pipeline
        stage: build
    stages:
      - test:
          jobs:
            unit:
              tasks:
                - exec:
                    command: make
)";
constexpr char kBadConfigB[] = "pipelines:\n  pipe3: [unclosed\n";

void ExpectOneErrorLine(const CliResult& r) {
  ASSERT_EQ(r.ErrLines().size(), 1u) << r.err;
  EXPECT_THAT(r.err, StartsWith("gantry: "));
  EXPECT_EQ(r.err.back(), '\n');
}

// No command, an unknown verb or a bad flag value is a usage error (exit 2).
TEST(AppTest, UsageErrorsExitTwoWithOneLine) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {},
           {"pipeline"},
           {"pipeline", "frobnicate"},
           {"-o", "yaml", "agent", "list"},
           {"pipeline", "history"},
           {"pipeline", "history", "p", "--limit", "0"},
           {"--token", "a", "--token-file", "b", "agent", "list"},
           {"config", "check"},
           {"agent", "list", "extra"},
       }) {
    CliResult r = RunGantry(args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(args, " ");
    ExpectOneErrorLine(r);
    EXPECT_EQ(r.out, "");
  }
}

// --help prints usage on stdout and succeeds, for the root and for a noun.
TEST(AppTest, HelpExitsZero) {
  CliResult r = RunGantry({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("pipeline"));
  EXPECT_THAT(r.out, HasSubstr("--controller"));
  CliResult sub = RunGantry({"pipeline", "trigger", "--help"});
  EXPECT_EQ(sub.exit_code, 0);
  EXPECT_THAT(sub.out, HasSubstr("--wait"));
}

// A malformed locator is refused before any connection with ParseLocator's
// one-line message and exit 1.
TEST(AppTest, BadLocatorIsOneLine) {
  CliResult r = RunGantry({"job", "log", "a/b"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "gantry: bad locator 'a/b': too few parts (expected "
            "PIPELINE/COUNTER/STAGE[/ATTEMPT]/JOB)\n");

  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"stage", "approve", "p/x/s"},
           {"stage", "approve", "p/1/s/2"},
           {"pipeline", "show", "p/1/2"},
           {"pipeline", "show", "bad name"},
           {"pipeline", "history", "a/b"},
           {"pipeline", "trigger", "p", "--var", "=x"},
           {"pipeline", "trigger", "p", "--var", "1A=x"},
           {"pipeline", "trigger", "p", "--revision", "repo"},
           {"pipeline", "trigger", "p", "--revision", "r=1", "--revision",
            "r=2"},
           {"job", "log", "p/1/s/j/extra/x"},
       }) {
    CliResult bad = RunGantry(args);
    EXPECT_EQ(bad.exit_code, 1) << absl::StrJoin(args, " ");
    ExpectOneErrorLine(bad);
  }
}

// A controller that is not listening yields one line naming the address,
// quickly, with exit 1.
TEST(AppTest, UnreachableControllerIsOneLineAndFast) {
  auto start = std::chrono::steady_clock::now();
  CliResult r = RunGantry({"--controller", "127.0.0.1:1", "pipeline", "list"});
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 1);
  ExpectOneErrorLine(r);
  EXPECT_THAT(r.err,
              StartsWith("gantry: cannot reach controller at 127.0.0.1:1: "));
  EXPECT_LT(elapsed, std::chrono::seconds(10));
  EXPECT_EQ(r.out, "");
}

// A malformed --controller is refused before dialing.
TEST(AppTest, BadControllerAddress) {
  CliResult r = RunGantry({"--controller", "nope", "agent", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "gantry: bad controller address 'nope': expected HOST:PORT (from "
            "--controller)\n");
}

// A valid file passes offline and says so.
TEST(AppTest, ConfigCheckGood) {
  std::string dir = MakeTempDir();
  std::string path = WriteTemp(dir, "good.gocd.yaml", kGoodConfig);
  // No controller anywhere: check must not dial.
  CliResult r =
      RunGantry({"--controller", "127.0.0.1:1", "config", "check", "-f", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1 file OK (1 pipeline, 0 environments)\n");
  EXPECT_EQ(r.err, "");

  // A directory stands for its YAML files.
  CliResult by_dir = RunGantry({"config", "check", "-f", dir});
  EXPECT_EQ(by_dir.exit_code, 0) << by_dir.err;

  CliResult json = RunGantry({"config", "check", "-f", path, "-o", "json"});
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_THAT(json.out, HasSubstr("\"ok\": true"));
}

// Every error of every file is printed as the parser reports it, one
// `file:line:col: message` per line, and the exit status is 1.
TEST(AppTest, ConfigCheckBadPrintsEveryError) {
  std::string dir = MakeTempDir();
  std::string a = WriteTemp(dir, "a.gocd.yaml", kBadConfigA);
  std::string b = WriteTemp(dir, "b.gocd.yaml", kBadConfigB);
  CliResult r = RunGantry({"config", "check", "-f", a, b});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");

  config::ParseResult expected =
      config::ParseConfig({{a, kBadConfigA}, {b, kBadConfigB}});
  ASSERT_FALSE(expected.ok());
  std::vector<std::string> lines = r.ErrLines();
  std::vector<std::string> expected_lines =
      absl::StrSplit(expected.ErrorText(), '\n', absl::SkipEmpty());
  EXPECT_EQ(lines, expected_lines);
  ASSERT_GE(lines.size(), 2u);
  bool saw_a = false, saw_b = false;
  for (const std::string& line : lines) {
    EXPECT_THAT(line, MatchesRegex(".+\\.gocd\\.yaml:[0-9]+:[0-9]+: .+"));
    saw_a |= line.rfind(a + ":", 0) == 0;
    saw_b |= line.rfind(b + ":", 0) == 0;
  }
  EXPECT_TRUE(saw_a) << r.err;
  EXPECT_TRUE(saw_b) << r.err;
}

// A thousand errors are printed, then how many more there are.
TEST(AppTest, ConfigCheckCutsErrorsAtAThousand) {
  std::string dir = MakeTempDir();
  std::string yaml = "pipelines:\n";
  for (int i = 0; i < 1200; ++i) yaml += "  -bad" + std::to_string(i) + ": {}\n";
  std::string path = WriteTemp(dir, "many.yaml", yaml);
  CliResult r = RunGantry({"config", "check", "-f", path});
  EXPECT_EQ(r.exit_code, 1);
  std::vector<std::string> lines = r.ErrLines();
  ASSERT_EQ(lines.size(), 1001u);
  EXPECT_EQ(lines.back(), "and 1400 more errors");
}

// The bombs of issue 14 are refused quickly at the alias that passes the
// limit (the test's memory is the bound's check: without limits these stand
// for a billion tasks).
TEST(AppTest, ConfigCheckRefusesAliasBombs) {
  for (const char* name : {"alias-bomb.gocd.yaml", "splice-bomb.gocd.yaml"}) {
    std::string path = std::string(GANTRY_HOSTILE_CONFIGS) + "/" + name;
    CliResult r = RunGantry({"config", "check", "-f", path});
    EXPECT_EQ(r.exit_code, 1);
    ASSERT_EQ(r.ErrLines().size(), 1u) << r.err;
    EXPECT_THAT(r.err, HasSubstr("that is the limit on alias expansion"));
  }
}

// Bytes that are not UTF-8 are named with their position, in a config file
// and in values the CLI would send.
TEST(AppTest, InvalidUtf8IsReportedWithItsPosition) {
  std::string dir = MakeTempDir();
  std::string path = WriteTemp(dir, "latin1.yaml", "common:\n  x: caf\xe9\n");
  CliResult check = RunGantry({"config", "check", "-f", path});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_EQ(check.err, path + ":2:9: invalid UTF-8: byte 0xe9; config files must be UTF-8\n");
  // apply refuses it before dialing (nothing listens on port 1).
  CliResult apply = RunGantry({"--controller", "127.0.0.1:1", "config", "apply", "-f", path});
  EXPECT_EQ(apply.exit_code, 1);
  EXPECT_EQ(apply.err, check.err);

  CliResult var = RunGantry({"pipeline", "trigger", "p", "--var", "K=caf\xe9"});
  EXPECT_EQ(var.exit_code, 1);
  EXPECT_EQ(var.err, "gantry: bad --var 'K=caf?': invalid UTF-8: byte 0xe9 at byte 6\n");
  CliResult artifact = RunGantry({"artifact", "get", "p/1/s/j", "d\xffr"});
  EXPECT_EQ(artifact.exit_code, 1);
  EXPECT_EQ(artifact.err, "gantry: artifact path 'd?r': invalid UTF-8: byte 0xff at byte 2\n");
}

// --limit 0 says what is allowed.
TEST(AppTest, LimitZeroSaysWhatIsAllowed) {
  CliResult r = RunGantry({"pipeline", "history", "p", "--limit", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "gantry: --limit: must be a whole number of 1 or more, got '0' (see gantry --help)\n");
}

// A missing file is one line naming it.
TEST(AppTest, ConfigCheckMissingFile) {
  CliResult r = RunGantry({"config", "check", "-f", "/nonexistent/x.yaml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "gantry: /nonexistent/x.yaml: No such file or directory\n");
}

}  // namespace
}  // namespace gantry::cli
