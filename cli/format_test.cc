#include "cli/format.h"

#include <gtest/gtest.h>

#include <sstream>

#include "cli/run_format.h"
#include "gantry/v1/operator.pb.h"

namespace gantry::cli {
namespace {

google::protobuf::Timestamp Ts(int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(nanos);
  return ts;
}

TEST(FormatDurationTest, Ranges) {
  EXPECT_EQ(HumanDuration(absl::Milliseconds(-5)), "-");
  EXPECT_EQ(HumanDuration(absl::ZeroDuration()), "0ms");
  EXPECT_EQ(HumanDuration(absl::Milliseconds(850)), "850ms");
  EXPECT_EQ(HumanDuration(absl::Milliseconds(3250)), "3.2s");
  EXPECT_EQ(HumanDuration(absl::Milliseconds(9999)), "9.9s");
  EXPECT_EQ(HumanDuration(absl::Seconds(42)), "42s");
  EXPECT_EQ(HumanDuration(absl::Seconds(245)), "4m05s");
  EXPECT_EQ(HumanDuration(absl::Seconds(2 * 3600 + 3 * 60 + 59)), "2h03m");
  EXPECT_EQ(HumanDuration(absl::Hours(76)), "3d04h");
}

TEST(FormatTimestampTest, UtcAndUnset) {
  EXPECT_EQ(FormatTimestamp(Ts(0), absl::UTCTimeZone()), "-");
  EXPECT_EQ(FormatTimestamp(Ts(1700000000), absl::UTCTimeZone()),
            "2023-11-14 22:13:20");
}

TEST(FormatAgeTest, Ages) {
  absl::Time now = absl::FromUnixSeconds(1700000100);
  EXPECT_EQ(FormatAge(Ts(0), now), "-");
  EXPECT_EQ(FormatAge(Ts(1700000100), now), "just now");
  EXPECT_EQ(FormatAge(Ts(1700000200), now), "just now");  // clock skew
  EXPECT_EQ(FormatAge(Ts(1700000088, 500000000), now), "11s ago");
  EXPECT_EQ(FormatAge(Ts(1700000100 - 65), now), "1m05s ago");
}

TEST(FormatElapsedTest, FinishedAndRunning) {
  absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_EQ(FormatElapsed(Ts(0), Ts(0), now), "-");
  EXPECT_EQ(FormatElapsed(Ts(900), Ts(930), now), "30s");
  EXPECT_EQ(FormatElapsed(Ts(900), Ts(0), now), "1m40s");
}

// Columns are padded to the widest cell plus two spaces; no trailing blanks.
TEST(TableTest, AlignsColumns) {
  Table table({"NAME", "STATE", "X"});
  table.AddRow({"build-and-test", "passed", ""});
  table.AddRow({"a", "multi\nline"});
  std::ostringstream out;
  table.Print(out, 2);
  EXPECT_EQ(out.str(),
            "  NAME            STATE       X\n"
            "  build-and-test  passed\n"
            "  a               multi line\n");
  EXPECT_EQ(table.rows(), 2u);
}

TEST(JoinOrTest, EmptyAndSome) {
  EXPECT_EQ(JoinOr({}), "-");
  EXPECT_EQ(JoinOr({"a", "b"}), "a, b");
}

// JSON uses lowerCamelCase names and prints default values.
TEST(ToJsonTest, CamelCaseWithDefaults) {
  gantry::v1::PipelineSummary p;
  p.set_name("build");
  p.set_latest_counter(12);
  auto json = ToJson(p);
  ASSERT_TRUE(json.ok());
  EXPECT_NE(json->find("\"latestCounter\": \"12\""), std::string::npos)
      << *json;
  EXPECT_NE(json->find("\"paused\": false"), std::string::npos) << *json;
  EXPECT_EQ(json->back(), '\n');
}

TEST(RunFormatTest, TriggeredBy) {
  gantry::v1::BuildCause cause;
  EXPECT_EQ(TriggeredBy(cause), "-");
  cause.set_kind("upstream");
  auto* m = cause.add_materials();
  m->set_material("up");
  m->set_type("pipeline");
  m->set_upstream_pipeline("lib");
  m->set_upstream_counter(5);
  m->set_upstream_stage("test");
  EXPECT_EQ(TriggeredBy(cause), "lib/5/test");
  cause.set_user("alice");
  EXPECT_EQ(TriggeredBy(cause), "alice");
}

// Progress lines appear once per change, not for stages yet to run.
TEST(RunFormatTest, ProgressReportsChangesOnce) {
  gantry::v1::PipelineRun run;
  run.set_pipeline("p");
  run.set_counter(3);
  auto* build = run.add_stages();
  build->set_name("build");
  build->set_counter(1);
  build->set_state("building");
  auto* job = build->add_jobs();
  job->set_name("compile");
  job->set_state("running");
  job->set_agent_name("agent-1");
  auto* deploy = run.add_stages();
  deploy->set_name("deploy");
  deploy->set_state("not_run");
  deploy->add_jobs()->set_name("push");
  deploy->mutable_jobs(0)->set_state("not_run");

  RunProgress progress;
  EXPECT_EQ(
      progress.Update(run),
      (std::vector<std::string>{"p/3/build: building",
                                "p/3/build/compile: running on agent-1"}));
  EXPECT_TRUE(progress.Update(run).empty());
  job->set_state("failed");
  job->set_reason("exit status 2");
  build->set_state("failed");
  EXPECT_EQ(
      progress.Update(run),
      (std::vector<std::string>{"p/3/build/compile: failed (exit status 2)",
                                "p/3/build: failed"}));
}

TEST(RunFormatTest, ShowIncludesStagesAndJobs) {
  gantry::v1::PipelineRun run;
  run.set_pipeline("p");
  run.set_counter(3);
  run.set_label("1.0.3");
  run.set_state("passed");
  run.set_config_revision(7);
  run.mutable_cause()->set_kind("manual");
  run.mutable_cause()->set_user("admin");
  auto* m = run.mutable_cause()->add_materials();
  m->set_material("repo");
  m->set_type("git");
  m->set_revision("abc123");
  auto* stage = run.add_stages();
  stage->set_name("deploy");
  stage->set_counter(1);
  stage->set_state("passed");
  stage->set_approval("manual");
  stage->set_approved_by("bob");
  auto* job = stage->add_jobs();
  job->set_name("push");
  job->set_state("passed");
  job->set_agent_name("a1");
  *job->mutable_started_at() = Ts(100);
  *job->mutable_finished_at() = Ts(165);
  std::ostringstream out;
  PrintPipelineRun(run, absl::UTCTimeZone(), absl::FromUnixSeconds(200), out);
  EXPECT_EQ(
      out.str(),
      "pipeline:        p/3\n"
      "label:           1.0.3\n"
      "state:           passed\n"
      "config revision: 7\n"
      "created:         -\n"
      "build cause:     manual by admin\n"
      "materials:\n"
      "  MATERIAL  TYPE  REVISION\n"
      "  repo      git   abc123\n"
      "\n"
      "stage deploy (attempt 1): passed, approval manual, approved by bob\n"
      "  JOB   STATE   AGENT  DURATION  REASON\n"
      "  push  passed  a1     1m05s\n");
}

// Each approval of a stage gets a line under it: who, when and the comment,
// which cannot add lines of its own.
TEST(RunFormatTest, ShowPrintsEachApprovalWithItsComment) {
  gantry::v1::PipelineRun run;
  run.set_pipeline("p");
  run.set_counter(3);
  auto* stage = run.add_stages();
  stage->set_name("deploy");
  stage->set_counter(1);
  stage->set_state("building");
  stage->set_approval("manual");
  stage->set_approved_by("bob");
  auto* approval = stage->add_approvals();
  approval->set_user("bob");
  *approval->mutable_at() = Ts(86400);
  approval->set_comment("change 42\nstage fake: passed");
  auto* silent = stage->add_approvals();
  silent->set_user("carol");
  *silent->mutable_at() = Ts(86460);
  std::ostringstream out;
  PrintPipelineRun(run, absl::UTCTimeZone(), absl::FromUnixSeconds(86500), out);
  EXPECT_NE(out.str().find("stage deploy (attempt 1): building, approval manual, approved by bob\n"
                           "  approved by bob at 1970-01-02 00:00:00: change 42 stage fake: "
                           "passed\n"
                           "  approved by carol at 1970-01-02 00:01:00\n"),
            std::string::npos)
      << out.str();
}

}  // namespace
}  // namespace gantry::cli
