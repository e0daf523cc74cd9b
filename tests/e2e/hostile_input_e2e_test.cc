// End-to-end: hostile input (issue 14) against the real controller, agent and
// CLI on a real PostgreSQL.
//
//   ConfigBombsAndErrorFloodsLeaveTheControllerServing
//       the alias and list-splice bombs, 2,000 errors, a config near the size
//       limit, one past it, invalid UTF-8
//   ArtifactPathsAndFetchHints
//       a 3,000-byte artifact path is refused at upload (the job's other
//       files stay downloadable); a fetch of a file without is_file says so
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(90);

// The hostile files kept with the config parser's tests.
std::string HostileConfig(const std::string& name) {
  return absl::StrCat(GANTRY_HOSTILE_CONFIGS, "/", name);
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// A pipeline `name` whose one job runs `script` with /bin/sh and keeps
// `artifacts` (YAML list items at indent 16).
std::string ShPipeline(const std::string& name, const std::string& script,
                       const std::string& artifacts = "") {
  std::string out = absl::StrCat("  ", name,
                                 ":\n"
                                 "    stages:\n"
                                 "      - build:\n"
                                 "          jobs:\n"
                                 "            make:\n");
  if (!artifacts.empty()) absl::StrAppend(&out, "              artifacts:\n", artifacts);
  absl::StrAppend(&out, ShellTasksYaml(script));
  return out;
}

class HostileInputE2eTest : public ::testing::Test {
 protected:
  Cluster cluster_;
};

TEST_F(HostileInputE2eTest, ConfigBombsAndErrorFloodsLeaveTheControllerServing) {
  ASSERT_TRUE(cluster_.StartController().ok()) << cluster_.LogTails();

  for (const char* bomb : {"alias-bomb.gocd.yaml", "splice-bomb.gocd.yaml"}) {
    CliResult r = cluster_.Cli({"config", "apply", "-f", HostileConfig(bomb)});
    EXPECT_EQ(r.exit_code, 1) << r.ToString();
    ASSERT_EQ(Lines(r.err).size(), 1u) << r.ToString();
    EXPECT_TRUE(absl::StrContains(r.err, "that is the limit on alias expansion")) << r.err;
    EXPECT_TRUE(cluster_.ControllerRunning()) << cluster_.LogTails();
  }

  // 2,000 errors: the first 1,000 come whole, then the count.
  std::string many = "pipelines:\n";
  for (int i = 0; i < 1000; ++i) absl::StrAppend(&many, "  -bad", i, ": {}\n");
  CliResult flood = cluster_.Cli({"config", "apply", "-f", cluster_.WriteFile("many.yaml", many)});
  EXPECT_EQ(flood.exit_code, 1);
  std::vector<std::string> lines = Lines(flood.err);
  ASSERT_EQ(lines.size(), 1001u) << flood.err.substr(0, 2000);
  EXPECT_TRUE(absl::StartsWith(lines[0], cluster_.dir() + "/many.yaml:2:3: ")) << lines[0];
  EXPECT_EQ(lines.back(), "and 1000 more errors");

  // Invalid UTF-8 is named by the CLI, which cannot send it.
  CliResult latin1 = cluster_.Cli(
      {"config", "apply", "-f", cluster_.WriteFile("latin1.yaml", "common: caf\xe9\n")});
  EXPECT_EQ(latin1.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(latin1.err, "latin1.yaml:1:12: invalid UTF-8: byte 0xe9"))
      << latin1.ToString();

  // Near the 8 MiB limit (long comments; gRPC's default 4 MiB refused
  // this): applied. One past it: refused before sending, naming the limit.
  std::string big = "pipelines:\n" + ShPipeline("big", "true");
  std::string comment = absl::StrCat("# ", std::string(60000, 'x'), "\n");
  while (big.size() + comment.size() < (8 << 20) - 4096) big += comment;
  CliResult applied = cluster_.Cli({"config", "apply", "-f", cluster_.WriteFile("big.yaml", big)});
  EXPECT_EQ(applied.exit_code, 0) << applied.ToString().substr(0, 2000);
  EXPECT_TRUE(absl::StartsWith(applied.out, "config revision 1 applied"))
      << applied.out.substr(0, 200);
  big += comment;
  CliResult too_big = cluster_.Cli({"config", "apply", "-f", cluster_.WriteFile("big.yaml", big)});
  EXPECT_EQ(too_big.exit_code, 1);
  EXPECT_TRUE(
      absl::StrContains(too_big.err, "the limit on a configuration (all files together) is 8 MiB"))
      << too_big.ToString();

  EXPECT_TRUE(cluster_.ControllerRunning()) << cluster_.LogTails();
}

TEST_F(HostileInputE2eTest, ArtifactPathsAndFetchHints) {
  ASSERT_TRUE(cluster_.StartController().ok()) << cluster_.LogTails();
  ASSERT_TRUE(cluster_.StartAgent().ok()) << cluster_.LogTails();
  ASSERT_TRUE(cluster_.WaitForIdleAgents()) << cluster_.LogTails();

  // 15 directories of 199 bytes: a 3,000-byte path below `deep`, past the
  // 1,024-byte limit and still within PATH_MAX with the work dir in front.
  std::string deep_script =
      "mkdir -p dist && echo ok > dist/app.bin\n"
      "d=$(printf 'd%.0s' $(seq 199)); p=deep\n"
      "for i in $(seq 15); do p=$p/$d; done\n"
      "mkdir -p $p && echo far > $p/f\n";
  std::string yaml = absl::StrCat(
      "pipelines:\n",
      ShPipeline("deep", deep_script,
                 "                - build: {source: dist/app.bin, destination: dist}\n"
                 "                - build: {source: deep}\n"),
      "  takes:\n"
      "    materials:\n"
      "      up: {pipeline: deep, stage: build}\n"
      "    stages:\n"
      "      - use:\n"
      "          jobs:\n"
      "            fetch:\n"
      "              tasks:\n"
      "                - fetch: {pipeline: deep, stage: build, job: make, source: dist/app.bin}\n");
  ASSERT_TRUE(cluster_.ApplyConfig(yaml).ok()) << cluster_.CliLog();

  CliResult run = cluster_.Cli({"pipeline", "trigger", "deep", "--wait"}, kRunDeadline);
  EXPECT_EQ(run.exit_code, 1) << run.ToString();
  absl::StatusOr<std::string> log = cluster_.JobLog("deep/1/build/make");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StrContains(*log, "bytes long; the limit is 1024 bytes")) << *log;
  // The refused path broke nothing: the job's other file downloads.
  std::string got = cluster_.dir() + "/got";
  CliResult get = cluster_.Cli({"artifact", "get", "deep/1/build/make", "-d", got});
  EXPECT_EQ(get.exit_code, 0) << get.ToString();

  // A passing upstream for the fetch.
  yaml = absl::StrCat("pipelines:\n",
                      ShPipeline("deep", "mkdir -p dist && echo ok > dist/app.bin",
                                 "                - build: {source: dist/app.bin, "
                                 "destination: dist}\n"),
                      yaml.substr(yaml.find("  takes:\n")));
  ASSERT_TRUE(cluster_.ApplyConfig(yaml).ok()) << cluster_.CliLog();
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "deep", "--wait"}, kRunDeadline).exit_code, 0);
  ASSERT_TRUE(cluster_.WaitForRunState("takes/1", "failed", kRunDeadline)) << cluster_.LogTails();
  log = cluster_.JobLog("takes/1/use/fetch");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StrContains(*log, "no artifact directory 'dist/app.bin' in deep/2/build"))
      << *log;
  EXPECT_TRUE(absl::StrContains(
      *log, "'dist/app.bin' is a file: fetch it with is_file: true (or file: dist/app.bin)"))
      << *log;
}

}  // namespace
}  // namespace gantry::e2e
