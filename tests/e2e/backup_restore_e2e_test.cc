// End-to-end: the backup and restore of docs/operations.md, carried out with
// the scripts it documents. A controller on its own embedded PostgreSQL runs
// a pipeline twice; deploy/backup.sh dumps it while it serves; then
// deploy/restore.sh builds a fresh data dir from the backup, and a
// controller started there has the history, the console logs, the
// artifacts, the admin token, and carries on counting from run 3.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/process/process.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(90);

constexpr char kConfig[] = R"(format_version: 10
pipelines:
  hello:
    group: e2e
    stages:
      - build:
          jobs:
            make:
              artifacts:
                - build: {source: out}
              tasks:
                - exec: {command: /bin/sh, arguments: [-c, "mkdir -p out && echo \"release $GANTRY_PIPELINE_COUNTER\" > out/release.txt && echo made-run-$GANTRY_PIPELINE_COUNTER"]}
)";

std::string Slurp(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path);
  return content.ok() ? *content : "(unreadable: " + content.status().ToString() + ")";
}

RunResult RunScript(const std::vector<std::string>& argv) {
  RunOptions options;
  options.timeout = absl::Seconds(180);
  absl::StatusOr<RunResult> r = RunCommand(argv, options);
  if (!r.ok()) {
    RunResult failed;
    failed.err = r.status().ToString();
    return failed;
  }
  return *r;
}

// Backup of a serving controller, restore into a new data dir: history,
// logs, artifacts and the admin token are all there, and counters go on.
TEST(BackupRestoreE2eTest, RestoredControllerHasTheHistory) {
  Cluster original("backup_original");
  original.UseEmbeddedDatabase();
  absl::Status started = original.StartController();
  ASSERT_TRUE(started.ok()) << started;
  ASSERT_TRUE(original.StartAgent().ok());
  ASSERT_TRUE(original.WaitForIdleAgents());
  absl::Status applied = original.ApplyConfig(kConfig);
  ASSERT_TRUE(applied.ok()) << applied;
  for (int n = 1; n <= 2; ++n) {
    CliResult run = original.Cli({"pipeline", "trigger", "hello", "--wait"}, kRunDeadline);
    ASSERT_EQ(run.exit_code, 0) << run.ToString();
  }

  std::string backup = original.dir() + "/backup";
  RunResult dumped =
      RunScript({std::string(GANTRY_DEPLOY_DIR) + "/backup.sh", original.data_dir(), backup});
  ASSERT_TRUE(dumped.success()) << dumped.Describe() << ": " << dumped.out << dumped.err;
  original.KillController(SIGTERM);

  Cluster restored("backup_restored");
  RunResult loaded = RunScript({std::string(GANTRY_DEPLOY_DIR) + "/restore.sh", backup,
                                restored.data_dir(), BinDir() + "/gantry-controller"});
  ASSERT_TRUE(loaded.success()) << loaded.Describe() << ": " << loaded.out << loaded.err;
  // The admin token is the original's.
  EXPECT_EQ(Slurp(restored.admin_token_file()), Slurp(original.admin_token_file()));

  restored.UseEmbeddedDatabase();
  started = restored.StartController();
  ASSERT_TRUE(started.ok()) << started << restored.LogTails();
  absl::StatusOr<v1::PipelineRun> second = restored.ShowRun("hello/2");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->state(), "passed");
  CliResult log = restored.Cli({"job", "log", "hello/1/build/make"});
  ASSERT_EQ(log.exit_code, 0) << log.ToString();
  EXPECT_TRUE(absl::StrContains(log.out, "made-run-1")) << log.out;
  std::string got = restored.dir() + "/got";
  CliResult artifact = restored.Cli({"artifact", "get", "hello/2/build/make", "out", "-d", got});
  ASSERT_EQ(artifact.exit_code, 0) << artifact.ToString();
  EXPECT_EQ(Slurp(got + "/out/release.txt"), "release 2\n");

  // The original's agent is a row of the dump: a new machine needs a name
  // of its own.
  AgentOptions fresh;
  fresh.name = "after-restore";
  ASSERT_TRUE(restored.StartAgent(fresh).ok());
  CliResult third = restored.Cli({"pipeline", "trigger", "hello", "--wait"}, kRunDeadline);
  ASSERT_EQ(third.exit_code, 0) << third.ToString() << restored.LogTails();
  absl::StatusOr<v1::PipelineRun> run3 = restored.ShowRun("hello/3");
  ASSERT_TRUE(run3.ok()) << run3.status();
  EXPECT_EQ(run3->state(), "passed");
}

}  // namespace
}  // namespace gantry::e2e
