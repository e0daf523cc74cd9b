#include "controller/variables.h"

#include <gtest/gtest.h>

namespace gantry {
namespace {

// Higher layers replace lower ones by name; first appearance keeps its place.
TEST(VariablesTest, PrecedenceJobOverStageOverPipelineOverEnvironment) {
  std::vector<config::Variable> env = {{"A", "env", false}, {"E", "env", false}};
  std::vector<config::Variable> pipeline = {{"A", "pipeline", false}, {"P", "p", false}};
  std::vector<config::Variable> stage = {{"A", "stage", false}, {"S", "s", true}};
  std::vector<config::Variable> job = {{"A", "job", false}};
  std::vector<config::Variable> overrides = {{"P", "override", false}};
  auto merged = MergeVariables({&env, &pipeline, &stage, &job, &overrides});
  ASSERT_EQ(merged.size(), 4u);
  EXPECT_EQ(merged[0].name, "A");
  EXPECT_EQ(merged[0].value, "job");
  EXPECT_EQ(merged[1].name, "E");
  EXPECT_EQ(merged[2].name, "P");
  EXPECT_EQ(merged[2].value, "override");
  EXPECT_EQ(merged[3].name, "S");
  EXPECT_TRUE(merged[3].secure);
}

TEST(VariablesTest, NullLayersAreSkipped) {
  std::vector<config::Variable> job = {{"X", "1", false}};
  auto merged = MergeVariables({nullptr, &job, nullptr});
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].value, "1");
}

}  // namespace
}  // namespace gantry
