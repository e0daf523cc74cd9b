// The run state machine against a real PostgreSQL: trigger, stage
// settlement, manual gates, downstream triggers, cancel and fetch
// resolution, through RunPlanner's named operations, each in one transaction.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "common/config/parser.h"
#include "controller/artifacts/fetch_resolver.h"
#include "controller/config_cache.h"
#include "controller/embedded_pg/test_postgres.h"
#include "controller/run_planner.h"
#include "controller/store/db.h"
#include "controller/store/tx.h"

namespace gantry {
namespace {

const auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new TestPostgres("gantry-planner-test"));

constexpr char kConfig[] = R"(format_version: 10
pipelines:
  build:
    stages:
      - compile:
          jobs:
            a: {tasks: [{exec: {command: "true"}}]}
            b: {tasks: [{exec: {command: "true"}}]}
      - approve-me:
          approval: manual
          jobs:
            c: {tasks: [{exec: {command: "true"}}]}
  deploy:
    materials:
      up: {pipeline: build, stage: compile}
    stages:
      - go:
          jobs:
            d: {tasks: [{exec: {command: "true"}}]}
  prod:
    materials:
      dep: {pipeline: deploy, stage: go}
    stages:
      - ship:
          jobs:
            e: {tasks: [{exec: {command: "true"}}]}
)";

class RunPlannerDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Db::Connect(TestPostgres::FreshDatabase("planner_"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Migrate().ok());
    auto parsed = config::ParseConfigOrError({{"p.yaml", kConfig}});
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    int64_t revision = 0;
    ASSERT_TRUE(db_->Run("apply", [&](store::Tx& tx) {
                     revision = tx.InsertConfigRevision("t", "h", "", {{"p.yaml", kConfig}});
                     return absl::OkStatus();
                   }).ok());
    configs_.SetCurrent(revision, std::make_shared<config::Config>(*parsed));
  }

  // Ends job `id` in `state` and settles its stage, as a completion does.
  PlanEffects Finish(int64_t id, const std::string& state) {
    PlanEffects effects;
    absl::Status st = db_->Run("finish", [&](store::Tx& tx) -> absl::Status {
      effects.Clear();
      auto job = tx.GetJobRun(id, true);
      EXPECT_TRUE(tx.TransitionJob(id, {"scheduled", "assigned", "running"}, state, "agent", ""));
      return planner_.SettleStage(tx, job->stage_run_id, &effects);
    });
    EXPECT_TRUE(st.ok()) << st;
    return effects;
  }

  store::PipelineRunRecord Run(const std::string& pipeline, int64_t counter) {
    store::PipelineRunRecord run;
    EXPECT_TRUE(db_->Run("read", [&](store::Tx& tx) {
                     run = *tx.FindPipelineRun(pipeline, counter);
                     return absl::OkStatus();
                   }).ok());
    return run;
  }

  absl::StatusOr<store::PipelineRunRecord> Trigger(const std::string& pipeline,
                                                   PlanEffects* effects) {
    absl::StatusOr<store::PipelineRunRecord> result;
    absl::Status st = db_->Run("trigger", [&](store::Tx& tx) -> absl::Status {
      effects->Clear();
      TriggerSpec spec;
      spec.pipeline = pipeline;
      spec.user = "alice";
      result = planner_.Trigger(tx, spec, effects);
      return result.status();
    });
    if (!st.ok()) return st;
    return result;
  }

  // Moves job `id` to running on `agent`, as an assignment and start do.
  void Start(int64_t id, const std::string& agent) {
    ASSERT_TRUE(db_->Run("start", [&](store::Tx& tx) {
                     EXPECT_TRUE(tx.TransitionJob(id, {"scheduled"}, "running", agent, ""));
                     return absl::OkStatus();
                   }).ok());
  }

  absl::StatusOr<PlanEffects> Cancel(const std::string& pipeline, int64_t counter,
                                     const std::string& stage) {
    PlanEffects effects;
    absl::Status st = db_->Run("cancel", [&](store::Tx& tx) -> absl::Status {
      effects.Clear();
      return planner_.Cancel(tx, pipeline, counter, stage, "carol", &effects).status();
    });
    if (!st.ok()) return st;
    return effects;
  }

  std::string JobState(int64_t id) {
    std::string state;
    EXPECT_TRUE(db_->Run("read", [&](store::Tx& tx) {
                     state = tx.GetJobRun(id, false)->state;
                     return absl::OkStatus();
                   }).ok());
    return state;
  }

  ConfigCache configs_;
  RunPlanner planner_{&configs_,
                      [](const JobRequirements&) { return std::vector<std::string>{}; }};
  std::unique_ptr<store::Db> db_;
};

// A run goes compile (two jobs) -> waits at the manual gate -> approve ->
// passed, and the downstream pipeline starts when compile passes.
TEST_F(RunPlannerDbTest, StagesGateAndDownstream) {
  PlanEffects effects;
  auto run = Trigger("build", &effects);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->counter, 1);
  EXPECT_EQ(run->state, "building");
  ASSERT_EQ(effects.scheduled_jobs.size(), 2u);
  int64_t a = effects.scheduled_jobs[0].job_run_id, b = effects.scheduled_jobs[1].job_run_id;

  EXPECT_TRUE(Finish(a, "passed").scheduled_jobs.empty());  // b still runs
  EXPECT_EQ(Run("build", 1).state, "building");
  PlanEffects after_b = Finish(b, "passed");
  // The gate stops the run; the downstream pipeline starts with its job.
  EXPECT_EQ(Run("build", 1).state, "awaiting_approval");
  ASSERT_EQ(after_b.scheduled_jobs.size(), 1u);
  store::PipelineRunRecord deploy = Run("deploy", 1);
  EXPECT_EQ(deploy.cause_kind, "upstream");
  EXPECT_EQ(deploy.trigger_user, "alice");

  PlanEffects approved;
  absl::Status st = db_->Run("approve", [&](store::Tx& tx) -> absl::Status {
    approved.Clear();
    return planner_.Approve(tx, "build", 1, "approve-me", "bob", &approved).status();
  });
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_EQ(approved.scheduled_jobs.size(), 1u);
  EXPECT_EQ(Run("build", 1).state, "building");
  Finish(approved.scheduled_jobs[0].job_run_id, "passed");
  EXPECT_EQ(Run("build", 1).state, "passed");
}

// A failed job fails its stage once the others finish, and ends the run.
TEST_F(RunPlannerDbTest, FailedJobEndsRun) {
  PlanEffects effects;
  auto run = Trigger("build", &effects);
  ASSERT_TRUE(run.ok());
  Finish(effects.scheduled_jobs[0].job_run_id, "failed");
  EXPECT_EQ(Run("build", 1).state, "building");  // the other job still runs
  PlanEffects last = Finish(effects.scheduled_jobs[1].job_run_id, "passed");
  EXPECT_EQ(Run("build", 1).state, "failed");
  EXPECT_TRUE(last.scheduled_jobs.empty());
  // No downstream run for a failed stage.
  PlanEffects none;
  auto deploy = Trigger("deploy", &none);
  EXPECT_EQ(deploy.status().code(), absl::StatusCode::kFailedPrecondition);
}

// Approving twice, approving an unknown stage and triggering an unknown
// pipeline are refused with a reason, changing nothing.
TEST_F(RunPlannerDbTest, RefusedOperations) {
  PlanEffects effects;
  auto missing = Trigger("nope", &effects);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(Trigger("build", &effects).ok());
  absl::Status early = db_->Run("approve", [&](store::Tx& tx) -> absl::Status {
    PlanEffects e;
    return planner_.Approve(tx, "build", 1, "approve-me", "bob", &e).status();
  });
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(early.message().find("previous stage compile is building"), std::string::npos)
      << early;
  absl::Status unknown = db_->Run("approve", [&](store::Tx& tx) -> absl::Status {
    PlanEffects e;
    return planner_.Approve(tx, "build", 1, "nostage", "bob", &e).status();
  });
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Run("build", 1).state, "building");
}

// A second run waits behind the first at a stage that is building, and
// starts when that stage ends (one active run per stage, like a train).
TEST_F(RunPlannerDbTest, NewerRunQueuesBehindActiveStage) {
  PlanEffects first, second;
  ASSERT_TRUE(Trigger("build", &first).ok());
  ASSERT_TRUE(Trigger("build", &second).ok());
  ASSERT_EQ(first.scheduled_jobs.size(), 2u);
  EXPECT_TRUE(second.scheduled_jobs.empty());
  Finish(first.scheduled_jobs[0].job_run_id, "passed");
  PlanEffects released = Finish(first.scheduled_jobs[1].job_run_id, "passed");
  // run 2's two compile jobs, plus deploy/1's job.
  EXPECT_EQ(released.scheduled_jobs.size(), 3u);
  EXPECT_EQ(Run("build", 2).state, "building");
}

// A lost attempt of a job whose policy is `fail` fails the stage; the
// agent's late report cannot change it (LoseJob refuses a second time).
TEST_F(RunPlannerDbTest, LostJobFailsStageByDefault) {
  PlanEffects effects;
  ASSERT_TRUE(Trigger("build", &effects).ok());
  int64_t a = effects.scheduled_jobs[0].job_run_id;
  ASSERT_TRUE(db_->Run("assign", [&](store::Tx& tx) {
                   EXPECT_TRUE(tx.TransitionJob(a, {"scheduled"}, "running", "agent-x", ""));
                   return absl::OkStatus();
                 }).ok());
  absl::StatusOr<bool> lost = false;
  PlanEffects lost_effects;
  ASSERT_TRUE(db_->Run("lose", [&](store::Tx& tx) -> absl::Status {
                   lost_effects.Clear();
                   lost = planner_.LoseJob(tx, a, "agent-x", "silent", &lost_effects);
                   return lost.status();
                 }).ok());
  EXPECT_TRUE(*lost);
  EXPECT_TRUE(lost_effects.scheduled_jobs.empty());
  Finish(effects.scheduled_jobs[1].job_run_id, "passed");
  EXPECT_EQ(Run("build", 1).state, "failed");
  ASSERT_TRUE(db_->Run("lose again", [&](store::Tx& tx) -> absl::Status {
                   PlanEffects e;
                   lost = planner_.LoseJob(tx, a, "agent-x", "silent", &e);
                   return lost.status();
                 }).ok());
  EXPECT_FALSE(*lost);
}

// Cancel ends a scheduled job at once and asks the agent of a running one
// to stop; the stage ends `cancelled` when that agent reports.
TEST_F(RunPlannerDbTest, CancelStopsRunningAndEndsScheduledJobs) {
  PlanEffects effects;
  ASSERT_TRUE(Trigger("build", &effects).ok());
  int64_t a = effects.scheduled_jobs[0].job_run_id, b = effects.scheduled_jobs[1].job_run_id;
  Start(a, "agent-x");
  auto cancelled = Cancel("build", 1, "compile");
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->ended_jobs, std::vector<int64_t>{b});
  ASSERT_EQ(cancelled->cancels.size(), 1u);
  EXPECT_EQ(cancelled->cancels[0].attempt_id, a);
  EXPECT_EQ(cancelled->cancels[0].agent_id, "agent-x");
  EXPECT_EQ(cancelled->cancels[0].reason, "cancelled by carol");
  EXPECT_EQ(JobState(b), "cancelled");
  EXPECT_EQ(Run("build", 1).state, "building");  // a is still stopping
  Finish(a, "cancelled");
  EXPECT_EQ(Run("build", 1).state, "cancelled");
  // Nothing downstream, and a finished stage cannot be cancelled again.
  auto again = Cancel("build", 1, "compile");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("is already cancelled"), std::string::npos)
      << again.status();
  EXPECT_EQ(Cancel("build", 1, "approve-me").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Cancel("build", 9, "compile").status().code(), absl::StatusCode::kNotFound);
}

// A run queued behind another ends at once; the cancel of a job whose agent
// then goes silent stands (no reschedule).
TEST_F(RunPlannerDbTest, CancelQueuedRunAndLostWhileCancelling) {
  PlanEffects first, second;
  ASSERT_TRUE(Trigger("build", &first).ok());
  ASSERT_TRUE(Trigger("build", &second).ok());
  auto queued = Cancel("build", 2, "compile");
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_EQ(Run("build", 2).state, "cancelled");

  int64_t a = first.scheduled_jobs[0].job_run_id;
  Start(a, "agent-x");
  ASSERT_TRUE(Cancel("build", 1, "compile").ok());
  PlanEffects lost_effects;
  ASSERT_TRUE(db_->Run("lose", [&](store::Tx& tx) -> absl::Status {
                   lost_effects.Clear();
                   return planner_.LoseJob(tx, a, "agent-x", "silent", &lost_effects).status();
                 }).ok());
  EXPECT_TRUE(lost_effects.scheduled_jobs.empty());
  EXPECT_EQ(JobState(a), "cancelled");
  EXPECT_EQ(Run("build", 1).state, "cancelled");
}

// A fetch through an ancestor path takes the upstream run recorded in the
// build cause, not the newest one; a fetch in the same pipeline takes the
// same counter.
TEST_F(RunPlannerDbTest, FetchResolvesThroughBuildCause) {
  PlanEffects b1, b2;
  ASSERT_TRUE(Trigger("build", &b1).ok());
  Finish(b1.scheduled_jobs[0].job_run_id, "passed");
  PlanEffects deploy1 = Finish(b1.scheduled_jobs[1].job_run_id, "passed");  // triggers deploy/1
  ASSERT_EQ(deploy1.scheduled_jobs.size(), 1u);
  ASSERT_TRUE(Trigger("build", &b2).ok());  // build/2: newer than what deploy/1 used
  Finish(b2.scheduled_jobs[0].job_run_id, "passed");
  Finish(b2.scheduled_jobs[1].job_run_id, "passed");
  // Triggers prod/1 and releases deploy/2, queued behind deploy/1.
  PlanEffects prod1 = Finish(deploy1.scheduled_jobs[0].job_run_id, "passed");
  ASSERT_EQ(prod1.scheduled_jobs.size(), 2u);

  config::FetchTask ancestor;
  ancestor.pipeline = "build/deploy";
  ancestor.stage = "compile";
  ancestor.job = "a";
  config::FetchTask own;
  own.stage = "compile";
  own.job = "b";
  config::FetchTask missing = ancestor;
  missing.pipeline = "nowhere/deploy";
  ASSERT_TRUE(db_->Run("resolve", [&](store::Tx& tx) -> absl::Status {
                   auto from = ResolveFetch(tx, *tx.FindPipelineRun("prod", 1), ancestor);
                   EXPECT_TRUE(from.ok()) << from.status();
                   if (from.ok()) EXPECT_EQ(from->Locator(), "build/1/compile/1/a");
                   auto same = ResolveFetch(tx, *tx.FindPipelineRun("build", 2), own);
                   EXPECT_TRUE(same.ok()) << same.status();
                   if (same.ok()) EXPECT_EQ(same->Locator(), "build/2/compile/1/b");
                   auto none = ResolveFetch(tx, *tx.FindPipelineRun("prod", 1), missing);
                   EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
                   EXPECT_NE(none.status().message().find(
                                 "has no recorded revision of pipeline 'nowhere'"),
                             std::string::npos)
                       << none.status();
                   return absl::OkStatus();
                 }).ok());
}

}  // namespace
}  // namespace gantry
