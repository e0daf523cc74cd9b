// Pipeline timers: TimerSchedule's arithmetic, then the Scheduler on a real
// PostgreSQL with a FakeClock firing them, skipping `only_on_changes` ticks
// with nothing new, and firing a tick missed while it was stopped once at
// start-up. Time moves only through FakeClock::Advance; nothing sleeps.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "common/config/parser.h"
#include "controller/embedded_pg/test_postgres.h"
#include "controller/scheduling/fake_clock.h"
#include "controller/scheduling/scheduler.h"
#include "controller/scheduling/timer_schedule.h"
#include "controller/store/db.h"
#include "controller/store/tx.h"

namespace gantry {
namespace {

const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new TestPostgres("gantry-timer-test"));

// 2027-01-15 08:00:00 UTC, on a minute boundary.
const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

config::Config ConfigOf(const std::string& yaml) {
  config::ParseResult r = config::ParseConfig({{"t.yaml", yaml}});
  EXPECT_TRUE(r.ok()) << r.ErrorText();
  return r.config;
}

constexpr char kEveryMinute[] = R"(
pipelines:
  p:
    timer: {spec: "0 * * * * ?"}
    stages: [{s: {tasks: [{exec: {command: "true"}}]}}]
)";

std::vector<std::string> PipelinesOf(const TimerSchedule::Taken& t) {
  std::vector<std::string> out;
  for (const auto& d : t.due) out.push_back(d.pipeline);
  return out;
}

TEST(TimerScheduleTest, NewTimerCountsFromNowAndFiresAtEachTick) {
  TimerSchedule schedule(absl::UTCTimeZone());
  config::Config config = ConfigOf(kEveryMinute);
  // First seen: no tick before it counts, and the row is saved.
  auto t = schedule.Take(config, kStart + absl::Seconds(1));
  EXPECT_TRUE(t.due.empty());
  ASSERT_EQ(t.save.size(), 1u);
  EXPECT_EQ(t.save[0].last_tick_ms, absl::ToUnixMillis(kStart + absl::Seconds(1)));
  EXPECT_TRUE(schedule.Take(config, kStart + absl::Seconds(59)).due.empty());
  t = schedule.Take(config, kStart + absl::Seconds(60));
  ASSERT_EQ(PipelinesOf(t), std::vector<std::string>{"p"});
  EXPECT_EQ(t.due[0].tick, kStart + absl::Seconds(60));
  EXPECT_FALSE(t.due[0].missed);
  EXPECT_EQ(TimerCauseMessage(t.due[0], absl::UTCTimeZone()), "timer '0 * * * * ?'");
  // Once per tick.
  EXPECT_TRUE(schedule.Take(config, kStart + absl::Seconds(61)).due.empty());
  // Several ticks passed between two looks (a stalled strand): once.
  t = schedule.Take(config, kStart + absl::Minutes(5));
  EXPECT_EQ(PipelinesOf(t), std::vector<std::string>{"p"});
  EXPECT_TRUE(schedule.Take(config, kStart + absl::Minutes(5) + absl::Seconds(30)).due.empty());
}

TEST(TimerScheduleTest, MissedTicksFireOnceAfterLoad) {
  TimerSchedule schedule(absl::UTCTimeZone());
  config::Config config = ConfigOf(kEveryMinute);
  // Last fired at 08:01; the controller comes back at 08:10:30.
  absl::Time back = kStart + absl::Minutes(10) + absl::Seconds(30);
  schedule.Load({{"p", "0 * * * * ?", absl::ToUnixMillis(kStart + absl::Minutes(1))}}, back);
  auto t = schedule.Take(config, back + absl::Seconds(1));
  ASSERT_EQ(t.due.size(), 1u);
  EXPECT_TRUE(t.due[0].missed);
  EXPECT_EQ(t.due[0].tick, kStart + absl::Minutes(2));
  EXPECT_EQ(TimerCauseMessage(t.due[0], absl::UTCTimeZone()),
            "timer '0 * * * * ?' (its tick at 2027-01-15 08:02:00 +0000 passed while the "
            "controller was down)");
  EXPECT_TRUE(schedule.Take(config, back + absl::Seconds(2)).due.empty());
  // The next tick is an ordinary one.
  t = schedule.Take(config, kStart + absl::Minutes(11));
  ASSERT_EQ(t.due.size(), 1u);
  EXPECT_FALSE(t.due[0].missed);
}

TEST(TimerScheduleTest, ChangedSpecRestartsAndRemovedTimerIsDropped) {
  TimerSchedule schedule(absl::UTCTimeZone());
  // Stored under another spec, long ago: the new spec counts from now.
  schedule.Load({{"p", "0 0 22 ? * MON-FRI", 0}, {"gone", "0 * * * * ?", 0}}, kStart);
  auto t = schedule.Take(ConfigOf(kEveryMinute), kStart + absl::Seconds(1));
  EXPECT_TRUE(t.due.empty());
  ASSERT_EQ(t.save.size(), 1u);
  EXPECT_EQ(t.save[0].spec, "0 * * * * ?");
  EXPECT_EQ(t.drop, std::vector<std::string>{"gone"});
}

// --- the Scheduler, on PostgreSQL

constexpr auto kWait = std::chrono::seconds(30);

constexpr char kConfig[] = R"(format_version: 10
pipelines:
  nightly:
    timer: {spec: "0 * * * * ?"}
    stages: [{s: {jobs: {a: {tasks: [{exec: {command: "true"}}]}}}}]
  quiet:
    timer: {spec: "0 * * * * ?", only_on_changes: true}
    stages: [{s: {jobs: {a: {tasks: [{exec: {command: "true"}}]}}}}]
)";

class TimerSchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = TestPostgres::FreshDatabase("timer_");
    auto db = store::Db::Connect(url_);
    ASSERT_TRUE(db.ok()) << db.status();
    reader_ = std::move(*db);
    ASSERT_TRUE(reader_->Migrate().ok());
  }
  void TearDown() override { scheduler_.reset(); }

  void StartScheduler() {
    auto db = store::Db::Connect(url_);
    ASSERT_TRUE(db.ok()) << db.status();
    SchedulerOptions options;
    options.timer_zone = absl::UTCTimeZone();
    scheduler_ = std::make_unique<Scheduler>(std::move(*db), &configs_, options, &clock_);
    ASSERT_TRUE(scheduler_->Start().ok());
    scheduler_->Serving();
  }
  void ApplyConfig() {
    v1::ConfigFile file;
    file.set_path("p.yaml");
    file.set_content(kConfig);
    auto promise = std::make_shared<std::promise<absl::StatusOr<v1::ApplyConfigResponse>>>();
    auto reply = promise->get_future();
    scheduler_->ApplyConfig({file}, "test", [promise](auto r) { promise->set_value(r); });
    ASSERT_EQ(reply.wait_for(kWait), std::future_status::ready);
    auto applied = reply.get();
    ASSERT_TRUE(applied.ok()) << applied.status();
  }
  // Time moves on; the timers' work (the check, then the inbox) is done.
  void Advance(absl::Duration d) {
    clock_.Advance(d);
    scheduler_->Sync();
    scheduler_->Sync();
  }
  std::vector<store::PipelineRunRecord> Runs(const std::string& pipeline) {
    std::vector<store::PipelineRunRecord> runs;
    EXPECT_TRUE(reader_
                    ->Run("History",
                          [&](store::Tx& tx) {
                            runs = tx.PipelineHistory(pipeline, 100);
                            return absl::OkStatus();
                          })
                    .ok());
    return runs;  // newest first
  }

  std::string url_;
  std::unique_ptr<store::Db> reader_;
  FakeClock clock_{kStart};
  ConfigCache configs_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(TimerSchedulerTest, FiresOnTheClockAndCatchesUpOnceAfterAnOutage) {
  StartScheduler();
  ApplyConfig();
  Advance(absl::Seconds(1));  // the timers are seen: nothing fires for the past
  EXPECT_TRUE(Runs("nightly").empty());
  Advance(absl::Seconds(58));
  EXPECT_TRUE(Runs("nightly").empty());
  Advance(absl::Seconds(1));  // 08:01:00
  auto runs = Runs("nightly");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].cause_kind, "timer");
  EXPECT_EQ(runs[0].cause_message, "timer '0 * * * * ?'");
  EXPECT_EQ(runs[0].trigger_user, "");
  // only_on_changes: a pipeline that never ran has something to build...
  ASSERT_EQ(Runs("quiet").size(), 1u);
  // ...and then, without materials that change, nothing more.
  Advance(absl::Minutes(1));  // 08:02:00
  EXPECT_EQ(Runs("nightly").size(), 2u);
  EXPECT_EQ(Runs("quiet").size(), 1u);

  // Down from 08:02:30 to 08:10:30: eight ticks missed, one run for them.
  Advance(absl::Seconds(30));
  scheduler_.reset();
  clock_.Advance(absl::Minutes(8));
  StartScheduler();
  EXPECT_EQ(Runs("nightly").size(), 2u);
  Advance(absl::Seconds(1));
  runs = Runs("nightly");
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].cause_kind, "timer");
  EXPECT_EQ(runs[0].cause_message,
            "timer '0 * * * * ?' (its tick at 2027-01-15 08:03:00 +0000 passed while the "
            "controller was down)");
  Advance(absl::Seconds(20));
  EXPECT_EQ(Runs("nightly").size(), 3u);
  Advance(absl::Seconds(10));  // 08:11:00, an ordinary tick
  runs = Runs("nightly");
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[0].cause_message, "timer '0 * * * * ?'");
  EXPECT_EQ(Runs("quiet").size(), 1u);
}

}  // namespace
}  // namespace gantry
