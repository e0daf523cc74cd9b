// Pause and pipeline locks against a real PostgreSQL: the Planner decides
// in memory, each step commits as one batch, and the checks read the
// pipelines rows back (what a restarted controller would load).
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config/parser.h"
#include "controller/config_cache.h"
#include "controller/embedded_pg/test_postgres.h"
#include "controller/planner/planner.h"
#include "controller/planner/run_model.h"
#include "controller/scheduling/config_apply.h"
#include "controller/scheduling/db_cold_store.h"
#include "controller/store/db.h"
#include "controller/store/tx.h"

namespace gantry {
namespace {

const auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new TestPostgres("gantry-pause-locks-test"));

constexpr char kConfig[] = R"(format_version: 10
pipelines:
  up:
    stages:
      - s:
          jobs:
            j: {tasks: [{exec: {command: "true"}}]}
  down:
    materials:
      up: {pipeline: up, stage: s}
    stages:
      - go:
          jobs:
            d: {tasks: [{exec: {command: "true"}}]}
      - gate:
          approval: manual
          jobs:
            g: {tasks: [{exec: {command: "true"}}]}
  onfail:
    lock_behavior: lockOnFailure
    stages:
      - a:
          jobs:
            x: {tasks: [{exec: {command: "true"}}]}
      - b:
          jobs:
            y: {tasks: [{exec: {command: "true"}}]}
  whenfinished:
    lock_behavior: unlockWhenFinished
    stages:
      - a:
          jobs:
            x: {tasks: [{exec: {command: "true"}}]}
      - b:
          jobs:
            y: {tasks: [{exec: {command: "true"}}]}
  quorum:
    lock_behavior: unlockWhenFinished
    stages:
      - ship:
          approval: {type: manual, required: 2}
          jobs:
            q: {tasks: [{exec: {command: "true"}}]}
  hotfix:
    paused: true
    stages:
      - ship:
          jobs:
            h: {tasks: [{exec: {command: "true"}}]}
)";

constexpr int64_t kNow = 1'800'000'000'000;

class PauseLocksDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Db::Connect(TestPostgres::FreshDatabase("pauselocks_"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Migrate().ok());
    v1::ConfigFile file;
    file.set_path("p.yaml");
    file.set_content(kConfig);
    // The real apply: it creates the pipelines rows (hotfix paused).
    auto applied = ApplyConfigFiles(*db_, {file}, "cfg-author");
    ASSERT_TRUE(applied.ok()) << applied.status();
    ASSERT_NE(applied->config, nullptr);
    int64_t revision = applied->response.revision();
    configs_.Put(revision, applied->config);
    configs_.SetCurrent(revision, applied->config);
    model_.Reset({});
    model_.LoadControls(Controls());
    cold_ = std::make_unique<DbColdStore>(db_.get(), &configs_);
    planner_ = std::make_unique<Planner>(&model_, &configs_, cold_.get(), cold_.get());
    planner_->set_now_ms(kNow);
  }

  void Commit() {
    store::WriteBatch writes = model_.TakeWrites();
    absl::Status st = db_->Run("commit", [&](store::Tx& tx) {
      tx.ApplyWrites(writes);
      return absl::OkStatus();
    });
    ASSERT_TRUE(st.ok()) << st;
  }

  std::vector<store::PipelineRecord> Controls() {
    std::vector<store::PipelineRecord> rows;
    EXPECT_TRUE(db_->Run("read",
                         [&](store::Tx& tx) {
                           rows = tx.PipelineControls();
                           return absl::OkStatus();
                         })
                    .ok());
    return rows;
  }
  // The pipeline's row as stored.
  store::PipelineRecord Row(const std::string& pipeline) {
    for (auto& r : Controls()) {
      if (r.name == pipeline) return r;
    }
    ADD_FAILURE() << "no pipelines row for " << pipeline;
    return {};
  }
  std::optional<store::PipelineRunRecord> RunRow(const std::string& pipeline, int64_t counter) {
    std::optional<store::PipelineRunRecord> run;
    EXPECT_TRUE(db_->Run("read",
                         [&](store::Tx& tx) {
                           run = tx.FindPipelineRun(pipeline, counter);
                           return absl::OkStatus();
                         })
                    .ok());
    return run;
  }
  std::vector<store::MaterialRevisionRecord> Materials(int64_t run_id) {
    std::vector<store::MaterialRevisionRecord> out;
    EXPECT_TRUE(db_->Run("read",
                         [&](store::Tx& tx) {
                           out = tx.RunMaterials(run_id);
                           return absl::OkStatus();
                         })
                    .ok());
    return out;
  }

  absl::StatusOr<int64_t> Trigger(const std::string& pipeline) {
    TriggerSpec spec;
    spec.pipeline = pipeline;
    spec.user = "alice";
    Effects effects;
    auto run = planner_->Trigger(spec, &effects);
    Commit();
    return run;
  }
  // Runs every scheduled job of the pipeline's run `counter` (in memory)
  // to `result`, one batch.
  void FinishJobs(const std::string& pipeline, int64_t counter, JobState result) {
    RunEntry* run = model_.FindRun(pipeline, counter);
    ASSERT_NE(run, nullptr) << pipeline << "/" << counter;
    std::vector<int64_t> attempts;
    for (const auto& [id, j] : run->jobs) {
      if (j.state == JobState::kScheduled) attempts.push_back(id);
    }
    ASSERT_FALSE(attempts.empty()) << pipeline << "/" << counter << " has no scheduled job";
    for (int64_t a : attempts) {
      ASSERT_TRUE(planner_->Assign(a, "agent-1"));
      ASSERT_TRUE(planner_->Start(a, "agent-1").ok());
      Effects effects;
      auto done = planner_->Complete(a, "agent-1", result, "", &effects);
      ASSERT_TRUE(done.ok()) << done.status();
    }
    Commit();
  }
  absl::Status Approve(const std::string& pipeline, int64_t counter, const std::string& stage) {
    Effects effects;
    auto run = planner_->Approve(pipeline, counter, stage, {"bob", {}}, "", &effects);
    Commit();
    return run.status();
  }

  std::unique_ptr<store::Db> db_;
  ConfigCache configs_;
  RunModel model_;
  std::unique_ptr<DbColdStore> cold_;
  std::unique_ptr<Planner> planner_;
};

// A paused pipeline refuses a manual trigger and an approval, each naming
// who paused it, when and why; upstream triggers that pass meanwhile wait,
// and unpausing runs the pipeline once, with the newest upstream.
TEST_F(PauseLocksDbTest, PausedRefusesAndRunsOnceWithNewestUpstreamAfterUnpause) {
  ASSERT_TRUE(Trigger("up").ok());
  FinishJobs("up", 1, JobState::kPassed);  // triggers down/1
  FinishJobs("down", 1, JobState::kPassed);
  ASSERT_EQ(RunRow("down", 1)->state, RunState::kAwaitingApproval);

  ASSERT_TRUE(planner_->Pause("down", "carol", "prod freeze").ok());
  Commit();
  store::PipelineRecord row = Row("down");
  EXPECT_TRUE(row.paused);
  EXPECT_EQ(row.paused_by, "carol");
  EXPECT_EQ(row.paused_at, kNow);
  EXPECT_EQ(row.pause_reason, "prod freeze");
  // Pausing twice is refused, naming the first pause.
  absl::Status again = planner_->Pause("down", "bob", "x");
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(again.message().find("already paused by carol"), std::string::npos) << again;

  absl::Status approve = Approve("down", 1, "gate");
  EXPECT_EQ(approve.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(approve.message().find("paused by carol at 2027-01-15 08:00:00 UTC: prod freeze"),
            std::string::npos)
      << approve;
  auto manual = Trigger("down");
  EXPECT_EQ(manual.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(manual.status().message().find("paused by carol"), std::string::npos)
      << manual.status();
  EXPECT_NE(manual.status().message().find("prod freeze"), std::string::npos);

  // Two upstream runs pass while down is paused: nothing runs, the newest waits.
  ASSERT_TRUE(Trigger("up").ok());
  FinishJobs("up", 2, JobState::kPassed);
  ASSERT_TRUE(Trigger("up").ok());
  FinishJobs("up", 3, JobState::kPassed);
  EXPECT_FALSE(RunRow("down", 2).has_value());
  row = Row("down");
  EXPECT_EQ(row.waiting.upstream_pipeline, "up");
  EXPECT_EQ(row.waiting.upstream_counter, 3);

  Effects effects;
  ASSERT_TRUE(planner_->Unpause("down", "carol", &effects).ok());
  Commit();
  row = Row("down");
  EXPECT_FALSE(row.paused);
  EXPECT_EQ(row.waiting.upstream_pipeline, "");
  auto run = RunRow("down", 2);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->cause_kind, "upstream");
  auto materials = Materials(run->id);
  ASSERT_EQ(materials.size(), 1u);
  EXPECT_EQ(materials[0].upstream_counter, 3);
  EXPECT_FALSE(RunRow("down", 3).has_value());  // once, not once per trigger
  // Approving works again.
  EXPECT_TRUE(Approve("down", 1, "gate").ok());
  EXPECT_EQ(planner_->Unpause("down", "carol", &effects).code(),
            absl::StatusCode::kFailedPrecondition);
}

// `paused: true` pauses a pipeline when it first appears; a later apply of
// the same config does not pause it again once someone unpaused it.
TEST_F(PauseLocksDbTest, ConfigPausesOnlyOnFirstAppearance) {
  store::PipelineRecord row = Row("hotfix");
  EXPECT_TRUE(row.paused);
  EXPECT_EQ(row.paused_by, "cfg-author");
  EXPECT_EQ(row.pause_reason, "paused: true in config");
  EXPECT_FALSE(Row("up").paused);
  EXPECT_EQ(Trigger("hotfix").status().code(), absl::StatusCode::kFailedPrecondition);

  Effects effects;
  ASSERT_TRUE(planner_->Unpause("hotfix", "rel-lead", &effects).ok());
  Commit();
  v1::ConfigFile file;
  file.set_path("p.yaml");
  file.set_content(std::string(kConfig) + "# again\n");
  ASSERT_TRUE(ApplyConfigFiles(*db_, {file}, "cfg-author").ok());
  EXPECT_FALSE(Row("hotfix").paused);
}

// lockOnFailure: one run at a time; a stage failing before the last keeps
// the lock after the run ended, so triggers are refused until `unlock`.
TEST_F(PauseLocksDbTest, LockOnFailureBlocksAfterFailureUntilUnlock) {
  ASSERT_TRUE(Trigger("onfail").ok());
  EXPECT_EQ(Row("onfail").locked_by, 1);
  auto second = Trigger("onfail");
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("locked by its run onfail/1"), std::string::npos)
      << second.status();
  // Unlocking while the holder still builds is refused.
  Effects effects;
  absl::Status early = planner_->Unlock("onfail", "bob", &effects);
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(early.message().find("still running"), std::string::npos) << early;

  FinishJobs("onfail", 1, JobState::kFailed);
  EXPECT_EQ(RunRow("onfail", 1)->state, RunState::kFailed);
  EXPECT_EQ(Row("onfail").locked_by, 1);  // still locked after the failure
  EXPECT_EQ(Trigger("onfail").status().code(), absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(planner_->Unlock("onfail", "bob", &effects).ok());
  Commit();
  EXPECT_EQ(Row("onfail").locked_by, 0);
  EXPECT_EQ(planner_->Unlock("onfail", "bob", &effects).code(),
            absl::StatusCode::kFailedPrecondition);  // not locked
  ASSERT_TRUE(Trigger("onfail").ok());
  EXPECT_EQ(Row("onfail").locked_by, 2);
  // A run that passes releases it.
  FinishJobs("onfail", 2, JobState::kPassed);
  FinishJobs("onfail", 2, JobState::kPassed);
  EXPECT_EQ(RunRow("onfail", 2)->state, RunState::kPassed);
  EXPECT_EQ(Row("onfail").locked_by, 0);
  // A pipeline without a lock cannot be unlocked.
  EXPECT_EQ(planner_->Unlock("up", "bob", &effects).code(), absl::StatusCode::kFailedPrecondition);
}

// unlockWhenFinished: one run at a time, released when the run ends, even
// when it failed.
TEST_F(PauseLocksDbTest, UnlockWhenFinishedReleasesAtTheEnd) {
  ASSERT_TRUE(Trigger("whenfinished").ok());
  EXPECT_EQ(Row("whenfinished").locked_by, 1);
  EXPECT_EQ(Trigger("whenfinished").status().code(), absl::StatusCode::kFailedPrecondition);
  FinishJobs("whenfinished", 1, JobState::kFailed);
  EXPECT_EQ(Row("whenfinished").locked_by, 0);
  ASSERT_TRUE(Trigger("whenfinished").ok());
  FinishJobs("whenfinished", 2, JobState::kPassed);
  EXPECT_EQ(Row("whenfinished").locked_by, 2);  // stage b still to run
  FinishJobs("whenfinished", 2, JobState::kPassed);
  EXPECT_EQ(Row("whenfinished").locked_by, 0);
}

// unlockWhenFinished counts a run waiting at a manual gate as finished: a
// manual trigger that stops at a first gate needing two approvers holds no
// lock, so another run may be triggered.
TEST_F(PauseLocksDbTest, UnlockWhenFinishedRunWaitingAtFirstGateHoldsNoLock) {
  ASSERT_TRUE(Trigger("quorum").ok());
  EXPECT_EQ(RunRow("quorum", 1)->state, RunState::kAwaitingApproval);
  EXPECT_EQ(Row("quorum").locked_by, 0);
  EXPECT_TRUE(Trigger("quorum").ok());
}

// The lock and the pause survive a reload: a model rebuilt from the
// database refuses the same trigger.
TEST_F(PauseLocksDbTest, ControlsReloadFromTheDatabase) {
  ASSERT_TRUE(Trigger("onfail").ok());
  ASSERT_TRUE(planner_->Pause("up", "carol", "").ok());
  Commit();
  RunModel fresh;
  fresh.Reset({});
  fresh.LoadControls(Controls());
  ASSERT_NE(fresh.controls().Find("onfail"), nullptr);
  EXPECT_EQ(fresh.controls().Find("onfail")->locked_by, 1);
  ASSERT_NE(fresh.controls().Find("up"), nullptr);
  EXPECT_TRUE(fresh.controls().Find("up")->paused);
}

}  // namespace
}  // namespace gantry
