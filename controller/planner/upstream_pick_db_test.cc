// `pipeline trigger deploy --revision up=N` against a real PostgreSQL: the
// named upstream run is taken (not the newest passed one), and a run that
// does not exist or whose stage did not pass is refused with nothing written.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/config/parser.h"
#include "controller/config_cache.h"
#include "controller/embedded_pg/test_postgres.h"
#include "controller/planner/planner.h"
#include "controller/planner/run_model.h"
#include "controller/scheduling/db_cold_store.h"
#include "controller/store/db.h"
#include "controller/store/tx.h"

namespace gantry {
namespace {

const auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new TestPostgres("gantry-upstream-pick-test"));

constexpr char kConfig[] = R"(format_version: 10
pipelines:
  build:
    stages:
      - compile:
          jobs:
            a: {tasks: [{exec: {command: "true"}}]}
  deploy:
    label_template: "d${COUNT}-${up}"
    materials:
      up: {pipeline: build, stage: compile}
      src: {git: "https://example.invalid/src.git"}
    stages:
      - go:
          approval: manual
          jobs:
            d: {tasks: [{exec: {command: "true"}}]}
)";

class UpstreamPickDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Db::Connect(TestPostgres::FreshDatabase("upstream_pick_"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Migrate().ok());
    auto parsed = config::ParseConfigOrError({{"p.yaml", kConfig}});
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    auto config = std::make_shared<const config::Config>(std::move(*parsed));
    int64_t revision = 0;
    ASSERT_TRUE(db_->Run("apply",
                         [&](store::Tx& tx) {
                           revision = tx.InsertConfigRevision("t", "h", "", {{"p.yaml", kConfig}});
                           for (const auto& p : config->pipelines) tx.EnsurePipeline(p.name);
                           return absl::OkStatus();
                         })
                    .ok());
    configs_.Put(revision, config);
    configs_.SetCurrent(revision, config);
    model_.Reset({});
    cold_ = std::make_unique<DbColdStore>(db_.get(), &configs_);
    planner_ = std::make_unique<Planner>(&model_, &configs_, cold_.get(), cold_.get());
    planner_->set_now_ms(1'800'000'000'000);
  }

  void Commit() {
    store::WriteBatch writes = model_.TakeWrites();
    ASSERT_TRUE(db_->Run("commit",
                         [&](store::Tx& tx) {
                           tx.ApplyWrites(writes);
                           return absl::OkStatus();
                         })
                    .ok());
  }

  absl::StatusOr<int64_t> Trigger(const std::string& pipeline,
                                  std::map<std::string, std::string> revisions = {}) {
    TriggerSpec spec;
    spec.pipeline = pipeline;
    spec.user = "alice";
    spec.revisions = std::move(revisions);
    Effects effects;
    auto run = planner_->Trigger(spec, &effects);
    Commit();
    return run;
  }

  // Runs build/N's only job to `result` (a pass triggers deploy, which
  // stops at its manual gate).
  void FinishBuild(int64_t counter, JobState result) {
    auto run = Read<std::optional<store::PipelineRunRecord>>(
        [&](store::Tx& tx) { return tx.FindPipelineRun("build", counter); });
    ASSERT_TRUE(run.has_value());
    auto stages = Read<std::vector<store::StageRunRecord>>(
        [&](store::Tx& tx) { return tx.StageRuns(run->id); });
    ASSERT_EQ(stages.size(), 1u);
    auto jobs = Read<std::vector<store::JobRunRecord>>(
        [&](store::Tx& tx) { return tx.JobRunsOfStage(stages[0].id); });
    ASSERT_EQ(jobs.size(), 1u);
    ASSERT_TRUE(planner_->Assign(jobs[0].id, "agent-x"));
    ASSERT_TRUE(planner_->Start(jobs[0].id, "agent-x").ok());
    Effects effects;
    ASSERT_TRUE(planner_->Complete(jobs[0].id, "agent-x", result, "", &effects).ok());
    Commit();
  }

  template <typename T>
  T Read(const std::function<T(store::Tx&)>& fn) {
    T out{};
    EXPECT_TRUE(db_->Run("read",
                         [&](store::Tx& tx) {
                           out = fn(tx);
                           return absl::OkStatus();
                         })
                    .ok());
    return out;
  }
  int64_t RunCount(const std::string& pipeline) {
    return Read<int64_t>([&](store::Tx& tx) {
      int64_t n = 0;
      while (tx.FindPipelineRun(pipeline, n + 1)) ++n;
      return n;
    });
  }

  std::unique_ptr<store::Db> db_;
  ConfigCache configs_;
  RunModel model_;
  std::unique_ptr<DbColdStore> cold_;
  std::unique_ptr<Planner> planner_;
};

TEST_F(UpstreamPickDbTest, NamedUpstreamRunIsTakenInsteadOfTheNewestPassed) {
  ASSERT_TRUE(Trigger("build").ok());
  FinishBuild(1, JobState::kPassed);  // deploy/1 (upstream, from build/1)
  ASSERT_TRUE(Trigger("build").ok());
  FinishBuild(2, JobState::kPassed);  // deploy/2 (upstream, from build/2)
  ASSERT_EQ(RunCount("deploy"), 2);

  // Both spellings name build/1; the git material's revision stays as given.
  for (const std::string value : {"1", "build/1"}) {
    auto id = Trigger("deploy", {{"up", value}, {"src", "abc123"}});
    ASSERT_TRUE(id.ok()) << id.status();
    const RunEntry* entry = model_.FindRun(*id);
    ASSERT_NE(entry, nullptr);
    auto materials = Read<std::vector<store::MaterialRevisionRecord>>(
        [&](store::Tx& tx) { return tx.RunMaterials(*id); });
    ASSERT_EQ(materials.size(), 2u);
    EXPECT_EQ(materials[1].material, "up");
    EXPECT_EQ(materials[1].upstream_pipeline, "build");
    EXPECT_EQ(materials[1].upstream_counter, 1);
    EXPECT_EQ(materials[1].upstream_stage_counter, 1);
    EXPECT_EQ(materials[1].revision, "build/1/compile/1");
    EXPECT_EQ(materials[0].revision, "abc123");
    EXPECT_EQ(entry->run.label, absl::StrCat("d", entry->run.counter, "-build-1"));
  }
  // Without --revision the newest passed upstream is still taken.
  auto newest = Trigger("deploy");
  ASSERT_TRUE(newest.ok()) << newest.status();
  auto materials = Read<std::vector<store::MaterialRevisionRecord>>(
      [&](store::Tx& tx) { return tx.RunMaterials(*newest); });
  ASSERT_EQ(materials.size(), 2u);
  EXPECT_EQ(materials[1].revision, "build/2/compile/1");
}

TEST_F(UpstreamPickDbTest, UnknownMissingOrUnpassedUpstreamRunIsRefused) {
  ASSERT_TRUE(Trigger("build").ok());
  FinishBuild(1, JobState::kPassed);
  ASSERT_TRUE(Trigger("build").ok());
  FinishBuild(2, JobState::kFailed);
  ASSERT_TRUE(Trigger("build").ok());  // build/3: still building
  int64_t before = RunCount("deploy");

  auto code = [&](std::map<std::string, std::string> revisions) {
    return Trigger("deploy", std::move(revisions)).status();
  };
  absl::Status st = code({{"nope", "1"}});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("no material named 'nope'"), std::string::npos) << st;
  for (const std::string bad : {"x", "0", "-1", "other/1", "build/"}) {
    st = code({{"up", bad}});
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad << ": " << st;
  }
  st = code({{"up", "12"}});
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_NE(st.message().find("build/12 does not exist"), std::string::npos) << st;
  st = code({{"up", "2"}});
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(st.message().find("build/2/compile has not passed"), std::string::npos) << st;
  st = code({{"up", "build/3"}});
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_EQ(RunCount("deploy"), before);  // nothing was written
}

}  // namespace
}  // namespace gantry
