// The run state machine against a real PostgreSQL: the Planner decides in
// memory on a RunModel, each step's writes commit as one batch (as the
// scheduler commits a batch), and the checks read the rows back from the
// database, so what is checked is what a restarted controller would load.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/config/parser.h"
#include "controller/config_cache.h"
#include "controller/embedded_pg/test_postgres.h"
#include "controller/planner/planner.h"
#include "controller/planner/run_model.h"
#include "controller/scheduling/db_cold_store.h"
#include "controller/store/db.h"
#include "controller/store/tx.h"

namespace gantry {

// State names, not bytes, in failure messages (found by argument lookup).
void PrintTo(RunState s, std::ostream* os) { *os << Name(s); }
void PrintTo(StageState s, std::ostream* os) { *os << Name(s); }
void PrintTo(JobState s, std::ostream* os) { *os << Name(s); }

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
  lossy:
    stages:
      - s:
          jobs:
            strict: {tasks: [{exec: {command: "true"}}]}
            retry: {on_agent_lost: reschedule, tasks: [{exec: {command: "true"}}]}
  release:
    stages:
      - ship:
          approval: {type: manual, users: [rel-lead], roles: [releasers]}
          jobs:
            s: {tasks: [{exec: {command: "true"}}]}
      - prod:
          approval: {type: manual, roles: [prod-ops], allow_only_on_success: true}
          jobs:
            p: {tasks: [{exec: {command: "true"}}]}
  guarded:
    stages:
      - first:
          approval: {type: success, users: [rel-lead]}
          jobs:
            g: {tasks: [{exec: {command: "true"}}]}
  secrets:
    secure_variables: {DB_PASSWORD: from-config}
    environment_variables: {PLAIN: visible}
    stages:
      - s:
          jobs:
            j: {tasks: [{exec: {command: "true"}}]}
# Roles a gate names must exist; who is in them is the edge's to resolve
# (tests give GateActors their roles directly).
security:
  roles:
    releasers: [carol]
    prod-ops: [dave]
)";

const GateActor kBob{.user = "bob", .roles = {}};

constexpr int64_t kNow = 1'800'000'000'000;

class PlannerDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Db::Connect(TestPostgres::FreshDatabase("planner_"));
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
    planner_->set_now_ms(kNow);
  }

  // What the planner decided since the last commit goes to the database in
  // one transaction, as at the end of a scheduler batch.
  void Commit() {
    store::WriteBatch writes = model_.TakeWrites();
    absl::Status st = db_->Run("commit", [&](store::Tx& tx) {
      tx.ApplyWrites(writes);
      return absl::OkStatus();
    });
    ASSERT_TRUE(st.ok()) << st;
  }

  absl::StatusOr<int64_t> Trigger(const std::string& pipeline, Effects* effects) {
    TriggerSpec spec;
    spec.pipeline = pipeline;
    spec.user = "alice";
    return planner_->Trigger(spec, effects);
  }

  // Triggers `pipeline` and commits; the run's counter.
  int64_t TriggerCommitted(const std::string& pipeline) {
    Effects effects;
    auto run = Trigger(pipeline, &effects);
    EXPECT_TRUE(run.ok()) << run.status();
    Commit();
    return run.ok() ? model_.FindRun(*run)->run.counter : 0;
  }

  // --- reading back rows
  template <typename T>
  T Read(const std::function<T(store::Tx&)>& fn) {
    T out{};
    absl::Status st = db_->Run("read", [&](store::Tx& tx) {
      out = fn(tx);
      return absl::OkStatus();
    });
    EXPECT_TRUE(st.ok()) << st;
    return out;
  }
  std::optional<store::PipelineRunRecord> RunRow(const std::string& pipeline, int64_t counter) {
    return Read<std::optional<store::PipelineRunRecord>>(
        [&](store::Tx& tx) { return tx.FindPipelineRun(pipeline, counter); });
  }
  // The newest attempt of the stage; nullopt if it has not run.
  std::optional<store::StageRunRecord> StageRow(const std::string& pipeline, int64_t counter,
                                                const std::string& stage) {
    return Read<std::optional<store::StageRunRecord>>(
        [&](store::Tx& tx) -> std::optional<store::StageRunRecord> {
          auto run = tx.FindPipelineRun(pipeline, counter);
          if (!run) return std::nullopt;
          std::optional<store::StageRunRecord> found;
          for (auto& s : tx.StageRuns(run->id)) {
            if (s.name == stage && (!found || s.counter > found->counter)) found = s;
          }
          return found;
        });
  }
  // Every attempt of the stage's jobs, oldest first.
  std::vector<store::JobRunRecord> JobRows(const std::string& pipeline, int64_t counter,
                                           const std::string& stage) {
    auto s = StageRow(pipeline, counter, stage);
    if (!s) return {};
    return Read<std::vector<store::JobRunRecord>>(
        [&](store::Tx& tx) { return tx.JobRunsOfStage(s->id); });
  }
  store::JobRunRecord JobRow(int64_t attempt) {
    auto job = Read<std::optional<store::JobRunRecord>>(
        [&](store::Tx& tx) { return tx.GetJobRun(attempt, false); });
    EXPECT_TRUE(job.has_value()) << attempt;
    return job.value_or(store::JobRunRecord{});
  }
  // The newest attempt of `job`, from the database.
  int64_t Attempt(const std::string& pipeline, int64_t counter, const std::string& stage,
                  const std::string& job) {
    int64_t id = 0;
    for (const auto& j : JobRows(pipeline, counter, stage)) {
      if (j.name == job) id = std::max(id, j.id);
    }
    EXPECT_NE(id, 0) << pipeline << "/" << counter << "/" << stage << "/" << job;
    return id;
  }

  // --- an agent's side of an attempt
  void AssignAndStart(int64_t attempt, const std::string& agent) {
    ASSERT_TRUE(planner_->Assign(attempt, agent));
    auto started = planner_->Start(attempt, agent);
    ASSERT_TRUE(started.ok()) << started.status();
    ASSERT_EQ(*started, ReportOutcome::kRecorded);
  }
  Effects Complete(int64_t attempt, const std::string& agent, JobState result) {
    Effects effects;
    auto done = planner_->Complete(attempt, agent, result, "", &effects);
    EXPECT_TRUE(done.ok()) << done.status();
    if (done.ok()) EXPECT_EQ(*done, ReportOutcome::kRecorded);
    return effects;
  }
  // Runs build/N's compile to its end: job a ends `a_result`, b passes.
  void FinishCompile(int64_t counter, JobState a_result) {
    int64_t a = Attempt("build", counter, "compile", "a");
    int64_t b = Attempt("build", counter, "compile", "b");
    AssignAndStart(a, "agent-x");
    AssignAndStart(b, "agent-y");
    Complete(a, "agent-x", a_result);
    Complete(b, "agent-y", JobState::kPassed);
    Commit();
  }

  std::unique_ptr<store::Db> db_;
  ConfigCache configs_;
  RunModel model_;
  std::unique_ptr<DbColdStore> cold_;
  std::unique_ptr<Planner> planner_;
};

TEST_F(PlannerDbTest, TriggerWritesRunFirstStageAndScheduledJobs) {
  Effects effects;
  auto run = Trigger("build", &effects);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(effects.queued.size(), 2u);
  EXPECT_EQ(effects.queued[0].locator, "build/1/compile/1/a");
  Commit();

  auto row = RunRow("build", 1);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->id, *run);
  EXPECT_EQ(row->state, RunState::kBuilding);
  EXPECT_EQ(row->label, "1");
  EXPECT_EQ(row->cause_kind, "manual");
  EXPECT_EQ(row->trigger_user, "alice");
  auto stage = StageRow("build", 1, "compile");
  ASSERT_TRUE(stage.has_value());
  EXPECT_EQ(stage->state, StageState::kBuilding);
  EXPECT_EQ(stage->approved_by, "alice");  // a person triggering is the approval
  auto jobs = JobRows("build", 1, "compile");
  ASSERT_EQ(jobs.size(), 2u);
  for (const auto& j : jobs) EXPECT_EQ(j.state, JobState::kScheduled) << j.name;
  EXPECT_FALSE(StageRow("build", 1, "approve-me").has_value());
  // The counter is stored, so a reloaded model numbers the next run 2.
  auto pipeline = Read<std::optional<store::PipelineRecord>>(
      [](store::Tx& tx) { return tx.GetPipeline("build"); });
  ASSERT_TRUE(pipeline.has_value());
  EXPECT_EQ(pipeline->last_counter, 1);
}

// Refusals change nothing: the model has nothing to write afterwards.
TEST_F(PlannerDbTest, RefusedOperationsWriteNothing) {
  Effects effects;
  EXPECT_EQ(Trigger("nope", &effects).status().code(), absl::StatusCode::kNotFound);
  // deploy's upstream stage never passed.
  auto deploy = Trigger("deploy", &effects);
  EXPECT_EQ(deploy.status().code(), absl::StatusCode::kFailedPrecondition) << deploy.status();
  EXPECT_FALSE(model_.dirty());

  TriggerCommitted("build");
  auto early = planner_->Approve("build", 1, "approve-me", kBob, "", &effects);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(early.status().message().find("previous stage compile is building"), std::string::npos)
      << early.status();
  EXPECT_EQ(planner_->Approve("build", 1, "nostage", kBob, "", &effects).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(planner_->Cancel("build", 9, "compile", "bob", &effects).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(model_.dirty());
}

TEST_F(PlannerDbTest, StageSettlesOnlyWhenEveryJobHasEnded) {
  TriggerCommitted("build");
  int64_t a = Attempt("build", 1, "compile", "a");
  int64_t b = Attempt("build", 1, "compile", "b");
  AssignAndStart(a, "agent-x");
  AssignAndStart(b, "agent-y");
  Complete(a, "agent-x", JobState::kFailed);
  Commit();
  // b still runs: a failed job does not end its stage early.
  EXPECT_EQ(StageRow("build", 1, "compile")->state, StageState::kBuilding);
  EXPECT_EQ(RunRow("build", 1)->state, RunState::kBuilding);
  EXPECT_EQ(JobRow(a).state, JobState::kFailed);

  Complete(b, "agent-y", JobState::kPassed);
  Commit();
  auto stage = StageRow("build", 1, "compile");
  EXPECT_EQ(stage->state, StageState::kFailed);
  EXPECT_EQ(stage->finished_at, kNow);
  auto run = RunRow("build", 1);
  EXPECT_EQ(run->state, RunState::kFailed);
  EXPECT_EQ(run->finished_at, kNow);
  // A failed stage triggers nothing downstream.
  EXPECT_FALSE(RunRow("deploy", 0).has_value());
}

TEST_F(PlannerDbTest, ManualGateStopsRunUntilApproved) {
  TriggerCommitted("build");
  FinishCompile(1, JobState::kPassed);
  EXPECT_EQ(StageRow("build", 1, "compile")->state, StageState::kPassed);
  EXPECT_EQ(RunRow("build", 1)->state, RunState::kAwaitingApproval);
  EXPECT_FALSE(StageRow("build", 1, "approve-me").has_value());

  Effects approved;
  auto run = planner_->Approve("build", 1, "approve-me", kBob, "", &approved);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(approved.queued.size(), 1u);
  EXPECT_EQ(approved.queued[0].locator, "build/1/approve-me/1/c");
  Commit();
  auto gate = StageRow("build", 1, "approve-me");
  ASSERT_TRUE(gate.has_value());
  EXPECT_EQ(gate->state, StageState::kBuilding);
  EXPECT_EQ(gate->approval, "manual");
  EXPECT_EQ(gate->approved_by, "bob");
  EXPECT_EQ(RunRow("build", 1)->state, RunState::kBuilding);
  // Approving twice is refused.
  Effects again;
  EXPECT_EQ(planner_->Approve("build", 1, "approve-me", kBob, "", &again).status().code(),
            absl::StatusCode::kFailedPrecondition);

  int64_t c = Attempt("build", 1, "approve-me", "c");
  AssignAndStart(c, "agent-x");
  Complete(c, "agent-x", JobState::kPassed);
  Commit();
  EXPECT_EQ(RunRow("build", 1)->state, RunState::kPassed);
}

TEST_F(PlannerDbTest, PassedStageTriggersDownstreamWithUpstreamAsMaterial) {
  TriggerCommitted("build");
  TriggerCommitted("build");  // build/2: newer, but not the one that passes first
  FinishCompile(1, JobState::kPassed);

  auto deploy = RunRow("deploy", 1);
  ASSERT_TRUE(deploy.has_value());
  EXPECT_EQ(deploy->cause_kind, "upstream");
  EXPECT_EQ(deploy->trigger_user, "alice");
  EXPECT_EQ(deploy->cause_message, "triggered by build/1/compile/1");
  auto materials = Read<std::vector<store::MaterialRevisionRecord>>(
      [&](store::Tx& tx) { return tx.RunMaterials(deploy->id); });
  ASSERT_EQ(materials.size(), 1u);
  EXPECT_EQ(materials[0].material, "up");
  EXPECT_EQ(materials[0].type, "pipeline");
  EXPECT_EQ(materials[0].upstream_pipeline, "build");
  EXPECT_EQ(materials[0].upstream_counter, 1);
  EXPECT_EQ(materials[0].upstream_stage, "compile");
  EXPECT_EQ(materials[0].upstream_stage_counter, 1);
  EXPECT_EQ(materials[0].revision, "build/1/compile/1");
  auto jobs = JobRows("deploy", 1, "go");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state, JobState::kScheduled);

  // A manual trigger takes the newest committed run whose stage passed.
  TriggerCommitted("deploy");
  auto manual = RunRow("deploy", 2);
  ASSERT_TRUE(manual.has_value());
  auto manual_materials = Read<std::vector<store::MaterialRevisionRecord>>(
      [&](store::Tx& tx) { return tx.RunMaterials(manual->id); });
  ASSERT_EQ(manual_materials.size(), 1u);
  EXPECT_EQ(manual_materials[0].revision, "build/1/compile/1");
}

// One active run per stage: a newer run waits behind the one building and
// starts when that stage ends.
TEST_F(PlannerDbTest, NewerRunQueuesBehindTheStageOfAnEarlierOne) {
  TriggerCommitted("build");
  Effects second;
  ASSERT_TRUE(Trigger("build", &second).ok());
  EXPECT_TRUE(second.queued.empty());
  Commit();
  EXPECT_EQ(StageRow("build", 2, "compile")->state, StageState::kQueued);
  EXPECT_TRUE(JobRows("build", 2, "compile").empty());
  EXPECT_EQ(RunRow("build", 2)->state, RunState::kBuilding);

  int64_t a = Attempt("build", 1, "compile", "a");
  int64_t b = Attempt("build", 1, "compile", "b");
  AssignAndStart(a, "agent-x");
  AssignAndStart(b, "agent-y");
  Complete(a, "agent-x", JobState::kPassed);
  Commit();
  EXPECT_EQ(StageRow("build", 2, "compile")->state, StageState::kQueued);  // b still runs

  Effects released = Complete(b, "agent-y", JobState::kPassed);
  Commit();
  // build/2's two compile jobs, plus deploy/1's job.
  EXPECT_EQ(released.queued.size(), 3u);
  EXPECT_EQ(StageRow("build", 2, "compile")->state, StageState::kBuilding);
  auto jobs = JobRows("build", 2, "compile");
  ASSERT_EQ(jobs.size(), 2u);
  for (const auto& j : jobs) EXPECT_EQ(j.state, JobState::kScheduled);
}

// A scheduled job ends at once; a held one gets a cancel request and ends
// when its agent reports; the stage and run end cancelled only then.
TEST_F(PlannerDbTest, CancelEndsScheduledJobsAndAsksAgentsToStopHeldOnes) {
  TriggerCommitted("build");
  int64_t a = Attempt("build", 1, "compile", "a");
  int64_t b = Attempt("build", 1, "compile", "b");
  AssignAndStart(a, "agent-x");
  Commit();

  Effects cancelled;
  ASSERT_TRUE(planner_->Cancel("build", 1, "compile", "carol", &cancelled).ok());
  EXPECT_EQ(cancelled.unqueued, std::vector<int64_t>{b});
  ASSERT_EQ(cancelled.cancels.size(), 1u);
  EXPECT_EQ(cancelled.cancels[0].attempt_id, a);
  EXPECT_EQ(cancelled.cancels[0].agent_id, "agent-x");
  EXPECT_EQ(cancelled.cancels[0].reason, "cancelled by carol");
  Commit();
  EXPECT_EQ(JobRow(b).state, JobState::kCancelled);
  EXPECT_EQ(JobRow(b).reason, "cancelled by carol");
  EXPECT_EQ(JobRow(a).state, JobState::kRunning);
  EXPECT_EQ(JobRow(a).cancel_reason, "cancelled by carol");  // survives a restart
  EXPECT_EQ(StageRow("build", 1, "compile")->state, StageState::kBuilding);

  Complete(a, "agent-x", JobState::kCancelled);
  Commit();
  EXPECT_EQ(StageRow("build", 1, "compile")->state, StageState::kCancelled);
  EXPECT_EQ(RunRow("build", 1)->state, RunState::kCancelled);
  EXPECT_FALSE(RunRow("deploy", 0).has_value());
  Effects again;
  auto twice = planner_->Cancel("build", 1, "compile", "carol", &again);
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(twice.status().message().find("is already cancelled"), std::string::npos)
      << twice.status();
}

// A run queued behind another has no jobs yet: its cancel ends it at once,
// and the run ahead of it is untouched.
TEST_F(PlannerDbTest, CancelOfAQueuedStageEndsItsRunAtOnce) {
  TriggerCommitted("build");
  TriggerCommitted("build");
  Effects effects;
  ASSERT_TRUE(planner_->Cancel("build", 2, "compile", "carol", &effects).ok());
  EXPECT_TRUE(effects.cancels.empty());
  Commit();
  EXPECT_EQ(StageRow("build", 2, "compile")->state, StageState::kCancelled);
  EXPECT_EQ(RunRow("build", 2)->state, RunState::kCancelled);
  EXPECT_EQ(StageRow("build", 1, "compile")->state, StageState::kBuilding);
}

// An agent's report counts only for the attempt it holds; a re-sent one is
// a duplicate to acknowledge, and nothing else changes the attempt.
TEST_F(PlannerDbTest, ReportsAreFencedToTheAttemptsAgent) {
  TriggerCommitted("build");
  int64_t a = Attempt("build", 1, "compile", "a");
  ASSERT_TRUE(planner_->Assign(a, "agent-x"));
  EXPECT_FALSE(planner_->Assign(a, "agent-y"));  // no longer scheduled
  Commit();

  Effects effects;
  EXPECT_EQ(*planner_->Start(a, "agent-y"), ReportOutcome::kRefused);
  EXPECT_EQ(*planner_->Console(a, "agent-y", 1, "x\n", 0), ReportOutcome::kRefused);
  EXPECT_EQ(*planner_->Complete(a, "agent-y", JobState::kPassed, "", &effects),
            ReportOutcome::kRefused);
  EXPECT_FALSE(model_.dirty());

  EXPECT_EQ(*planner_->Start(a, "agent-x"), ReportOutcome::kRecorded);
  EXPECT_EQ(*planner_->Start(a, "agent-x"), ReportOutcome::kDuplicate);
  EXPECT_EQ(*planner_->Complete(a, "agent-x", JobState::kPassed, "", &effects),
            ReportOutcome::kRecorded);
  Commit();
  EXPECT_EQ(*planner_->Complete(a, "agent-x", JobState::kPassed, "", &effects),
            ReportOutcome::kDuplicate);
  // The same attempt reported with another result is not a re-send.
  EXPECT_EQ(*planner_->Complete(a, "agent-x", JobState::kFailed, "", &effects),
            ReportOutcome::kRefused);
  EXPECT_FALSE(model_.dirty());
  auto row = JobRow(a);
  EXPECT_EQ(row.state, JobState::kPassed);
  EXPECT_EQ(row.agent_id, "agent-x");
  EXPECT_EQ(row.started_at, kNow);
  // An attempt that does not exist is nobody's.
  EXPECT_EQ(*planner_->Start(a + 1000, "agent-x"), ReportOutcome::kRefused);
}

// Chunks re-sent after a reconnect are stored once; past the limit the log
// ends with the marker on a line of its own, and later output is dropped.
TEST_F(PlannerDbTest, ConsoleDropsRepeatedChunksAndTruncatesOnALineOfItsOwn) {
  TriggerCommitted("build");
  int64_t a = Attempt("build", 1, "compile", "a");
  AssignAndStart(a, "agent-x");
  constexpr int64_t kMax = 10;
  EXPECT_EQ(*planner_->Console(a, "agent-x", 1, "hello\n", kMax), ReportOutcome::kRecorded);
  Commit();
  EXPECT_EQ(*planner_->Console(a, "agent-x", 1, "hello\n", kMax), ReportOutcome::kDuplicate);
  // 4 bytes fit ("wo\nr"): the partial line "r" is not kept.
  EXPECT_EQ(*planner_->Console(a, "agent-x", 2, "wo\nrld and more\n", kMax),
            ReportOutcome::kRecorded);
  // Acknowledged, so the agent does not re-send it, but not kept.
  EXPECT_EQ(*planner_->Console(a, "agent-x", 3, "dropped\n", kMax), ReportOutcome::kRecorded);
  Commit();

  auto log = Read<std::string>([&](store::Tx& tx) { return tx.ReadConsole(a, 0, 1 << 20).data; });
  EXPECT_EQ(log,
            "hello\nwo\n[gantry] console log truncated at 10 bytes: later output of this job "
            "is not kept\n");
  auto row = JobRow(a);
  EXPECT_TRUE(row.console_truncated);
  EXPECT_EQ(row.last_sequence, 3);
  EXPECT_EQ(row.console_bytes, static_cast<int64_t>(log.size()));
}

// on_agent_lost: fail (the default) ends the attempt lost and fails the
// stage; reschedule adds a new attempt, which decides the job's result.
TEST_F(PlannerDbTest, LostAttemptFailsOrIsRescheduledPerOnAgentLost) {
  TriggerCommitted("lossy");
  int64_t strict = Attempt("lossy", 1, "s", "strict");
  int64_t retry = Attempt("lossy", 1, "s", "retry");
  AssignAndStart(strict, "agent-x");
  AssignAndStart(retry, "agent-y");
  Commit();

  Effects effects;
  EXPECT_FALSE(*planner_->Lose(strict, "agent-y", "silent", &effects));  // not its attempt
  EXPECT_FALSE(model_.dirty());
  EXPECT_TRUE(*planner_->Lose(strict, "agent-x", "agent x silent", &effects));
  EXPECT_TRUE(effects.queued.empty());
  EXPECT_EQ(effects.released, std::vector<int64_t>{strict});
  Commit();
  EXPECT_EQ(JobRow(strict).state, JobState::kLost);
  EXPECT_EQ(JobRow(strict).reason, "agent x silent");
  EXPECT_EQ(StageRow("lossy", 1, "s")->state, StageState::kBuilding);  // retry still runs

  Effects rescheduled;
  EXPECT_TRUE(*planner_->Lose(retry, "agent-y", "agent y silent", &rescheduled));
  ASSERT_EQ(rescheduled.queued.size(), 1u);
  int64_t second = rescheduled.queued[0].job_run_id;
  EXPECT_NE(second, retry);
  Commit();
  EXPECT_EQ(JobRow(retry).state, JobState::kLost);
  auto again = JobRow(second);
  EXPECT_EQ(again.name, "retry");
  EXPECT_EQ(again.state, JobState::kScheduled);
  EXPECT_EQ(StageRow("lossy", 1, "s")->state, StageState::kBuilding);
  // The lost attempt stays fenced: its agent's late reports are refused.
  EXPECT_EQ(*planner_->Complete(retry, "agent-y", JobState::kPassed, "", &effects),
            ReportOutcome::kRefused);
  EXPECT_EQ(*planner_->Console(retry, "agent-y", 1, "late\n", 0), ReportOutcome::kRefused);
  EXPECT_FALSE(*planner_->Lose(retry, "agent-y", "again", &effects));

  AssignAndStart(second, "agent-z");
  Complete(second, "agent-z", JobState::kPassed);
  Commit();
  // strict was lost and never retried: the stage fails.
  EXPECT_EQ(StageRow("lossy", 1, "s")->state, StageState::kFailed);
  EXPECT_EQ(RunRow("lossy", 1)->state, RunState::kFailed);
}

// A cancel stands when the agent of the attempt being cancelled goes silent:
// nothing is rescheduled and the stage ends cancelled.
TEST_F(PlannerDbTest, LostWhileBeingCancelledEndsCancelled) {
  TriggerCommitted("lossy");
  int64_t strict = Attempt("lossy", 1, "s", "strict");
  int64_t retry = Attempt("lossy", 1, "s", "retry");
  AssignAndStart(strict, "agent-x");
  AssignAndStart(retry, "agent-y");
  Effects effects;
  ASSERT_TRUE(planner_->Cancel("lossy", 1, "s", "carol", &effects).ok());
  Commit();
  Effects lost;
  EXPECT_TRUE(*planner_->Lose(strict, "agent-x", "silent", &lost));
  EXPECT_TRUE(*planner_->Lose(retry, "agent-y", "silent", &lost));
  EXPECT_TRUE(lost.queued.empty());
  Commit();
  EXPECT_EQ(JobRow(retry).state, JobState::kCancelled);
  EXPECT_EQ(JobRow(retry).reason, "cancelled by carol (agent lost: silent)");
  EXPECT_EQ(StageRow("lossy", 1, "s")->state, StageState::kCancelled);
  EXPECT_EQ(RunRow("lossy", 1)->state, RunState::kCancelled);
}

// An agent that comes back without its attempt: one it never started goes
// back to the queue; one it was running fails, naming the agent.
TEST_F(PlannerDbTest, ReclaimRequeuesAssignedAndFailsRunningAttempts) {
  TriggerCommitted("build");
  int64_t a = Attempt("build", 1, "compile", "a");
  int64_t b = Attempt("build", 1, "compile", "b");
  ASSERT_TRUE(planner_->Assign(a, "agent-x"));
  AssignAndStart(b, "agent-y");
  Commit();

  Effects effects;
  ASSERT_TRUE(planner_->Reclaim(a, "agent-y", "y", &effects).ok());  // not y's: no change
  EXPECT_FALSE(model_.dirty());
  ASSERT_TRUE(planner_->Reclaim(a, "agent-x", "x", &effects).ok());
  ASSERT_EQ(effects.queued.size(), 1u);
  EXPECT_EQ(effects.queued[0].job_run_id, a);
  ASSERT_TRUE(planner_->Reclaim(b, "agent-y", "y", &effects).ok());
  Commit();
  auto requeued = JobRow(a);
  EXPECT_EQ(requeued.state, JobState::kScheduled);
  EXPECT_EQ(requeued.agent_id, "");
  EXPECT_EQ(requeued.assigned_at, 0);
  auto failed = JobRow(b);
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.reason, "agent y restarted and lost the job");
  EXPECT_EQ(StageRow("build", 1, "compile")->state, StageState::kBuilding);  // a runs again

  AssignAndStart(a, "agent-z");
  Complete(a, "agent-z", JobState::kPassed);
  Commit();
  EXPECT_EQ(StageRow("build", 1, "compile")->state, StageState::kFailed);
}

// A cancel asked of an agent that then comes back without the attempt has
// been done: the attempt ends cancelled instead of running again elsewhere
// (assigned) or failing (running).
TEST_F(PlannerDbTest, ReclaimOfAnAttemptBeingCancelledEndsItCancelled) {
  TriggerCommitted("build");
  int64_t a = Attempt("build", 1, "compile", "a");
  int64_t b = Attempt("build", 1, "compile", "b");
  ASSERT_TRUE(planner_->Assign(a, "agent-x"));
  AssignAndStart(b, "agent-y");
  Effects effects;
  ASSERT_TRUE(planner_->Cancel("build", 1, "compile", "carol", &effects).ok());
  EXPECT_EQ(effects.cancels.size(), 2u);
  Commit();

  Effects reclaimed;
  ASSERT_TRUE(planner_->Reclaim(a, "agent-x", "x", &reclaimed).ok());
  ASSERT_TRUE(planner_->Reclaim(b, "agent-y", "y", &reclaimed).ok());
  EXPECT_TRUE(reclaimed.queued.empty());
  Commit();
  EXPECT_EQ(JobRow(a).state, JobState::kCancelled);
  EXPECT_EQ(JobRow(a).reason, "cancelled by carol");
  EXPECT_EQ(JobRow(b).state, JobState::kCancelled);
  EXPECT_EQ(StageRow("build", 1, "compile")->state, StageState::kCancelled);
  EXPECT_EQ(RunRow("build", 1)->state, RunState::kCancelled);
}

// Memory holds only unfinished runs: a finished one is evicted after its
// commit and loaded again from the database when an operator approves a
// later manual stage of it (allowed after a failure unless the stage says
// allow_only_on_success).
TEST_F(PlannerDbTest, FinishedRunIsEvictedAndLoadedAgainForAnApproval) {
  TriggerCommitted("build");
  FinishCompile(1, JobState::kFailed);
  ASSERT_EQ(RunRow("build", 1)->state, RunState::kFailed);
  int64_t a = Attempt("build", 1, "compile", "a");
  model_.EvictFinished();
  EXPECT_TRUE(model_.runs().empty());
  EXPECT_EQ(model_.FindJob(a), nullptr);

  Effects approved;
  ASSERT_TRUE(planner_->Approve("build", 1, "approve-me", kBob, "", &approved).ok());
  ASSERT_EQ(approved.queued.size(), 1u);
  Commit();
  EXPECT_EQ(RunRow("build", 1)->state, RunState::kBuilding);
  EXPECT_EQ(RunRow("build", 1)->finished_at, 0);
  auto gate = StageRow("build", 1, "approve-me");
  ASSERT_TRUE(gate.has_value());
  EXPECT_EQ(gate->state, StageState::kBuilding);
  EXPECT_EQ(gate->approved_by, "bob");
  // The loaded run keeps its history: compile's attempts are all there.
  EXPECT_EQ(JobRows("build", 1, "compile").size(), 2u);
  // A re-sent completion of one of those attempts is still a duplicate.
  Effects late;
  EXPECT_EQ(*planner_->Complete(a, "agent-x", JobState::kFailed, "", &late),
            ReportOutcome::kDuplicate);

  // Still unfinished: not evicted.
  model_.EvictFinished();
  EXPECT_NE(model_.FindRun("build", 1), nullptr);
  int64_t c = Attempt("build", 1, "approve-me", "c");
  AssignAndStart(c, "agent-x");
  Complete(c, "agent-x", JobState::kPassed);
  Commit();
  // The run ends again once its last stage does.
  EXPECT_EQ(StageRow("build", 1, "approve-me")->state, StageState::kPassed);
  EXPECT_NE(RunRow("build", 1)->state, RunState::kBuilding);
  EXPECT_EQ(RunRow("build", 1)->finished_at, kNow);
}

// --- gates (approval.users, approval.roles, allow_only_on_success) and what
// an approval records.
class PlannerGateTest : public PlannerDbTest {
 protected:
  absl::StatusOr<int64_t> TriggerAs(const std::string& pipeline, const GateActor& who,
                                    std::vector<store::VariableRecord> variables = {}) {
    TriggerSpec spec;
    spec.pipeline = pipeline;
    spec.user = who.user;
    spec.roles = who.roles;
    spec.variables = std::move(variables);
    Effects effects;
    return planner_->Trigger(spec, &effects);
  }
  absl::Status ApproveAs(const std::string& locator_stage, int64_t counter, const GateActor& who,
                         const std::string& comment = "") {
    Effects effects;
    return planner_->Approve("release", counter, locator_stage, who, comment, &effects).status();
  }
  // Runs the only job of release/N's `stage` to `result`.
  void FinishStage(int64_t counter, const std::string& stage, const std::string& job,
                   JobState result) {
    int64_t attempt = Attempt("release", counter, stage, job);
    AssignAndStart(attempt, "agent-x");
    Complete(attempt, "agent-x", result);
    Commit();
  }
  // The approvals of the newest attempt of release/N's `stage`, from the
  // database.
  std::vector<store::StageApprovalRecord> Approvals(int64_t counter, const std::string& stage,
                                                    const std::string& pipeline = "release") {
    auto row = StageRow(pipeline, counter, stage);
    auto run = RunRow(pipeline, counter);
    if (!row || !run) return {};
    std::vector<store::StageApprovalRecord> out;
    for (auto& a : Read<std::vector<store::StageApprovalRecord>>(
             [&](store::Tx& tx) { return tx.ApprovalsOfRuns({run->id}); })) {
      if (a.stage_run_id == row->id) out.push_back(a);
    }
    return out;
  }

  const GateActor kLead{.user = "rel-lead", .roles = {}};
  const GateActor kReleaser{.user = "carol", .roles = {"releasers"}};
  const GateActor kProdOps{.user = "dave", .roles = {"prod-ops", "other"}};
};

// A manual trigger opens a manual first stage, so it passes that stage's
// gate: a caller neither listed nor in a listed role is refused with the
// stage and the approvers named, and nothing is written.
TEST_F(PlannerGateTest, TriggerOfAManualFirstStageChecksItsGate) {
  auto refused = TriggerAs("release", GateActor{.user = "mallory", .roles = {"prod-ops"}});
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  EXPECT_EQ(refused.status().message(),
            "user 'mallory' may not trigger release (a trigger opens its first stage ship): only "
            "users rel-lead; roles releasers may approve it");
  EXPECT_FALSE(model_.dirty());
  EXPECT_FALSE(RunRow("release", 0).has_value());

  ASSERT_TRUE(TriggerAs("release", kLead).ok());      // by name
  ASSERT_TRUE(TriggerAs("release", kReleaser).ok());  // by role
  Commit();
  EXPECT_EQ(StageRow("release", 1, "ship")->approved_by, "rel-lead");
  // The trigger was the approval: recorded like one.
  auto approvals = Approvals(2, "ship");
  ASSERT_EQ(approvals.size(), 1u);
  EXPECT_EQ(approvals[0].user, "carol");
  EXPECT_EQ(approvals[0].at, kNow);
  EXPECT_EQ(approvals[0].comment, "");
  // A stage without a gate records no approval.
  TriggerCommitted("build");
  auto build = RunRow("build", 1);
  EXPECT_TRUE(Read<std::vector<store::StageApprovalRecord>>([&](store::Tx& tx) {
                return tx.ApprovalsOfRuns({build->id});
              }).empty());
}

// A first stage that is not manual but names who may approve it is opened
// by a trigger too: the lists apply to a manual trigger (not to an upstream
// one, which no person asked for).
TEST_F(PlannerGateTest, TriggerChecksTheListsOfANonManualFirstStage) {
  auto refused = TriggerAs("guarded", GateActor{.user = "mallory", .roles = {}});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  EXPECT_FALSE(model_.dirty());
  ASSERT_TRUE(TriggerAs("guarded", kLead).ok());
  Commit();
  EXPECT_EQ(StageRow("guarded", 1, "first")->state, StageState::kBuilding);
  EXPECT_TRUE(Approvals(1, "first", "guarded").empty());  // no gate was opened
}

// A later stage's gate is checked on approval, by name or role; the
// approval records who, when and the comment, and survives a reload.
TEST_F(PlannerGateTest, ApprovalOfALaterStageChecksItsGateAndRecordsTheComment) {
  ASSERT_TRUE(TriggerAs("release", kLead).ok());
  Commit();
  FinishStage(1, "ship", "s", JobState::kPassed);
  ASSERT_EQ(RunRow("release", 1)->state, RunState::kAwaitingApproval);

  // rel-lead may open ship, not prod.
  absl::Status refused = ApproveAs("prod", 1, kLead, "please");
  ASSERT_EQ(refused.code(), absl::StatusCode::kPermissionDenied) << refused;
  EXPECT_EQ(refused.message(),
            "user 'rel-lead' may not approve stage release/1/prod: only roles prod-ops may "
            "approve it");
  EXPECT_FALSE(model_.dirty());

  ASSERT_TRUE(ApproveAs("prod", 1, kProdOps, "change 42: ship it").ok());
  Commit();
  auto approvals = Approvals(1, "prod");
  ASSERT_EQ(approvals.size(), 1u);
  EXPECT_EQ(approvals[0].user, "dave");
  EXPECT_EQ(approvals[0].at, kNow);
  EXPECT_EQ(approvals[0].comment, "change 42: ship it");
  EXPECT_EQ(StageRow("release", 1, "prod")->approved_by, "dave");

  // A reloaded model (a restart) has the approval in the run's rows.
  auto run = RunRow("release", 1);
  auto loaded =
      Read<std::vector<store::RunRows>>([&](store::Tx& tx) { return tx.LoadRuns({run->id}); });
  ASSERT_EQ(loaded.size(), 1u);
  ASSERT_EQ(loaded[0].approvals.size(), 2u);  // ship's (the trigger) and prod's
  EXPECT_EQ(loaded[0].approvals[1].comment, "change 42: ship it");
}

// allow_only_on_success: prod may be approved only after ship passed; a
// failed ship refuses it even for an approver (build's gate, without the
// flag, opens after a failure: FinishedRunIsEvictedAndLoadedAgainForAnApproval).
TEST_F(PlannerGateTest, AllowOnlyOnSuccessRefusesApprovalAfterAFailedStage) {
  ASSERT_TRUE(TriggerAs("release", kLead).ok());
  Commit();
  absl::Status early = ApproveAs("prod", 1, kProdOps);
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition) << early;
  EXPECT_EQ(early.message(), "cannot approve release/1/prod: previous stage ship is building");

  FinishStage(1, "ship", "s", JobState::kFailed);
  ASSERT_EQ(RunRow("release", 1)->state, RunState::kFailed);
  absl::Status refused = ApproveAs("prod", 1, kProdOps);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_EQ(refused.message(), "cannot approve release/1/prod: previous stage ship is failed");
  EXPECT_FALSE(model_.dirty());
  EXPECT_FALSE(StageRow("release", 1, "prod").has_value());
}

// A gate is the one of the run's own config revision: a later revision that
// lists someone else changes new runs only, and neither opens nor closes the
// gate of a run already waiting.
TEST_F(PlannerGateTest, GateOfTheRunsOwnRevisionApplies) {
  ASSERT_TRUE(TriggerAs("release", kLead).ok());
  Commit();
  FinishStage(1, "ship", "s", JobState::kPassed);

  auto parsed = config::ParseConfigOrError({{"p.yaml", kConfig}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  for (auto& p : parsed->pipelines) {
    if (p.name != "release") continue;
    p.stages[1].approval.users = {"bob"};
    p.stages[1].approval.roles = {};
  }
  auto next = std::make_shared<const config::Config>(std::move(*parsed));
  int64_t revision = Read<int64_t>([](store::Tx& tx) {
    return tx.InsertConfigRevision("t", "h2", "", {{"p.yaml", kConfig}});
  });
  configs_.Put(revision, next);
  configs_.SetCurrent(revision, next);

  // release/1 keeps its revision's gate: prod-ops, not bob.
  EXPECT_EQ(ApproveAs("prod", 1, kBob).code(), absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(ApproveAs("prod", 1, kProdOps).ok());
  Commit();

  // release/2 is created under the new revision: bob, not prod-ops.
  ASSERT_TRUE(TriggerAs("release", kLead).ok());
  Commit();
  FinishStage(2, "ship", "s", JobState::kPassed);
  EXPECT_EQ(ApproveAs("prod", 2, kProdOps).code(), absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(ApproveAs("prod", 2, kBob).ok());
  Commit();
  EXPECT_EQ(StageRow("release", 2, "prod")->approved_by, "bob");
}

// A comment is one line of at most 1000 bytes; anything else is refused
// before the gate is looked at.
TEST_F(PlannerGateTest, ApprovalCommentMustBeOneShortLine) {
  TriggerCommitted("build");
  FinishCompile(1, JobState::kPassed);
  Effects effects;
  for (const std::string& bad :
       {std::string("two\nlines"), std::string("esc\x1b[2J"), std::string(1001, 'x')}) {
    auto refused = planner_->Approve("build", 1, "approve-me", kBob, bad, &effects);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(model_.dirty());
  ASSERT_TRUE(
      planner_->Approve("build", 1, "approve-me", kBob, std::string(1000, 'x'), &effects).ok());
}

// A trigger-time value for a variable that is secure in the config is
// stored secure; other overrides stay as given.
TEST_F(PlannerGateTest, OverrideOfASecureVariableIsStoredSecure) {
  ASSERT_TRUE(TriggerAs("secrets", GateActor{.user = "alice", .roles = {}},
                        {{"DB_PASSWORD", "from-trigger", false},
                         {"PLAIN", "shown", false},
                         {"NEW", "given-secure", true}})
                  .ok());
  Commit();
  auto run = RunRow("secrets", 1);
  auto vars = Read<std::vector<store::VariableRecord>>(
      [&](store::Tx& tx) { return tx.RunVariables(run->id); });
  ASSERT_EQ(vars.size(), 3u);
  EXPECT_EQ(vars[0].name, "DB_PASSWORD");
  EXPECT_EQ(vars[0].value, "from-trigger");
  EXPECT_TRUE(vars[0].secure);
  EXPECT_EQ(vars[1].name, "PLAIN");
  EXPECT_FALSE(vars[1].secure);
  EXPECT_TRUE(vars[2].secure);
}

}  // namespace
}  // namespace gantry

// --- stage rerun (planner_rerun.cc)

namespace gantry {
namespace {

// A re-run is a new attempt of the stage in the same run (counter 2, all of
// its jobs again), and only that stage runs: the run ends when it passes
// rather than going on to the next stage.
TEST_F(PlannerDbTest, RerunIsANewAttemptOfOnlyThatStage) {
  int64_t n = TriggerCommitted("build");
  FinishCompile(n, JobState::kFailed);
  ASSERT_EQ(RunRow("build", n)->state, RunState::kFailed);

  Effects effects;
  auto rerun = planner_->Rerun("build", n, "compile", "bob", &effects);
  ASSERT_TRUE(rerun.ok()) << rerun.status();
  Commit();
  auto stage = StageRow("build", n, "compile");
  ASSERT_TRUE(stage.has_value());
  EXPECT_EQ(stage->counter, 2);
  EXPECT_EQ(stage->state, StageState::kBuilding);
  EXPECT_EQ(stage->approved_by, "bob");
  EXPECT_EQ(JobRows("build", n, "compile").size(), 2u);
  EXPECT_EQ(RunRow("build", n)->state, RunState::kBuilding);

  FinishCompile(n, JobState::kPassed);
  EXPECT_EQ(StageRow("build", n, "compile")->state, StageState::kPassed);
  EXPECT_EQ(RunRow("build", n)->state, RunState::kPassed);
  EXPECT_FALSE(StageRow("build", n, "approve-me").has_value());
}

// A re-run is refused, with the reason, while a stage of the run is still
// active, for a stage that never ran, and while the pipeline is paused.
TEST_F(PlannerDbTest, RerunRefusals) {
  int64_t n = TriggerCommitted("build");
  Effects effects;
  auto busy = planner_->Rerun("build", n, "compile", "bob", &effects);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(busy.status().message().find("is still building"), std::string::npos) << busy.status();

  FinishCompile(n, JobState::kPassed);
  auto never = planner_->Rerun("build", n, "approve-me", "bob", &effects);
  ASSERT_FALSE(never.ok());
  EXPECT_NE(never.status().message().find("never ran"), std::string::npos) << never.status();
  auto unknown = planner_->Rerun("build", n, "nope", "bob", &effects);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound) << unknown.status();

  ASSERT_TRUE(planner_->Pause("build", "carol", "freeze").ok());
  Commit();
  auto paused = planner_->Rerun("build", n, "compile", "bob", &effects);
  ASSERT_FALSE(paused.ok());
  EXPECT_NE(paused.status().message().find("paused"), std::string::npos) << paused.status();
  EXPECT_NE(paused.status().message().find("carol"), std::string::npos) << paused.status();
  EXPECT_EQ(StageRow("build", n, "compile")->counter, 1);
}

}  // namespace
}  // namespace gantry
