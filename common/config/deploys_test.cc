// A stage's `deploys: true`: read, off by default, and at most one a pipeline.
#include <fstream>
#include <sstream>

#include "common/config/parser.h"
#include "gtest/gtest.h"

namespace gantry::config {
namespace {

constexpr char kJob[] = "{jobs: {j: {tasks: [{exec: {command: ls}}]}}}";

ParseResult Parse(const std::string& stages) {
  return ParseConfig(
      {{"c.yaml", "format_version: 10\npipelines:\n  p:\n    group: g\n    stages:\n" + stages}});
}

TEST(DeploysConfigTest, MarksTheDeployStage) {
  ParseResult r =
      Parse(std::string("      - build: ") + kJob + "\n      - deploy: {deploys: true, jobs: " +
            "{j: {tasks: [{exec: {command: ls}}]}}}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors.front().ToString();
  const Pipeline* p = r.config.FindPipeline("p");
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(p->stages[0].deploys);
  EXPECT_TRUE(p->stages[1].deploys);
}

TEST(DeploysConfigTest, OnlyOneStageMayDeploy) {
  ParseResult r = Parse(
      "      - a: {deploys: true, jobs: {j: {tasks: [{exec: {command: ls}}]}}}\n"
      "      - b: {deploys: true, jobs: {j: {tasks: [{exec: {command: ls}}]}}}\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(),
            "c.yaml:7:9: stage 'b' of pipeline 'p': only one stage may have 'deploys: true' "
            "('a' has it)");
}

// examples/release-flow.gocd.yaml (docs/rollback.md) is the pattern it
// says: production's deploy is the deploy stage, behind a gate, with a
// rollback gate after it in the same run; hotfix takes build-installer.
TEST(DeploysConfigTest, ReleaseFlowExampleHasTheRollbackStagePattern) {
  std::ifstream in(std::string(GANTRY_EXAMPLES_DIR) + "/release-flow.gocd.yaml");
  std::stringstream text;
  text << in.rdbuf();
  ParseResult r = ParseConfig({{"release-flow.gocd.yaml", text.str()}});
  ASSERT_TRUE(r.errors.empty()) << r.errors.front().ToString();
  const Pipeline* production = r.config.FindPipeline("production");
  ASSERT_NE(production, nullptr);
  ASSERT_EQ(production->stages.size(), 2u);
  EXPECT_EQ(production->stages[0].name, "deploy");
  EXPECT_TRUE(production->stages[0].deploys);
  EXPECT_EQ(production->stages[0].approval.type, Approval::Type::kManual);
  EXPECT_EQ(production->stages[1].name, "rollback");
  EXPECT_FALSE(production->stages[1].deploys);
  EXPECT_EQ(production->stages[1].approval.type, Approval::Type::kManual);
  const Pipeline* hotfix = r.config.FindPipeline("hotfix");
  ASSERT_NE(hotfix, nullptr);
  ASSERT_EQ(hotfix->materials.size(), 1u);
  EXPECT_EQ(hotfix->materials[0].stage, "build-installer");
}

}  // namespace
}  // namespace gantry::config
