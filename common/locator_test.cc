#include "common/locator.h"

#include <gtest/gtest.h>

namespace gantry {
namespace {

// A full job locator with an attempt fills every field.
TEST(LocatorTest, ParsesJobWithAttempt) {
  auto loc = ParseLocator("build/12/test/2/unit", LocatorKind::kJob);
  ASSERT_TRUE(loc.ok()) << loc.status();
  EXPECT_EQ(loc->pipeline, "build");
  EXPECT_EQ(loc->counter, 12);
  EXPECT_EQ(loc->stage, "test");
  EXPECT_EQ(loc->stage_counter, 2);
  EXPECT_EQ(loc->job, "unit");
  EXPECT_EQ(loc->ToString(), "build/12/test/2/unit");
}

// Without an attempt, the job locator means the newest attempt.
TEST(LocatorTest, ParsesJobWithoutAttempt) {
  auto loc = ParseLocator("build/3/test/unit", LocatorKind::kJob);
  ASSERT_TRUE(loc.ok()) << loc.status();
  EXPECT_EQ(loc->stage_counter, 0);
  EXPECT_EQ(loc->job, "unit");
}

TEST(LocatorTest, ParsesStageAndRun) {
  auto stage = ParseLocator("deploy/7/prod", LocatorKind::kStage);
  ASSERT_TRUE(stage.ok());
  EXPECT_EQ(stage->stage, "prod");
  auto stage2 = ParseLocator("deploy/7/prod/3", LocatorKind::kStage);
  ASSERT_TRUE(stage2.ok());
  EXPECT_EQ(stage2->stage_counter, 3);
  auto run = ParseLocator("deploy/7", LocatorKind::kPipelineRun);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->counter, 7);
}

// Each malformed locator is refused with a message naming the expected shape.
TEST(LocatorTest, RejectsMalformed) {
  struct Case {
    const char* text;
    LocatorKind kind;
    const char* fragment;
  } cases[] = {
      {"build", LocatorKind::kPipelineRun, "too few parts"},
      {"build/x", LocatorKind::kPipelineRun, "counter must be a positive"},
      {"build/0", LocatorKind::kPipelineRun, "counter must be a positive"},
      {"build/-1", LocatorKind::kPipelineRun, "counter must be a positive"},
      {"build//test", LocatorKind::kStage, "empty part"},
      {"build/1/test/x/unit", LocatorKind::kJob, "stage attempt"},
      {"build/1/test/1/unit/extra", LocatorKind::kJob, "too many parts"},
      {"bu ild/1", LocatorKind::kPipelineRun, "invalid pipeline name"},
      {"build/1/te$t", LocatorKind::kStage, "invalid stage name"},
      {"build/1/test/99999999999999999999/j", LocatorKind::kJob, "stage attempt"},
  };
  for (const Case& c : cases) {
    auto loc = ParseLocator(c.text, c.kind);
    ASSERT_FALSE(loc.ok()) << c.text;
    EXPECT_EQ(loc.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(loc.status().message().find(c.fragment), std::string::npos)
        << c.text << ": " << loc.status().message();
    EXPECT_NE(loc.status().message().find("expected PIPELINE"), std::string::npos);
  }
}

TEST(LocatorTest, ValidNames) {
  EXPECT_TRUE(IsValidName("build-installer_2.x"));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName("-x"));
  EXPECT_FALSE(IsValidName("a/b"));
  EXPECT_FALSE(IsValidName(std::string(256, 'a')));
}

}  // namespace
}  // namespace gantry
