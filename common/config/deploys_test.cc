// A stage's `deploys: true`: read, off by default, and at most one a pipeline.
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

}  // namespace
}  // namespace gantry::config
