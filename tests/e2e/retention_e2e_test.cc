// End-to-end: retention. Through the real controller, agents and CLI on a
// real PostgreSQL, with --retain-runs 1 --retain-days 1 --retain-deploys 2:
// build/1..3 are each deployed into `prod`, build/4 and build/5 fail (no
// deploy), then every run but build/4 is made 3 days old. Retention must
// remove exactly build/1 and production/1 (their artifacts, console logs
// and build/1's own blob), keep the blob every build shares, and keep what
// a rule protects: build/5 (newest), build/4 (recent), production/3 and
// build/3 (deployed now), production/2 and build/2 (the deploy a rollback
// goes back to), which a stage re-run of production/2 then proves.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <pqxx/pqxx>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/testing/wait_for.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(90);

// Every build uploads out/common.txt (the same bytes each time: one blob
// shared by all) and out/unique.txt (its own blob), and fails when FAIL=1.
constexpr char kConfig[] = R"(format_version: 10
environments:
  prod:
    pipelines: [production]
pipelines:
  build:
    group: e2e
    environment_variables: {FAIL: "0"}
    stages:
      - package:
          jobs:
            package:
              artifacts:
                - build: {source: out}
              tasks:
                - exec:
                    command: /bin/sh
                    arguments:
                      - -c
                      - mkdir -p out && echo shared-by-every-build > out/common.txt && echo "only in build $GANTRY_PIPELINE_COUNTER" > out/unique.txt && echo "packaged $GANTRY_PIPELINE_COUNTER" && test "$FAIL" = 0
  keeper:
    group: e2e
    stages:
      - release:
          keep_artifacts: true
          jobs:
            release:
              artifacts: [{build: {source: out}}]
              tasks:
                - exec: {command: /bin/sh, arguments: [-c, "rm -rf out && mkdir out && echo \"release of keeper $GANTRY_PIPELINE_COUNTER\" | tee out/r.txt"]}
      - scratch:
          jobs:
            scratch:
              artifacts: [{build: {source: out}}]
              tasks:
                - exec: {command: /bin/sh, arguments: [-c, "rm -rf out && mkdir out && echo \"scratch of keeper $GANTRY_PIPELINE_COUNTER\" | tee out/s.txt"]}
  production:
    group: e2e
    materials:
      build: {pipeline: build, stage: package}
    stages:
      - deploy:
          deploys: true
          jobs:
            deploy:
              tasks:
                - fetch: {pipeline: build, stage: package, job: package, source: out}
                - exec: {command: /bin/sh, arguments: [-c, "echo deploying; cat out/unique.txt"]}
)";

class RetentionE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started =
        cluster_.StartController({"--retain-runs", "1", "--retain-days", "1", "--retain-deploys",
                                  "2", "--retention-interval", "1s"});
    ASSERT_TRUE(started.ok()) << started;
    ASSERT_TRUE(cluster_.StartAgent().ok());
    AgentOptions in_prod;
    in_prod.environments = {"prod"};
    ASSERT_TRUE(cluster_.StartAgent(in_prod).ok());
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << "the agents never became idle";
    absl::Status applied = cluster_.ApplyConfig(kConfig);
    ASSERT_TRUE(applied.ok()) << applied;
  }

  void BuildAndDeploy(int n) {
    CliResult trigger = cluster_.Cli({"pipeline", "trigger", "build", "--wait"}, kRunDeadline);
    ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();
    ASSERT_TRUE(cluster_.WaitForRunState(absl::StrCat("production/", n), "passed", kRunDeadline))
        << cluster_.LogTails();
  }

  std::string BlobPath(const std::string& content) const {
    std::string sha = Sha256Hex(content);
    return absl::StrCat(cluster_.data_dir(), "/artifacts/sha256/", sha.substr(0, 2), "/", sha);
  }

  // `artifact get` of the job's out/ into a fresh directory.
  CliResult GetArtifacts(const std::string& job) {
    std::string dir = absl::StrCat(cluster_.dir(), "/got-", ++gets_);
    return cluster_.Cli({"artifact", "get", job, "out", "-d", dir});
  }

  Cluster cluster_;
  int gets_ = 0;
};

// The policy removes build/1 and production/1 and keeps everything a rule
// protects; the shared blob stays; a rollback re-run of production/2 still
// fetches build/2's artifacts.
TEST_F(RetentionE2eTest, RemovesWhatThePolicySaysAndKeepsWhatIsDeployed) {
  for (int n = 1; n <= 3; ++n) ASSERT_NO_FATAL_FAILURE(BuildAndDeploy(n));
  for (int n = 4; n <= 5; ++n) {
    CliResult failed =
        cluster_.Cli({"pipeline", "trigger", "build", "--var", "FAIL=1", "--wait"}, kRunDeadline);
    ASSERT_EQ(failed.exit_code, 1) << failed.ToString();
  }
  ASSERT_TRUE(std::filesystem::exists(BlobPath("only in build 1\n")));

  // Age every run but build/4 past --retain-days.
  {
    pqxx::connection db(cluster_.database_url());
    pqxx::work tx(db);
    tx.exec(
        "UPDATE pipeline_runs SET finished_at = finished_at - interval '3 days' "
        "WHERE NOT (pipeline = 'build' AND counter = 4)");
    tx.commit();
  }

  CliResult removed;
  ASSERT_TRUE(WaitFor(
      [&] {
        removed = GetArtifacts("build/1/package/package");
        return removed.exit_code != 0;
      },
      absl::Seconds(30), kCliPoll))
      << removed.ToString() << cluster_.LogTails();
  EXPECT_TRUE(absl::StrContains(
      removed.err, "artifacts of build/1/package/1/package: removed by retention at 20"))
      << removed.ToString();
  EXPECT_LE(std::count(removed.err.begin(), removed.err.end(), '\n'), 1) << removed.err;

  // Runs are removed one by one, each in its own transaction, so
  // production/1 may still be on its way when build/1 is gone.
  CliResult log;
  ASSERT_TRUE(WaitFor(
      [&] {
        log = cluster_.Cli({"job", "log", "production/1/deploy/deploy"});
        return log.exit_code != 0;
      },
      absl::Seconds(30), kCliPoll))
      << log.ToString() << cluster_.LogTails();
  EXPECT_TRUE(absl::StrContains(log.err,
                                "console log of production/1/deploy/1/deploy: "
                                "removed by retention at"))
      << log.ToString();

  // build/1's own blob goes once its rows are gone; the blob every build
  // shares stays.
  ASSERT_TRUE(WaitFor([&] { return !std::filesystem::exists(BlobPath("only in build 1\n")); },
                      absl::Seconds(30), absl::Milliseconds(20)))
      << cluster_.LogTails();
  EXPECT_TRUE(std::filesystem::exists(BlobPath("shared-by-every-build\n")));

  // Kept: deployed now (3), the rollback target (2), the newest (5), the
  // recent (4); their artifacts and logs are whole.
  for (int n : {2, 3}) {
    CliResult kept = GetArtifacts(absl::StrCat("build/", n, "/package/package"));
    EXPECT_EQ(kept.exit_code, 0) << "build/" << n << ": " << kept.ToString();
    EXPECT_TRUE(std::filesystem::exists(BlobPath(absl::StrCat("only in build ", n, "\n"))));
  }
  for (int n : {4, 5}) {
    CliResult kept = cluster_.Cli({"job", "log", absl::StrCat("build/", n, "/package/package")});
    EXPECT_EQ(kept.exit_code, 0) << kept.ToString();
    EXPECT_TRUE(absl::StrContains(kept.out, absl::StrCat("packaged ", n))) << kept.ToString();
  }
  for (int n : {2, 3}) {
    CliResult kept = cluster_.Cli({"job", "log", absl::StrCat("production/", n, "/deploy/deploy")});
    EXPECT_EQ(kept.exit_code, 0) << kept.ToString();
    EXPECT_TRUE(absl::StrContains(kept.out, absl::StrCat("only in build ", n))) << kept.ToString();
  }
  CliResult shared = GetArtifacts("build/3/package/package");
  ASSERT_EQ(shared.exit_code, 0) << shared.ToString();

  // Rolling back to production/2 re-runs its deploy, which fetches build/2.
  CliResult rerun = cluster_.Cli({"stage", "rerun", "production/2/deploy"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.ToString();
  absl::StatusOr<std::string> rollback = cluster_.JobLog("production/2/deploy/2/deploy");
  ASSERT_TRUE(rollback.ok()) << rollback.status() << cluster_.LogTails();
  EXPECT_TRUE(absl::StrContains(*rollback, "only in build 2")) << *rollback;
}

// GoCD's `keep_artifacts: true`: when retention removes keeper/1's files,
// its release stage keeps its artifacts, blob and console log; its scratch
// stage loses them.
TEST_F(RetentionE2eTest, KeepArtifactsStageIsExempt) {
  for (int n = 1; n <= 2; ++n) {
    CliResult run = cluster_.Cli({"pipeline", "trigger", "keeper", "--wait"}, kRunDeadline);
    ASSERT_EQ(run.exit_code, 0) << run.ToString();
  }
  {
    pqxx::connection db(cluster_.database_url());
    pqxx::work tx(db);
    tx.exec(
        "UPDATE pipeline_runs SET finished_at = finished_at - interval '3 days' "
        "WHERE pipeline = 'keeper' AND counter = 1");
    tx.commit();
  }
  CliResult removed;
  ASSERT_TRUE(WaitFor(
      [&] {
        removed = GetArtifacts("keeper/1/scratch/scratch");
        return removed.exit_code != 0;
      },
      absl::Seconds(30), kCliPoll))
      << removed.ToString() << cluster_.LogTails();
  EXPECT_TRUE(absl::StrContains(removed.err, "removed by retention at")) << removed.ToString();
  // The run is emptied once its scratch blob is gone.
  ASSERT_TRUE(WaitFor([&] { return !std::filesystem::exists(BlobPath("scratch of keeper 1\n")); },
                      absl::Seconds(30), absl::Milliseconds(20)))
      << cluster_.LogTails();

  EXPECT_TRUE(std::filesystem::exists(BlobPath("release of keeper 1\n")));
  CliResult kept = GetArtifacts("keeper/1/release/release");
  EXPECT_EQ(kept.exit_code, 0) << kept.ToString();
  CliResult log = cluster_.Cli({"job", "log", "keeper/1/release/release"});
  EXPECT_EQ(log.exit_code, 0) << log.ToString();
  EXPECT_TRUE(absl::StrContains(log.out, "release of keeper 1")) << log.ToString();
  CliResult gone = cluster_.Cli({"job", "log", "keeper/1/scratch/scratch"});
  EXPECT_NE(gone.exit_code, 0) << gone.ToString();
}

// Blob files no artifact row names (an upload cut off between moving its
// file into place and committing its row) are swept once they are an hour
// old; a younger one, and an old one a row names, stay.
TEST_F(RetentionE2eTest, SweepsOldBlobFilesNoArtifactNames) {
  ASSERT_NO_FATAL_FAILURE(BuildAndDeploy(1));
  const std::string named = BlobPath("shared-by-every-build\n");
  ASSERT_TRUE(std::filesystem::exists(named)) << named;
  const std::string orphan = BlobPath("left by a cut-off upload\n");
  const std::string young = BlobPath("still being recorded\n");
  for (const std::string& path : {orphan, young}) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    ASSERT_TRUE(WriteFileAtomic(path, "bytes", 0600).ok()) << path;
  }
  const auto two_hours_ago = std::filesystem::last_write_time(named) - std::chrono::hours(2);
  std::filesystem::last_write_time(orphan, two_hours_ago);
  std::filesystem::last_write_time(named, two_hours_ago);

  ASSERT_TRUE(WaitFor([&] { return !std::filesystem::exists(orphan); }, absl::Seconds(30),
                      absl::Milliseconds(20)))
      << cluster_.LogTails();
  EXPECT_TRUE(std::filesystem::exists(named));
  EXPECT_TRUE(std::filesystem::exists(young));
  CliResult got = GetArtifacts("build/1/package/package");
  EXPECT_EQ(got.exit_code, 0) << got.ToString();
  EXPECT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(cluster_.ControllerLog(),
                                 "retention: removed 1 blob files no artifact named (5 bytes");
      },
      absl::Seconds(10), absl::Milliseconds(20)))
      << cluster_.LogTails();
}

}  // namespace
}  // namespace gantry::e2e
