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

// A secure name stays secure whatever replaces its value: a plain
// trigger-time override of a secret is still masked.
TEST(VariablesTest, ReplacingASecureValueKeepsItSecure) {
  std::vector<config::Variable> pipeline = {{"DB_PASSWORD", "config", true}, {"P", "p", false}};
  std::vector<config::Variable> overrides = {{"DB_PASSWORD", "given", false}, {"P", "o", false}};
  auto merged = MergeVariables({&pipeline, &overrides});
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[0].value, "given");
  EXPECT_TRUE(merged[0].secure);
  EXPECT_FALSE(merged[1].secure);
}

// Secure anywhere a pipeline's jobs take variables from: its environment,
// the pipeline, a stage or a job; not another pipeline's.
TEST(VariablesTest, IsSecureVariableLooksAtEveryLayerOfThePipeline) {
  config::Config config;
  config::Pipeline p;
  p.name = "p";
  p.variables = {{"PIPE", "x", true}, {"OPEN", "x", false}};
  config::Stage stage;
  stage.name = "s";
  stage.variables = {{"STAGE", "x", true}};
  config::Job job;
  job.name = "j";
  job.variables = {{"JOB", "x", true}};
  stage.jobs.push_back(job);
  p.stages.push_back(stage);
  config::Pipeline other;
  other.name = "other";
  other.variables = {{"ELSEWHERE", "x", true}};
  config::Environment env;
  env.name = "prod";
  env.pipelines = {"p"};
  env.variables = {{"ENV", "x", true}};
  config.pipelines = {other, p};
  config.environments = {env};
  for (const char* name : {"PIPE", "STAGE", "JOB", "ENV"}) {
    EXPECT_TRUE(IsSecureVariable(config, p, name)) << name;
  }
  for (const char* name : {"OPEN", "ELSEWHERE", "UNKNOWN"}) {
    EXPECT_FALSE(IsSecureVariable(config, p, name)) << name;
  }
}

}  // namespace
}  // namespace gantry
