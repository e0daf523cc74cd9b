#include "common/config/model.h"

#include "common/config/parser.h"
#include "gtest/gtest.h"

namespace gantry::config {
namespace {

Config ParseOk(const std::string& yaml) {
  ParseResult result = ParseConfig({{"m.yaml", yaml}});
  EXPECT_TRUE(result.ok()) << result.ErrorText();
  return result.config;
}

const char kTwoPipelines[] = R"(
pipelines:
  up:
    materials:
      src: {git: https://example.org/up.git}
    stages:
      - build: {jobs: {compile: {tasks: [{exec: {command: make}}]}}}
      - test: {jobs: {unit: {tasks: [{exec: {command: make}}]}}}
  down:
    label_template: "${COUNT}-${up[:3]}"
    materials:
      up: {pipeline: up, stage: test}
    stages:
      - deploy: {jobs: {go: {tasks: [{exec: {command: ./deploy}}]}}}
  other:
    materials:
      up: {pipeline: up, stage: build}
    stages:
      - s: {jobs: {j: {tasks: [{exec: {command: "true"}}]}}}
environments:
  prod:
    pipelines: [down]
)";

// The lookups the controller schedules with answer from the parsed model.
TEST(ModelTest, Lookups) {
  Config config = ParseOk(kTwoPipelines);
  ASSERT_EQ(config.pipelines.size(), 3u);
  const Pipeline* up = config.FindPipeline("up");
  ASSERT_NE(up, nullptr);
  EXPECT_EQ(config.FindPipeline("nope"), nullptr);
  EXPECT_EQ(up->StageIndex("build"), 0);
  EXPECT_EQ(up->StageIndex("test"), 1);
  EXPECT_EQ(up->StageIndex("deploy"), -1);
  EXPECT_EQ(up->FindStage("test")->name, "test");
  EXPECT_EQ(up->FindStage("test")->FindJob("unit")->name, "unit");
  EXPECT_EQ(up->FindStage("test")->FindJob("compile"), nullptr);
  EXPECT_EQ(up->FindMaterial("src")->url, "https://example.org/up.git");

  const Pipeline* down = config.FindPipeline("down");
  EXPECT_EQ(down->FindDependency("up")->name, "up");
  EXPECT_EQ(down->FindDependency("other"), nullptr);

  ASSERT_NE(config.EnvironmentOfPipeline("down"), nullptr);
  EXPECT_EQ(config.EnvironmentOfPipeline("down")->name, "prod");
  EXPECT_EQ(config.EnvironmentOfPipeline("up"), nullptr);
  EXPECT_EQ(config.FindEnvironment("prod")->pipelines.size(), 1u);
  EXPECT_EQ(config.FindEnvironment("staging"), nullptr);

  std::vector<const Pipeline*> after_test = config.Downstreams("up", "test");
  ASSERT_EQ(after_test.size(), 1u);
  EXPECT_EQ(after_test[0]->name, "down");
  std::vector<const Pipeline*> after_build = config.Downstreams("up", "build");
  ASSERT_EQ(after_build.size(), 1u);
  EXPECT_EQ(after_build[0]->name, "other");
  EXPECT_TRUE(config.Downstreams("down", "deploy").empty());
}

// Labels expand ${COUNT} and material revisions, cut to [:N] when asked.
TEST(ModelTest, ExpandLabel) {
  Config config = ParseOk(kTwoPipelines);
  const Pipeline* down = config.FindPipeline("down");
  EXPECT_EQ(down->ExpandLabel(7, {{"up", "abcdef"}}), "7-abc");
  EXPECT_EQ(down->ExpandLabel(8, {}), "8-");
  EXPECT_EQ(config.FindPipeline("up")->ExpandLabel(12, {}), "12");
  Pipeline p;
  p.label_template = "v${COUNT}.${src}${unclosed";
  EXPECT_EQ(p.ExpandLabel(3, {{"src", "1234"}}), "v3.1234${unclosed");
  p.label_template = "";
  EXPECT_EQ(p.ExpandLabel(5, {}), "5");
}

// Revision variables are upper-cased with other characters as '_'.
TEST(ModelTest, RevisionVariableName) {
  EXPECT_EQ(RevisionVariableName("my-repo.v2"), "GANTRY_REVISION_MY_REPO_V2");
  EXPECT_EQ(RevisionVariableName("src"), "GANTRY_REVISION_SRC");
}

// GoCD writes ancestor paths from the source down to the direct upstream.
TEST(ModelTest, FetchPaths) {
  FetchTask own;
  EXPECT_EQ(own.SourcePipeline("me"), "me");
  EXPECT_TRUE(own.PathFromDirectUpstream("me").empty());
  own.pipeline = "me";
  EXPECT_EQ(own.SourcePipeline("me"), "me");
  EXPECT_TRUE(own.PathFromDirectUpstream("me").empty());

  FetchTask direct;
  direct.pipeline = "up";
  EXPECT_EQ(direct.SourcePipeline("me"), "up");
  EXPECT_EQ(direct.PathFromDirectUpstream("me"),
            std::vector<std::string>({"up"}));

  FetchTask ancestor;
  ancestor.pipeline = "grandparent/parent";
  EXPECT_EQ(ancestor.SourcePipeline("me"), "grandparent");
  EXPECT_EQ(ancestor.PathFromDirectUpstream("me"),
            std::vector<std::string>({"parent", "grandparent"}));
}

}  // namespace
}  // namespace gantry::config
