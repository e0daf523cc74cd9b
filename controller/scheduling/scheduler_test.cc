// The Scheduler on a real PostgreSQL, with a FakeClock and fake agent
// sessions: what agents are sent and what the database holds after
// registration, hellos, reports, operator calls, lost agents and failed
// commits. Time moves only through FakeClock::Advance; Scheduler::Sync waits
// for the strand, so nothing here sleeps.
#include "controller/scheduling/scheduler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "controller/embedded_pg/test_postgres.h"
#include "controller/scheduling/fake_agent_channel.h"
#include "controller/scheduling/fake_clock.h"
#include "controller/store/db.h"
#include "controller/store/tx.h"

namespace gantry {

// State names, not bytes, in failure messages (found by argument lookup).
void PrintTo(RunState s, std::ostream* os) { *os << Name(s); }
void PrintTo(StageState s, std::ostream* os) { *os << Name(s); }
void PrintTo(JobState s, std::ostream* os) { *os << Name(s); }

namespace {

const auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new TestPostgres("gantry-scheduler-test"));

// How long a test waits for the strand thread before failing.
constexpr auto kWait = std::chrono::seconds(30);
// Ticks come every second for this timeout (a quarter of it, at most 1 s).
constexpr absl::Duration kLostTimeout = absl::Seconds(4);
constexpr absl::Duration kTick = absl::Seconds(1);
constexpr char kRegisterKey[] = "register-key";
// Lets a test find the scheduler's own database session.
constexpr char kSchedulerApp[] = "gantry-scheduler-under-test";

constexpr char kConfig[] = R"(format_version: 10
pipelines:
  build:
    stages:
      - compile:
          jobs:
            a: {tasks: [{exec: {command: "true"}}]}
  retry:
    stages:
      - s:
          jobs:
            r: {on_agent_lost: reschedule, tasks: [{exec: {command: "true"}}]}
  fanout:
    stages:
      - everywhere:
          jobs:
            e: {run_instances: all, tasks: [{exec: {command: "true"}}]}
)";

using Kind = v1::ControllerMessage::KindCase;

using FakeChannel = FakeAgentChannel;

struct TestAgent {
  std::string id;
  std::string name;
  std::string token;
};

template <typename T>
absl::StatusOr<T> Get(std::future<absl::StatusOr<T>>& future) {
  if (future.wait_for(kWait) != std::future_status::ready) {
    return absl::DeadlineExceededError("no reply from the scheduler");
  }
  return future.get();
}

// A reply callback and the future it fulfils.
template <typename T>
std::pair<Reply<T>, std::future<absl::StatusOr<T>>> Replied() {
  auto promise = std::make_shared<std::promise<absl::StatusOr<T>>>();
  auto future = promise->get_future();
  return {[promise](absl::StatusOr<T> r) { promise->set_value(std::move(r)); }, std::move(future)};
}

// Keeps the strand busy until released, so that what a test hands the
// scheduler meanwhile is waiting together when the strand gets to it.
class StrandBlocker {
 public:
  explicit StrandBlocker(Scheduler& scheduler) {
    std::promise<void> entered;
    auto running = entered.get_future();
    scheduler.ListAgents([entered = std::make_shared<std::promise<void>>(std::move(entered)),
                          release = release_.get_future().share()](auto) {
      entered->set_value();
      release.wait();
    });
    EXPECT_EQ(running.wait_for(kWait), std::future_status::ready);
  }
  ~StrandBlocker() { Release(); }
  void Release() {
    if (released_) return;
    released_ = true;
    release_.set_value();
  }

 private:
  std::promise<void> release_;
  bool released_ = false;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = TestPostgres::FreshDatabase("sched_");
    auto db = store::Db::Connect(url_);
    ASSERT_TRUE(db.ok()) << db.status();
    reader_ = std::move(*db);
    ASSERT_TRUE(reader_->Migrate().ok());
  }
  void TearDown() override { scheduler_.reset(); }

  static SchedulerOptions Options() {
    SchedulerOptions options;
    options.register_key_hash = Sha256Hex(kRegisterKey);
    options.agent_lost_timeout = kLostTimeout;
    return options;
  }

  // Starts a scheduler on its own connection, serving, with kConfig applied.
  void StartScheduler(SchedulerOptions options = Options(),
                      absl::Duration retry_deadline = absl::Seconds(60)) {
    auto db = store::Db::Connect(url_ + " application_name=" + kSchedulerApp);
    ASSERT_TRUE(db.ok()) << db.status();
    (*db)->set_retry_deadline(retry_deadline);
    scheduler_ = std::make_unique<Scheduler>(std::move(*db), &configs_, options, &clock_);
    ASSERT_TRUE(scheduler_->Start().ok());
    scheduler_->Serving();
    v1::ConfigFile file;
    file.set_path("p.yaml");
    file.set_content(kConfig);
    auto [done, reply] = Replied<v1::ApplyConfigResponse>();
    scheduler_->ApplyConfig({file}, "test", done);
    auto applied = Get(reply);
    ASSERT_TRUE(applied.ok()) << applied.status();
    ASSERT_GT(applied->revision(), 0);
  }

  TestAgent Register(const std::string& name) {
    v1::RegisterRequest request;
    request.set_name(name);
    request.set_hostname(name);
    request.set_register_key(kRegisterKey);
    auto [done, reply] = Replied<v1::RegisterResponse>();
    scheduler_->Register(request, "ipv4:127.0.0.1:40000", done);
    auto registered = Get(reply);
    EXPECT_TRUE(registered.ok()) << registered.status();
    if (!registered.ok()) return {};
    EXPECT_EQ(registered->state(), "enabled");  // the register key enables it
    return {registered->agent_id(), name, registered->token()};
  }

  // A new session for `agent`, its hello listing `held`, handled.
  // `process` stands for the agent process (Hello.session_nonce).
  std::shared_ptr<FakeChannel> Connect(const TestAgent& agent,
                                       const std::vector<v1::HeldAttempt>& held = {},
                                       const std::string& process = "first") {
    auto channel = std::make_shared<FakeChannel>();
    v1::Hello hello;
    hello.set_agent_id(agent.id);
    hello.set_token(agent.token);
    hello.set_hostname(agent.name);
    hello.set_session_nonce(agent.name + "-" + process);
    for (const auto& h : held) *hello.add_held() = h;
    EXPECT_TRUE(scheduler_->AgentConnected(channel, hello));
    scheduler_->Sync();
    return channel;
  }
  static v1::HeldAttempt Held(int64_t attempt, bool finished) {
    v1::HeldAttempt h;
    h.set_attempt_id(attempt);
    h.set_finished(finished);
    return h;
  }

  std::future<absl::StatusOr<v1::PipelineRun>> TriggerAsync(const std::string& pipeline) {
    v1::TriggerPipelineRequest request;
    request.set_pipeline(pipeline);
    auto [done, reply] = Replied<v1::PipelineRun>();
    scheduler_->Trigger(request, Principal{.user = "alice"}, done);
    return std::move(reply);
  }
  absl::StatusOr<v1::PipelineRun> Trigger(const std::string& pipeline) {
    auto reply = TriggerAsync(pipeline);
    auto run = Get(reply);
    // Assignments go out after the trigger's reply.
    scheduler_->Sync();
    return run;
  }
  std::future<absl::StatusOr<v1::PipelineRun>> CancelAsync(const std::string& pipeline,
                                                           int64_t counter,
                                                           const std::string& stage) {
    v1::StageRequest request;
    request.set_pipeline(pipeline);
    request.set_counter(counter);
    request.set_stage(stage);
    auto [done, reply] = Replied<v1::PipelineRun>();
    scheduler_->CancelStage(request, Principal{.user = "carol"}, done);
    return std::move(reply);
  }
  v1::Agent AgentView(const TestAgent& agent) {
    auto [done, reply] = Replied<v1::ListAgentsResponse>();
    scheduler_->ListAgents(done);
    auto list = Get(reply);
    EXPECT_TRUE(list.ok()) << list.status();
    if (list.ok()) {
      for (const auto& a : list->agents()) {
        if (a.id() == agent.id) return a;
      }
    }
    ADD_FAILURE() << "no agent " << agent.name;
    return {};
  }

  // --- agent reports, handled before returning
  void Report(const std::shared_ptr<FakeChannel>& channel, const v1::AgentMessage& m) {
    scheduler_->AgentMessage(channel, m);
    scheduler_->Sync();
  }
  static v1::AgentMessage Started(int64_t attempt) {
    v1::AgentMessage m;
    m.mutable_job_started()->set_attempt_id(attempt);
    return m;
  }
  static v1::AgentMessage Completed(int64_t attempt, const std::string& result) {
    v1::AgentMessage m;
    m.mutable_job_completed()->set_attempt_id(attempt);
    m.mutable_job_completed()->set_result(result);
    return m;
  }
  static v1::AgentMessage Console(int64_t attempt, int64_t sequence, const std::string& data) {
    v1::AgentMessage m;
    m.mutable_console()->set_attempt_id(attempt);
    m.mutable_console()->set_sequence(sequence);
    m.mutable_console()->set_data(data);
    return m;
  }
  static v1::AgentMessage Heartbeat() {
    v1::AgentMessage m;
    m.mutable_heartbeat();
    return m;
  }
  // The attempt of the last Assign `channel` got (0 if none).
  static int64_t Assigned(const FakeChannel& channel) {
    auto assigns = channel.Sent(Kind::kAssign);
    return assigns.empty() ? 0 : assigns.back().assign().attempt_id();
  }

  // --- the database, read on the test's own connection
  template <typename T>
  T Read(const std::function<T(store::Tx&)>& fn) {
    T out{};
    absl::Status st = reader_->Run("read", [&](store::Tx& tx) {
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
  std::optional<store::StageRunRecord> StageRow(const std::string& pipeline, int64_t counter) {
    return Read<std::optional<store::StageRunRecord>>(
        [&](store::Tx& tx) -> std::optional<store::StageRunRecord> {
          auto run = tx.FindPipelineRun(pipeline, counter);
          if (!run) return std::nullopt;
          auto stages = tx.StageRuns(run->id);
          if (stages.empty()) return std::nullopt;
          return stages.back();
        });
  }
  // Every attempt of the first stage's jobs, oldest first.
  std::vector<store::JobRunRecord> JobRows(const std::string& pipeline, int64_t counter) {
    auto stage = StageRow(pipeline, counter);
    if (!stage) return {};
    return Read<std::vector<store::JobRunRecord>>(
        [&](store::Tx& tx) { return tx.JobRunsOfStage(stage->id); });
  }
  store::JobRunRecord JobRow(int64_t attempt) {
    auto job = Read<std::optional<store::JobRunRecord>>(
        [&](store::Tx& tx) { return tx.GetJobRun(attempt, false); });
    EXPECT_TRUE(job.has_value()) << "attempt " << attempt;
    return job.value_or(store::JobRunRecord{});
  }

  // Ends the scheduler's database session from outside, as a server restart
  // or a network cut would; returns once it is gone.
  void KillSchedulerConnection() {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    auto killed = tx.exec_params(
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
        "WHERE application_name = $1",
        std::string(kSchedulerApp));
    ASSERT_EQ(killed.size(), 1u);
    ASSERT_TRUE(killed[0][0].as<bool>());
  }

  std::string url_;
  std::unique_ptr<store::Db> reader_;
  FakeClock clock_;
  ConfigCache configs_;
  std::unique_ptr<Scheduler> scheduler_;
};

// The whole path once: register, hello, config, trigger, assign, reports.
TEST_F(SchedulerTest, TriggeredJobIsAssignedToTheConnectedAgentAndCompletes) {
  StartScheduler();
  TestAgent agent = Register("a1");
  auto agents = Read<std::vector<store::AgentRecord>>([](store::Tx& tx) { return tx.Agents(); });
  ASSERT_EQ(agents.size(), 1u);
  EXPECT_EQ(agents[0].id, agent.id);
  EXPECT_EQ(agents[0].token_hash, Sha256Hex(agent.token));

  auto channel = Connect(agent);
  ASSERT_EQ(channel->Sent(Kind::kWelcome).size(), 1u);
  EXPECT_EQ(channel->Sent(Kind::kWelcome)[0].welcome().state(), "enabled");

  auto run = Trigger("build");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->counter(), 1);
  auto assigns = channel->Sent(Kind::kAssign);
  ASSERT_EQ(assigns.size(), 1u);
  const v1::Assign& assign = assigns[0].assign();
  EXPECT_EQ(assign.pipeline(), "build");
  EXPECT_EQ(assign.pipeline_counter(), 1);
  EXPECT_EQ(assign.stage(), "compile");
  EXPECT_EQ(assign.job(), "a");
  EXPECT_EQ(assign.tasks_size(), 1);
  int64_t attempt = assign.attempt_id();
  store::JobRunRecord job = JobRow(attempt);
  EXPECT_EQ(job.state, JobState::kAssigned);
  EXPECT_EQ(job.agent_id, agent.id);

  Report(channel, Started(attempt));
  EXPECT_EQ(JobRow(attempt).state, JobState::kRunning);
  Report(channel, Console(attempt, 1, "hi\n"));
  Report(channel, Completed(attempt, "passed"));
  ASSERT_EQ(channel->Sent(Kind::kConsoleAck).size(), 1u);
  ASSERT_EQ(channel->Sent(Kind::kCompletionAck).size(), 1u);
  EXPECT_EQ(channel->Sent(Kind::kCompletionAck)[0].completion_ack().attempt_id(), attempt);
  EXPECT_EQ(JobRow(attempt).state, JobState::kPassed);
  EXPECT_EQ(RunRow("build", 1)->state, RunState::kPassed);
  EXPECT_EQ(Read<std::string>([&](store::Tx& tx) { return tx.ReadConsole(attempt, 0, 100).data; }),
            "hi\n");
  EXPECT_EQ(AgentView(agent).status(), "idle");
}

// Silence of exactly the timeout is not yet loss; one tick later it is, and
// the job it held fails (on_agent_lost: fail, the default).
TEST_F(SchedulerTest, AgentIsLostOneTickAfterExactlyTheTimeout) {
  StartScheduler();
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);
  ASSERT_TRUE(Trigger("build").ok());
  int64_t attempt = Assigned(*channel);
  ASSERT_NE(attempt, 0);
  Report(channel, Started(attempt));

  clock_.Advance(kLostTimeout);
  scheduler_->Sync();
  EXPECT_EQ(JobRow(attempt).state, JobState::kRunning);
  EXPECT_TRUE(channel->closes().empty());

  clock_.Advance(kTick);
  scheduler_->Sync();
  store::JobRunRecord job = JobRow(attempt);
  EXPECT_EQ(job.state, JobState::kLost);
  EXPECT_EQ(job.reason, "agent a1 silent for 5s");
  EXPECT_EQ(StageRow("build", 1)->state, StageState::kFailed);
  EXPECT_EQ(RunRow("build", 1)->state, RunState::kFailed);
  ASSERT_EQ(channel->closes().size(), 1u);
  EXPECT_EQ(channel->closes()[0].code(), absl::StatusCode::kUnavailable);
}

// on_agent_lost: reschedule: the lost attempt gets a successor, which goes
// to an agent that kept in touch, in the same batch.
TEST_F(SchedulerTest, LostAgentsRescheduledJobGoesToAnotherAgent) {
  StartScheduler();
  TestAgent silent = Register("a1");
  TestAgent alive = Register("a2");
  auto silent_channel = Connect(silent);
  ASSERT_TRUE(Trigger("retry").ok());
  int64_t first = Assigned(*silent_channel);
  ASSERT_NE(first, 0);
  auto alive_channel = Connect(alive);
  EXPECT_EQ(Assigned(*alive_channel), 0);

  clock_.Advance(kLostTimeout);
  Report(alive_channel, Heartbeat());
  clock_.Advance(kTick);
  scheduler_->Sync();
  EXPECT_EQ(JobRow(first).state, JobState::kLost);
  int64_t second = Assigned(*alive_channel);
  ASSERT_NE(second, 0);
  EXPECT_NE(second, first);
  store::JobRunRecord job = JobRow(second);
  EXPECT_EQ(job.name, "r");
  EXPECT_EQ(job.state, JobState::kAssigned);
  EXPECT_EQ(job.agent_id, alive.id);
  EXPECT_EQ(StageRow("retry", 1)->state, StageState::kBuilding);
  EXPECT_TRUE(alive_channel->closes().empty());
}

// After its agent was lost, what that agent says about the attempt changes
// nothing: on the closed session it is ignored, on a new session it is told
// to abandon the attempt.
TEST_F(SchedulerTest, LateReportsOfALostAttemptAreAbandonedAndChangeNothing) {
  StartScheduler();
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);
  ASSERT_TRUE(Trigger("build").ok());
  int64_t attempt = Assigned(*channel);
  ASSERT_NE(attempt, 0);
  Report(channel, Started(attempt));
  clock_.Advance(kLostTimeout + kTick);
  scheduler_->Sync();
  ASSERT_EQ(JobRow(attempt).state, JobState::kLost);
  size_t sent_before = channel->Kinds().size();

  Report(channel, Console(attempt, 1, "late\n"));
  Report(channel, Completed(attempt, "passed"));
  EXPECT_EQ(channel->Kinds().size(), sent_before);  // a closed session hears nothing

  auto again = Connect(agent, {Held(attempt, /*finished=*/true)});
  Report(again, Console(attempt, 1, "late\n"));
  Report(again, Completed(attempt, "passed"));
  auto abandons = again->Sent(Kind::kAbandon);
  ASSERT_EQ(abandons.size(), 2u);
  for (const auto& m : abandons) EXPECT_EQ(m.abandon().attempt_id(), attempt);
  EXPECT_TRUE(again->Sent(Kind::kCompletionAck).empty());
  EXPECT_TRUE(again->Sent(Kind::kConsoleAck).empty());

  store::JobRunRecord job = JobRow(attempt);
  EXPECT_EQ(job.state, JobState::kLost);
  EXPECT_EQ(job.console_bytes, 0);
  EXPECT_EQ(Read<std::string>([&](store::Tx& tx) { return tx.ReadConsole(attempt, 0, 100).data; }),
            "");
  EXPECT_EQ(StageRow("build", 1)->state, StageState::kFailed);
}

// A reconnect whose hello lists the attempt it holds keeps it; attempts it
// lists that are not its own are abandoned.
TEST_F(SchedulerTest, ReconnectListingItsAttemptKeepsIt) {
  StartScheduler();
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);
  ASSERT_TRUE(Trigger("build").ok());
  int64_t attempt = Assigned(*channel);
  ASSERT_NE(attempt, 0);
  Report(channel, Started(attempt));
  scheduler_->AgentDisconnected(channel);

  constexpr int64_t kStranger = 987654;
  auto again = Connect(agent, {Held(attempt, false), Held(kStranger, false)});
  auto abandons = again->Sent(Kind::kAbandon);
  ASSERT_EQ(abandons.size(), 1u);
  EXPECT_EQ(abandons[0].abandon().attempt_id(), kStranger);
  EXPECT_TRUE(again->Sent(Kind::kAssign).empty());
  EXPECT_EQ(JobRow(attempt).state, JobState::kRunning);
  EXPECT_EQ(AgentView(agent).status(), "building");

  Report(again, Completed(attempt, "passed"));
  EXPECT_EQ(again->Sent(Kind::kCompletionAck).size(), 1u);
  EXPECT_EQ(JobRow(attempt).state, JobState::kPassed);
}

// A hello without the attempt it was assigned but never started: the
// attempt goes back to the queue (here to the same agent, the only one).
TEST_F(SchedulerTest, ReconnectWithoutAnAssignedAttemptRequeuesIt) {
  StartScheduler();
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);
  ASSERT_TRUE(Trigger("build").ok());
  int64_t attempt = Assigned(*channel);
  ASSERT_NE(attempt, 0);
  scheduler_->AgentDisconnected(channel);

  auto again = Connect(agent);
  EXPECT_TRUE(again->Sent(Kind::kAbandon).empty());
  // The same attempt, not a new one: it never ran.
  EXPECT_EQ(Assigned(*again), attempt);
  EXPECT_EQ(JobRows("build", 1).size(), 1u);
  EXPECT_EQ(JobRow(attempt).state, JobState::kAssigned);
}

// A hello naming the assigned attempt as interrupted (an earlier process
// of the agent took it and was killed; its JobStarted never arrived): it
// may have run, so it ends lost and fails, and is not handed out again.
TEST_F(SchedulerTest, ReconnectWithAnInterruptedAssignedAttemptFailsIt) {
  StartScheduler();
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);
  ASSERT_TRUE(Trigger("build").ok());
  int64_t attempt = Assigned(*channel);
  ASSERT_NE(attempt, 0);
  scheduler_->AgentDisconnected(channel);

  v1::HeldAttempt held;
  held.set_attempt_id(attempt);
  held.set_interrupted(true);
  auto again = Connect(agent, {held}, "second");
  EXPECT_TRUE(again->Sent(Kind::kAssign).empty());
  EXPECT_TRUE(again->Sent(Kind::kAbandon).empty());
  store::JobRunRecord job = JobRow(attempt);
  EXPECT_EQ(job.state, JobState::kLost);
  EXPECT_EQ(job.reason, "the agent restarted while holding it (it may have run)");
  EXPECT_EQ(JobRows("build", 1).size(), 1u);
  EXPECT_EQ(StageRow("build", 1)->state, StageState::kFailed);
  EXPECT_EQ(AgentView(agent).status(), "idle");
}

// A hello without the attempt it was running: the work is gone, the
// attempt fails naming the agent, and nothing is handed out again.
TEST_F(SchedulerTest, ReconnectWithoutARunningAttemptFailsIt) {
  StartScheduler();
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);
  ASSERT_TRUE(Trigger("build").ok());
  int64_t attempt = Assigned(*channel);
  ASSERT_NE(attempt, 0);
  Report(channel, Started(attempt));
  scheduler_->AgentDisconnected(channel);

  auto again = Connect(agent);
  EXPECT_TRUE(again->Sent(Kind::kAssign).empty());
  store::JobRunRecord job = JobRow(attempt);
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.reason, "agent a1 restarted and lost the job");
  EXPECT_EQ(StageRow("build", 1)->state, StageState::kFailed);
  EXPECT_EQ(AgentView(agent).status(), "idle");
}

// Triggers waiting together are planned in one batch: one that is refused
// gets its own error and the others their runs.
TEST_F(SchedulerTest, RefusedTriggerInABatchDoesNotFailTheOthers) {
  StartScheduler();
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);
  std::future<absl::StatusOr<v1::PipelineRun>> first, missing, second;
  {
    StrandBlocker blocker(*scheduler_);
    first = TriggerAsync("build");
    missing = TriggerAsync("nope");
    second = TriggerAsync("build");
  }
  scheduler_->Sync();
  auto r1 = Get(first);
  auto r2 = Get(missing);
  auto r3 = Get(second);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kNotFound) << r2.status();
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_EQ(r1->counter(), 1);
  EXPECT_EQ(r3->counter(), 2);
  EXPECT_TRUE(RunRow("build", 1).has_value());
  EXPECT_TRUE(RunRow("build", 2).has_value());
  EXPECT_FALSE(RunRow("build", 3).has_value());
  EXPECT_FALSE(RunRow("nope", 0).has_value());
  // build/2 waits behind build/1, whose job went to the agent.
  EXPECT_EQ(channel->Sent(Kind::kAssign).size(), 1u);
  EXPECT_EQ(StageRow("build", 2)->state, StageState::kQueued);
}

// A batch whose commit fails leaves memory as the database has it (reloaded)
// and closes the session whose report was not stored; the agent's re-sent
// report then counts.
TEST_F(SchedulerTest, FailedCommitReloadsMemoryAndClosesTheReportingSession) {
  // No retry on a lost connection: the commit fails instead of reconnecting.
  StartScheduler(Options(), absl::ZeroDuration());
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);
  ASSERT_TRUE(Trigger("build").ok());
  int64_t attempt = Assigned(*channel);
  ASSERT_NE(attempt, 0);
  Report(channel, Started(attempt));

  KillSchedulerConnection();
  Report(channel, Completed(attempt, "passed"));
  EXPECT_TRUE(channel->Sent(Kind::kCompletionAck).empty());
  ASSERT_EQ(channel->closes().size(), 1u);
  EXPECT_EQ(channel->closes()[0].code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(channel->closes()[0].message(), "report not stored"))
      << channel->closes()[0];
  EXPECT_EQ(JobRow(attempt).state, JobState::kRunning);
  EXPECT_EQ(RunRow("build", 1)->state, RunState::kBuilding);
  // Memory says what the database says: the agent still holds the attempt.
  v1::Agent view = AgentView(agent);
  EXPECT_EQ(view.status(), "building");
  EXPECT_EQ(view.building(), "build/1/compile/1/a");

  scheduler_->AgentDisconnected(channel);
  auto again = Connect(agent, {Held(attempt, /*finished=*/true)});
  Report(again, Completed(attempt, "passed"));
  EXPECT_EQ(again->Sent(Kind::kCompletionAck).size(), 1u);
  EXPECT_EQ(JobRow(attempt).state, JobState::kPassed);
  EXPECT_EQ(RunRow("build", 1)->state, RunState::kPassed);
}

// A trigger whose batch does not commit is answered with the error, and
// its counter is not used up: memory's counters are reloaded too.
TEST_F(SchedulerTest, FailedTriggerCommitIsReportedAndItsCounterReused) {
  StartScheduler(Options(), absl::ZeroDuration());
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);  // a batch, so ids are in reserve
  KillSchedulerConnection();
  auto failed = Trigger("build");
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
  EXPECT_FALSE(RunRow("build", 0).has_value());
  EXPECT_TRUE(channel->Sent(Kind::kAssign).empty());

  auto run = Trigger("build");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->counter(), 1);
  EXPECT_EQ(RunRow("build", 0)->counter, 1);
  EXPECT_EQ(channel->Sent(Kind::kAssign).size(), 1u);
}

// The cancel comes right after the batch that assigned the job: the agent
// gets the Assign and then a Cancel, and the job ends cancelled when it
// reports so.
TEST_F(SchedulerTest, CancelRightAfterTheAssignmentSendsACancel) {
  StartScheduler();
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);
  std::future<absl::StatusOr<v1::PipelineRun>> triggered, cancelled;
  {
    StrandBlocker blocker(*scheduler_);
    triggered = TriggerAsync("build");
    cancelled = CancelAsync("build", 1, "compile");
  }
  ASSERT_TRUE(Get(triggered).ok());
  auto cancel = Get(cancelled);
  ASSERT_TRUE(cancel.ok()) << cancel.status();
  scheduler_->Sync();
  int64_t attempt = Assigned(*channel);
  ASSERT_NE(attempt, 0);
  std::vector<Kind> kinds = channel->Kinds();
  EXPECT_EQ(kinds, (std::vector<Kind>{Kind::kWelcome, Kind::kAssign, Kind::kCancel}));
  auto cancels = channel->Sent(Kind::kCancel);
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels[0].cancel().attempt_id(), attempt);
  EXPECT_EQ(cancels[0].cancel().reason(), "cancelled by carol");
  EXPECT_EQ(StageRow("build", 1)->state, StageState::kBuilding);  // until the agent stops

  Report(channel, Completed(attempt, "cancelled"));
  EXPECT_EQ(JobRow(attempt).state, JobState::kCancelled);
  EXPECT_EQ(StageRow("build", 1)->state, StageState::kCancelled);
  EXPECT_EQ(RunRow("build", 1)->state, RunState::kCancelled);
}

// The cancel comes just before the batch that would assign the job: the
// agent is told nothing about it.
TEST_F(SchedulerTest, CancelRightBeforeTheAssignmentSendsNothing) {
  StartScheduler();
  TestAgent agent = Register("a1");
  ASSERT_TRUE(Trigger("build").ok());  // no agent connected yet: it waits
  auto channel = std::make_shared<FakeChannel>();
  std::future<absl::StatusOr<v1::PipelineRun>> cancelled;
  {
    StrandBlocker blocker(*scheduler_);
    cancelled = CancelAsync("build", 1, "compile");
    v1::Hello hello;
    hello.set_agent_id(agent.id);
    hello.set_token(agent.token);
    hello.set_hostname(agent.name);
    scheduler_->AgentConnected(channel, hello);
  }
  ASSERT_TRUE(Get(cancelled).ok());
  scheduler_->Sync();
  EXPECT_EQ(channel->Kinds(), std::vector<Kind>{Kind::kWelcome});
  auto jobs = JobRows("build", 1);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state, JobState::kCancelled);
  EXPECT_EQ(StageRow("build", 1)->state, StageState::kCancelled);
  EXPECT_EQ(RunRow("build", 1)->state, RunState::kCancelled);
  EXPECT_EQ(AgentView(agent).status(), "idle");
}

// A cancel made while the agent was away reaches it in its next session if
// it still holds the attempt...
TEST_F(SchedulerTest, CancelMadeWhileTheAgentWasAwayIsSentOnReconnect) {
  StartScheduler();
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);
  ASSERT_TRUE(Trigger("build").ok());
  int64_t attempt = Assigned(*channel);
  ASSERT_NE(attempt, 0);
  Report(channel, Started(attempt));
  scheduler_->AgentDisconnected(channel);
  auto cancelled = CancelAsync("build", 1, "compile");
  ASSERT_TRUE(Get(cancelled).ok());
  EXPECT_TRUE(channel->Sent(Kind::kCancel).empty());

  auto again = Connect(agent, {Held(attempt, false)});
  auto cancels = again->Sent(Kind::kCancel);
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels[0].cancel().attempt_id(), attempt);
  Report(again, Completed(attempt, "cancelled"));
  EXPECT_EQ(StageRow("build", 1)->state, StageState::kCancelled);
}

// ...and if it comes back without the attempt, the cancel has happened: the
// attempt ends cancelled instead of going back to the queue.
TEST_F(SchedulerTest, CancelledAttemptIsNotHandedOutAgainWhenItsAgentComesBackWithoutIt) {
  StartScheduler();
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);
  ASSERT_TRUE(Trigger("build").ok());
  int64_t attempt = Assigned(*channel);
  ASSERT_NE(attempt, 0);
  scheduler_->AgentDisconnected(channel);
  auto cancelled = CancelAsync("build", 1, "compile");
  ASSERT_TRUE(Get(cancelled).ok());

  auto again = Connect(agent);
  EXPECT_TRUE(again->Sent(Kind::kAssign).empty());
  EXPECT_EQ(JobRow(attempt).state, JobState::kCancelled);
  EXPECT_EQ(JobRow(attempt).reason, "cancelled by carol");
  EXPECT_EQ(StageRow("build", 1)->state, StageState::kCancelled);
  EXPECT_EQ(RunRow("build", 1)->state, RunState::kCancelled);
}

// run_instances: all pins a copy to each enabled agent; the copy of an
// agent that never connects fails, naming it, once that agent has been
// offline for longer than the lost-agent timeout, so the stage ends.
TEST_F(SchedulerTest, PinnedCopyOfAnAgentThatNeverComesFailsAndTheStageSettles) {
  StartScheduler();
  TestAgent here = Register("a1");
  TestAgent away = Register("a2");
  auto channel = Connect(here);
  ASSERT_TRUE(Trigger("fanout").ok());
  int64_t mine = Assigned(*channel);
  ASSERT_NE(mine, 0);
  auto jobs = JobRows("fanout", 1);
  ASSERT_EQ(jobs.size(), 2u);
  int64_t theirs = jobs[0].id == mine ? jobs[1].id : jobs[0].id;
  EXPECT_EQ(JobRow(theirs).pinned_agent, away.id);
  Report(channel, Started(mine));
  Report(channel, Completed(mine, "passed"));
  EXPECT_EQ(StageRow("fanout", 1)->state, StageState::kBuilding);

  clock_.Advance(kLostTimeout);
  Report(channel, Heartbeat());
  store::JobRunRecord waiting = JobRow(theirs);
  EXPECT_EQ(waiting.state, JobState::kScheduled);
  EXPECT_EQ(waiting.reason, "waiting: its agent a2 is offline");

  clock_.Advance(kTick);
  scheduler_->Sync();
  store::JobRunRecord failed = JobRow(theirs);
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.reason, "run_instances: all, but its agent a2 did not come back within 4s");
  EXPECT_EQ(StageRow("fanout", 1)->state, StageState::kFailed);
  EXPECT_EQ(RunRow("fanout", 1)->state, RunState::kFailed);
  EXPECT_TRUE(channel->closes().empty());
}

// A copy pinned to an agent that stays connected but is disabled cannot run
// either: it fails the same way, after the same grace.
TEST_F(SchedulerTest, PinnedCopyOfADisabledAgentFailsAfterTheGrace) {
  StartScheduler();
  TestAgent here = Register("a1");
  TestAgent other = Register("a2");
  auto channel = Connect(here);
  auto other_channel = Connect(other);
  ASSERT_TRUE(Trigger("fanout").ok());
  int64_t mine = Assigned(*channel);
  int64_t theirs = Assigned(*other_channel);
  ASSERT_NE(mine, 0);
  ASSERT_NE(theirs, 0);
  Report(channel, Started(mine));
  Report(channel, Completed(mine, "passed"));
  // a2 gives its copy back (it restarted without it), then is disabled.
  v1::UpdateAgentRequest disable;
  disable.set_agent(other.id);
  disable.set_action("disable");
  std::promise<absl::StatusOr<v1::Agent>> updated;
  scheduler_->UpdateAgent(disable, [&](absl::StatusOr<v1::Agent> a) { updated.set_value(a); });
  ASSERT_TRUE(updated.get_future().get().ok());
  auto again = Connect(other);
  EXPECT_EQ(JobRow(theirs).state, JobState::kScheduled);

  clock_.Advance(kLostTimeout);
  Report(channel, Heartbeat());
  Report(again, Heartbeat());
  EXPECT_EQ(JobRow(theirs).state, JobState::kScheduled);
  clock_.Advance(kTick);
  scheduler_->Sync();
  store::JobRunRecord failed = JobRow(theirs);
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.reason, "run_instances: all, but its agent a2 stayed disabled for 4s");
  EXPECT_EQ(StageRow("fanout", 1)->state, StageState::kFailed);
}

// Past max_inbox_bytes a session is told to stop reading; what it sent is
// still handled, and it reads again once the strand has drained the inbox.
TEST_F(SchedulerTest, FullInboxPausesTheSessionUntilTheStrandDrainsIt) {
  SchedulerOptions options = Options();
  // The hello, a report or a trigger fits; two chunks do not.
  options.max_inbox_bytes = 1024;
  StartScheduler(options);
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);
  ASSERT_TRUE(Trigger("build").ok());
  int64_t attempt = Assigned(*channel);
  ASSERT_NE(attempt, 0);
  Report(channel, Started(attempt));
  std::string big(600, 'x');
  big.back() = '\n';
  v1::AgentMessage one = Console(attempt, 1, big);
  v1::AgentMessage two = Console(attempt, 2, big);
  ASSERT_LE(one.ByteSizeLong(), options.max_inbox_bytes);
  ASSERT_GT(one.ByteSizeLong() + two.ByteSizeLong(), options.max_inbox_bytes);

  {
    StrandBlocker blocker(*scheduler_);
    EXPECT_TRUE(scheduler_->AgentMessage(channel, one));
    EXPECT_FALSE(scheduler_->AgentMessage(channel, two));
    EXPECT_EQ(channel->resumes(), 0);
  }
  scheduler_->Sync();
  EXPECT_EQ(channel->resumes(), 1);
  auto acks = channel->Sent(Kind::kConsoleAck);
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[1].console_ack().sequence(), 2);
  EXPECT_EQ(JobRow(attempt).console_bytes, 2 * static_cast<int64_t>(big.size()));
  // Drained: it takes input again.
  EXPECT_TRUE(scheduler_->AgentMessage(channel, Heartbeat()));
  scheduler_->Sync();
  EXPECT_EQ(channel->resumes(), 1);
}

// --- agent admission: one process per agent identity.

// A second process with the agent's identity (a copied agent.json) is refused
// while the first is connected: the first keeps its session and its job, and
// what the second reports is ignored.
TEST_F(SchedulerTest, ASecondProcessWithTheSameIdentityIsRefused) {
  StartScheduler();
  TestAgent agent = Register("a1");
  auto first = Connect(agent);
  ASSERT_TRUE(Trigger("build").ok());
  int64_t attempt = Assigned(*first);
  ASSERT_NE(attempt, 0);
  Report(first, Started(attempt));

  auto clone = Connect(agent, {}, "clone");
  ASSERT_EQ(clone->closes().size(), 1u);
  EXPECT_EQ(clone->closes()[0].code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(absl::StrContains(clone->closes()[0].message(), "is already connected"))
      << clone->closes()[0];
  EXPECT_TRUE(clone->Sent(Kind::kWelcome).empty());
  EXPECT_TRUE(first->closes().empty());
  Report(clone, Completed(attempt, "failed"));
  EXPECT_EQ(JobRow(attempt).state, JobState::kRunning);

  Report(first, Completed(attempt, "passed"));
  EXPECT_EQ(JobRow(attempt).state, JobState::kPassed);
  EXPECT_EQ(AgentView(agent).status(), "idle");
}

// The same process reconnecting (its old stream not yet noticed dead)
// replaces its own session.
TEST_F(SchedulerTest, TheSameProcessReplacesItsStaleSession) {
  StartScheduler();
  TestAgent agent = Register("a1");
  auto stale = Connect(agent);
  auto fresh = Connect(agent);
  ASSERT_EQ(stale->closes().size(), 1u);
  EXPECT_EQ(stale->closes()[0].code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(fresh->closes().empty());
  EXPECT_EQ(fresh->Sent(Kind::kWelcome).size(), 1u);
}

// --- gates, approvals and trigger variables through the operator calls.
constexpr char kGatedPipelines[] = R"(
  gated:
    secure_variables: {DB_PASSWORD: from-config}
    stages:
      - first:
          approval: {type: manual, users: [alice]}
          jobs:
            f: {tasks: [{exec: {command: "true"}}]}
      - second:
          approval: {type: manual, users: [bob]}
          jobs:
            s: {tasks: [{exec: {command: "true"}}]}
  by-role:
    stages:
      - only:
          approval: {type: manual, roles: [releasers]}
          jobs:
            o: {tasks: [{exec: {command: "true"}}]}
security:
  roles:
    releasers: [carol]
)";

class SchedulerGateTest : public SchedulerTest {
 protected:
  // kConfig plus kGatedPipelines, applied.
  void StartGated() {
    ASSERT_NO_FATAL_FAILURE(StartScheduler());
    v1::ConfigFile file;
    file.set_path("p.yaml");
    file.set_content(std::string(kConfig) + kGatedPipelines);
    auto [done, reply] = Replied<v1::ApplyConfigResponse>();
    scheduler_->ApplyConfig({file}, "test", done);
    auto applied = Get(reply);
    ASSERT_TRUE(applied.ok()) << applied.status();
  }
  absl::StatusOr<v1::PipelineRun> TriggerAs(const Principal& who,
                                            const std::vector<v1::EnvironmentVariable>& vars = {},
                                            const std::string& pipeline = "gated") {
    v1::TriggerPipelineRequest request;
    request.set_pipeline(pipeline);
    for (const auto& v : vars) *request.add_variables() = v;
    auto [done, reply] = Replied<v1::PipelineRun>();
    scheduler_->Trigger(request, who, done);
    auto run = Get(reply);
    scheduler_->Sync();
    return run;
  }
  absl::StatusOr<v1::PipelineRun> ApproveAs(const Principal& who, const std::string& stage,
                                            const std::string& comment = "") {
    v1::StageRequest request;
    request.set_pipeline("gated");
    request.set_counter(1);
    request.set_stage(stage);
    request.set_comment(comment);
    auto [done, reply] = Replied<v1::PipelineRun>();
    scheduler_->Approve(request, who, done);
    auto run = Get(reply);
    scheduler_->Sync();
    return run;
  }
  static const v1::StageRun* Stage(const v1::PipelineRun& run, const std::string& name) {
    for (const auto& s : run.stages()) {
      if (s.name() == name) return &s;
    }
    return nullptr;
  }
  static v1::EnvironmentVariable Var(const std::string& name, const std::string& value) {
    v1::EnvironmentVariable v;
    v.set_name(name);
    v.set_value(value);
    return v;
  }
};

// The caller's Principal reaches the gate: a trigger of a pipeline whose
// first stage is manual is refused for a user the gate does not list, and so
// is a later stage's approval, admins included; a listed user's approval,
// with its time and comment, comes back on the run view.
TEST_F(SchedulerGateTest, GateUsersAreCheckedOnTheFirstStageTriggerAndALaterApproval) {
  ASSERT_NO_FATAL_FAILURE(StartGated());
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);

  auto refused = TriggerAs(Principal{.user = "mallory"});
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "first stage first"))
      << refused.status();
  EXPECT_FALSE(RunRow("gated", 0).has_value());
  EXPECT_TRUE(channel->Sent(Kind::kAssign).empty());

  auto run = TriggerAs(Principal{.user = "alice"});
  ASSERT_TRUE(run.ok()) << run.status();
  const v1::StageRun* first = Stage(*run, "first");
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(first->approvals_size(), 1);
  EXPECT_EQ(first->approvals(0).user(), "alice");
  int64_t attempt = Assigned(*channel);
  ASSERT_NE(attempt, 0);
  Report(channel, Started(attempt));
  Report(channel, Completed(attempt, "passed"));
  ASSERT_EQ(RunRow("gated", 1)->state, RunState::kAwaitingApproval);

  for (const Principal& who :
       {Principal{.user = "alice"}, Principal{.user = "admin", .admin = true}}) {
    auto not_listed = ApproveAs(who, "second");
    ASSERT_EQ(not_listed.status().code(), absl::StatusCode::kPermissionDenied)
        << not_listed.status();
    EXPECT_EQ(
        not_listed.status().message(),
        absl::StrCat("user '", who.user,
                     "' may not approve stage gated/1/second: only users bob may approve it"));
  }
  EXPECT_EQ(RunRow("gated", 1)->state, RunState::kAwaitingApproval);

  absl::Time approved_at = clock_.Now();
  auto approved = ApproveAs(Principal{.user = "bob"}, "second", "hotfix 7");
  ASSERT_TRUE(approved.ok()) << approved.status();
  const v1::StageRun* second = Stage(*approved, "second");
  ASSERT_NE(second, nullptr);
  ASSERT_EQ(second->approvals_size(), 1);
  EXPECT_EQ(second->approvals(0).user(), "bob");
  EXPECT_EQ(second->approvals(0).comment(), "hotfix 7");
  EXPECT_EQ(second->approvals(0).at().seconds(), absl::ToUnixSeconds(approved_at));
  EXPECT_EQ(second->approved_by(), "bob");
}

// The caller's roles reach the gate too: a trigger of a pipeline whose first
// stage lists a role passes for a member of it (roles as the edge resolved
// them) and is refused for anyone else.
TEST_F(SchedulerGateTest, GateRolesAreCheckedOnTheFirstStageTrigger) {
  ASSERT_NO_FATAL_FAILURE(StartGated());
  auto refused = TriggerAs(Principal{.user = "dave", .roles = {"other"}}, {}, "by-role");
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  EXPECT_EQ(refused.status().message(),
            "user 'dave' may not trigger by-role (a trigger opens its first stage only): only "
            "roles releasers may approve it");
  auto run = TriggerAs(Principal{.user = "carol", .roles = {"releasers"}}, {}, "by-role");
  ASSERT_TRUE(run.ok()) << run.status();
  const v1::StageRun* only = Stage(*run, "only");
  ASSERT_NE(only, nullptr);
  ASSERT_EQ(only->approvals_size(), 1);
  EXPECT_EQ(only->approvals(0).user(), "carol");
}

// The controller refuses a GANTRY_* trigger variable itself (not only the
// CLI), and writes nothing.
TEST_F(SchedulerGateTest, ReservedTriggerVariableIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartGated());
  auto refused = TriggerAs(Principal{.user = "alice"}, {Var("GANTRY_TRIGGER_USER", "mallory")});
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "reserved")) << refused.status();
  EXPECT_FALSE(RunRow("gated", 0).has_value());
}

// A trigger-time value for a secure variable is sent to the agent as
// secure (the agent masks it in the log) and shown masked.
TEST_F(SchedulerGateTest, OverrideOfASecureVariableStaysSecure) {
  ASSERT_NO_FATAL_FAILURE(StartGated());
  TestAgent agent = Register("a1");
  auto channel = Connect(agent);
  auto run = TriggerAs(Principal{.user = "alice"}, {Var("DB_PASSWORD", "from-trigger")});
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->variables_size(), 1);
  EXPECT_TRUE(run->variables(0).secure());
  EXPECT_EQ(run->variables(0).value(), "********");
  auto assigns = channel->Sent(Kind::kAssign);
  ASSERT_EQ(assigns.size(), 1u);
  bool found = false;
  for (const auto& v : assigns[0].assign().variables()) {
    if (v.name() != "DB_PASSWORD") continue;
    found = true;
    EXPECT_EQ(v.value(), "from-trigger");
    EXPECT_TRUE(v.secure());
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace gantry
