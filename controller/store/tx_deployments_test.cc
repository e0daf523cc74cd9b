// The deployed-version queries against a real PostgreSQL: which stage runs
// count as deploys (the marked stage passing, or the run passing when no
// stage is marked), newest first, re-runs included, and each deploy's
// upstream run and label.
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <string>

#include "controller/embedded_pg/test_postgres.h"
#include "controller/store/db.h"
#include "controller/store/tx.h"

namespace gantry::store {
namespace {

const auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new TestPostgres("gantry-deployments-test"));

// build/12 (label 1.12) fed production/1 and build/13 fed production/2; each
// production run passed `deploy` at the given minute; production/1's deploy
// was re-run (attempt 2) after production/2; production/3's deploy failed.
// `smoke` marks no stage: its passed run 1 counts, its failed run 2 does not.
void Seed(const std::string& url) {
  pqxx::connection conn(url);
  pqxx::work w(conn);
  w.exec(R"SQL(
INSERT INTO config_revisions (author, content_hash) VALUES ('t', 'h');
INSERT INTO pipelines (name) VALUES ('build'), ('production'), ('smoke');
INSERT INTO pipeline_runs (id, pipeline, counter, label, state, config_revision, cause_kind,
  trigger_user, finished_at) VALUES
  (1, 'build', 12, '1.12', 'passed', 1, 'manual', 'dev', '2026-01-01 10:00Z'),
  (2, 'build', 13, '1.13', 'passed', 1, 'manual', 'dev', '2026-01-01 11:00Z'),
  (3, 'production', 1, '1', 'passed', 1, 'upstream', 'alice', '2026-01-01 10:30Z'),
  (4, 'production', 2, '2', 'passed', 1, 'upstream', 'bob', '2026-01-01 11:30Z'),
  (5, 'production', 3, '3', 'failed', 1, 'upstream', 'bob', '2026-01-01 13:00Z'),
  (6, 'smoke', 1, '1', 'passed', 1, 'manual', 'carol', '2026-01-01 09:00Z'),
  (7, 'smoke', 2, '2', 'failed', 1, 'manual', 'carol', '2026-01-01 14:00Z');
INSERT INTO run_materials (run_id, material, type, upstream_pipeline, upstream_counter,
  upstream_stage, upstream_stage_counter) VALUES
  (3, 'build', 'pipeline', 'build', 12, 'build-installer', 1),
  (4, 'build', 'pipeline', 'build', 13, 'build-installer', 1);
INSERT INTO stage_runs (id, run_id, pipeline, name, stage_index, counter, state, approval,
  finished_at) VALUES
  (10, 3, 'production', 'deploy', 0, 1, 'passed', 'manual', '2026-01-01 10:30Z'),
  (11, 4, 'production', 'deploy', 0, 1, 'passed', 'manual', '2026-01-01 11:30Z'),
  (12, 3, 'production', 'deploy', 0, 2, 'passed', 'manual', '2026-01-01 12:00Z'),
  (13, 5, 'production', 'deploy', 0, 1, 'failed', 'manual', '2026-01-01 13:00Z'),
  (14, 4, 'production', 'rollback', 1, 1, 'passed', 'manual', '2026-01-01 11:40Z'),
  (15, 6, 'smoke', 'check', 0, 1, 'passed', 'success', '2026-01-01 09:00Z'),
  (16, 7, 'smoke', 'check', 0, 1, 'failed', 'success', '2026-01-01 14:00Z');
)SQL");
  w.commit();
}

class DeploymentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = TestPostgres::FreshDatabase("deploys_");
    auto db = Db::Connect(url_, absl::Seconds(10));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Migrate().ok());
    Seed(url_);
  }
  std::string url_;
  std::unique_ptr<Db> db_;
};

// Every passed attempt of the deploy stage, newest first; the re-run is
// attempt 2; the failed deploy and the rollback stage are not deploys.
TEST_F(DeploymentsTest, HistoryIsEveryPassedDeployNewestFirst) {
  std::vector<DeploymentRecord> got;
  ASSERT_TRUE(db_->Run("t",
                       [&](Tx& tx) {
                         got = tx.Deployments({"production", "smoke"}, {"deploy", ""}, 100);
                         return absl::OkStatus();
                       })
                  .ok());
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].pipeline, "production");
  EXPECT_EQ(got[0].counter, 1);
  EXPECT_EQ(got[0].stage_counter, 2);
  EXPECT_EQ(got[0].triggered_by, "alice");
  EXPECT_EQ(got[1].counter, 2);
  EXPECT_EQ(got[1].stage_counter, 1);
  EXPECT_EQ(got[2].counter, 1);
  EXPECT_EQ(got[2].stage_counter, 1);
  EXPECT_EQ(got[3].pipeline, "smoke");
  EXPECT_EQ(got[3].counter, 1);
  EXPECT_GT(got[0].at, got[1].at);

  std::vector<DeploymentRecord> limited;
  ASSERT_TRUE(db_->Run("t",
                       [&](Tx& tx) {
                         limited = tx.Deployments({"production"}, {"deploy"}, 1);
                         return absl::OkStatus();
                       })
                  .ok());
  ASSERT_EQ(limited.size(), 1u);
  EXPECT_EQ(limited[0].stage_run_id, 12);
}

// The deployed version now is each pipeline's newest deploy: the re-run of
// production/1 put version 1.12 back after production/2.
TEST_F(DeploymentsTest, CurrentIsNewestDeployPerPipelineWithItsUpstream) {
  std::vector<DeploymentRecord> now;
  std::vector<DeployedMaterialRecord> materials;
  ASSERT_TRUE(db_->Run("t",
                       [&](Tx& tx) {
                         now = tx.CurrentDeployments({"production", "smoke"}, {"deploy", ""});
                         materials = tx.DeployedMaterials({3});
                         return absl::OkStatus();
                       })
                  .ok());
  ASSERT_EQ(now.size(), 2u);
  EXPECT_EQ(now[0].pipeline, "production");
  EXPECT_EQ(now[0].counter, 1);
  EXPECT_EQ(now[0].stage_counter, 2);
  EXPECT_EQ(now[1].pipeline, "smoke");
  EXPECT_EQ(now[1].stage, "check");
  ASSERT_EQ(materials.size(), 1u);
  EXPECT_EQ(materials[0].upstream_pipeline, "build");
  EXPECT_EQ(materials[0].upstream_counter, 12);
  EXPECT_EQ(materials[0].upstream_label, "1.12");
}

}  // namespace
}  // namespace gantry::store
