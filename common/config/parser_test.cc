// Valid configurations: every field lands in the model, defaults are GoCD's,
// files merge, anchors work, and the shipped examples parse.
#include "common/config/parser.h"

#include <filesystem>

#include "common/files.h"
#include "gtest/gtest.h"

namespace gantry::config {
namespace {

// Drops the newline that follows R"( so line 1 is the first written line.
std::string Yaml(const char* text) {
  std::string s(text);
  if (!s.empty() && s[0] == '\n') s.erase(0, 1);
  return s;
}

Config ParseOk(const std::vector<ConfigFile>& files) {
  ParseResult result = ParseConfig(files);
  EXPECT_TRUE(result.ok()) << result.ErrorText();
  return result.config;
}

const char kFull[] = R"(
format_version: 10
pipelines:
  build:
    group: demo
    label_template: "1.${COUNT}-${src[:7]}"
    lock_behavior: unlockWhenFinished
    environment_variables:
      PIPE_VAR: p
      NUMBER: 42
    secure_variables:
      TOKEN: s3cret
    materials:
      src:
        git: https://example.org/x.git
        branch: main
        destination: src
        auto_update: false
        shallow_clone: true
      tools:
        type: git
        url: https://example.org/tools.git
        destination: tools
      upstream:
        type: dependency
        pipeline: other
        stage: publish
    stages:
      - compile:
          approval:
            type: manual
            allow_only_on_success: true
            users: [alice, bob]
            roles: [release]
          fetch_materials: false
          clean_workspace: true
          environment_variables:
            STAGE_VAR: s
          jobs:
            unit:
              resources: [linux, Docker]
              run_instances: 3
              timeout: 10
              on_agent_lost: reschedule
              environment_variables:
                JOB_VAR: j
              secure_variables:
                JOB_SECRET: x
              artifacts:
                - build: {source: out/, destination: pkg}
                - test: {source: reports/}
              tasks:
                - exec:
                    command: make
                    arguments: [-j2, 3]
                    working_directory: sub
                    run_if: failed
                    on_cancel: {exec: {command: cleanup}}
                - fetch: {pipeline: other, stage: publish, job: pack, source: dir/, destination: d, run_if: any}
                - fetch: {pipeline: root/other, stage: make, job: m, file: a.bin}
                - fetch: {stage: prepare, job: p, source: x.txt, is_file: yes, artifact_origin: gocd}
            all:
              run_instances: all
              tasks:
                - exec: {command: "true"}
      - ship:
          approval: manual
          jobs:
            go:
              tasks:
                - fetch: {pipeline: build, stage: compile, job: unit, source: out}
  other:
    materials:
      root: {pipeline: root, stage: make}
    stages:
      - publish: {jobs: {pack: {tasks: [{exec: {command: pack}}]}}}
  root:
    stages:
      - make: {jobs: {m: {tasks: [{exec: {command: m}}]}}}
environments:
  prod:
    environment_variables: {ENV_VAR: e}
    secure_variables: {ENV_SECRET: z}
    agents: [agent-1, 123]
    pipelines: [build]
)";

// Every key of the format reaches the model with the value written.
TEST(ParserTest, FullExample) {
  std::string yaml = Yaml(kFull);
  // Needs a stage before `compile` for the same-pipeline fetch of `prepare`.
  yaml.replace(
      yaml.find("      - compile:"), 0,
      "      - prepare: {jobs: {p: {tasks: [{exec: {command: p}}]}}}\n");
  Config config = ParseOk({{"full.yaml", yaml}});
  EXPECT_EQ(config.format_version, 10);
  ASSERT_EQ(config.pipelines.size(), 3u);
  EXPECT_EQ(config.pipelines[0].name, "build");  // sorted by name
  EXPECT_EQ(config.pipelines[1].name, "other");
  EXPECT_EQ(config.pipelines[2].name, "root");

  const Pipeline& p = config.pipelines[0];
  EXPECT_EQ(p.group, "demo");
  EXPECT_EQ(p.label_template, "1.${COUNT}-${src[:7]}");
  EXPECT_EQ(p.lock_behavior, LockBehavior::kUnlockWhenFinished);
  EXPECT_EQ(p.location.file, "full.yaml");
  EXPECT_EQ(p.location.line, 3);
  EXPECT_EQ(p.location.column, 3);
  ASSERT_EQ(p.variables.size(), 3u);
  EXPECT_EQ(p.variables[0].name, "PIPE_VAR");
  EXPECT_EQ(p.variables[0].value, "p");
  EXPECT_FALSE(p.variables[0].secure);
  EXPECT_EQ(p.variables[1].value, "42");
  EXPECT_EQ(p.variables[2].name, "TOKEN");
  EXPECT_TRUE(p.variables[2].secure);

  ASSERT_EQ(p.materials.size(), 3u);
  const Material& src = p.materials[0];
  EXPECT_EQ(src.type, Material::Type::kGit);
  EXPECT_EQ(src.name, "src");
  EXPECT_EQ(src.url, "https://example.org/x.git");
  EXPECT_EQ(src.branch, "main");
  EXPECT_EQ(src.destination, "src");
  EXPECT_FALSE(src.auto_update);
  EXPECT_EQ(src.location.line, 13);
  const Material& tools = p.materials[1];
  EXPECT_EQ(tools.type, Material::Type::kGit);
  EXPECT_EQ(tools.url, "https://example.org/tools.git");
  EXPECT_EQ(tools.branch, "master");
  EXPECT_TRUE(tools.auto_update);
  const Material& upstream = p.materials[2];
  EXPECT_EQ(upstream.type, Material::Type::kPipeline);
  EXPECT_EQ(upstream.pipeline, "other");
  EXPECT_EQ(upstream.stage, "publish");

  ASSERT_EQ(p.stages.size(), 3u);
  const Stage& compile = p.stages[1];
  EXPECT_EQ(compile.name, "compile");
  EXPECT_EQ(compile.approval.type, Approval::Type::kManual);
  EXPECT_TRUE(compile.approval.allow_only_on_success);
  EXPECT_EQ(compile.approval.users, std::vector<std::string>({"alice", "bob"}));
  EXPECT_EQ(compile.approval.roles, std::vector<std::string>({"release"}));
  EXPECT_FALSE(compile.fetch_materials);
  EXPECT_TRUE(compile.clean_workspace);
  ASSERT_EQ(compile.variables.size(), 1u);
  EXPECT_EQ(compile.variables[0].name, "STAGE_VAR");
  ASSERT_EQ(compile.jobs.size(), 2u);
  EXPECT_EQ(p.stages[2].approval.type, Approval::Type::kManual);
  EXPECT_FALSE(p.stages[2].approval.allow_only_on_success);
  EXPECT_EQ(p.stages[0].approval.type, Approval::Type::kSuccess);

  const Job& unit = compile.jobs[0];
  EXPECT_EQ(unit.name, "unit");
  EXPECT_EQ(unit.resources, std::vector<std::string>({"linux", "Docker"}));
  EXPECT_EQ(unit.run_instances, 3);
  EXPECT_EQ(unit.timeout_seconds, 600);
  EXPECT_EQ(unit.on_agent_lost, OnAgentLost::kReschedule);
  ASSERT_EQ(unit.variables.size(), 2u);
  EXPECT_EQ(unit.variables[0].name, "JOB_VAR");
  EXPECT_TRUE(unit.variables[1].secure);
  ASSERT_EQ(unit.artifacts.size(), 2u);
  EXPECT_EQ(unit.artifacts[0].kind, Artifact::Kind::kBuild);
  EXPECT_EQ(unit.artifacts[0].source, "out/");
  EXPECT_EQ(unit.artifacts[0].destination, "pkg");
  EXPECT_EQ(unit.artifacts[1].kind, Artifact::Kind::kTest);
  EXPECT_EQ(unit.artifacts[1].destination, "");
  EXPECT_EQ(compile.jobs[1].run_instances, -1);
  EXPECT_EQ(compile.jobs[1].on_agent_lost, OnAgentLost::kFail);
  EXPECT_EQ(compile.jobs[1].timeout_seconds, 0);

  ASSERT_EQ(unit.tasks.size(), 4u);
  const Task& exec = unit.tasks[0];
  EXPECT_EQ(exec.kind, Task::Kind::kExec);
  EXPECT_EQ(exec.exec.command, "make");
  EXPECT_EQ(exec.exec.arguments, std::vector<std::string>({"-j2", "3"}));
  EXPECT_EQ(exec.exec.working_directory, "sub");
  EXPECT_EQ(exec.run_if, RunIf::kFailed);
  EXPECT_EQ(exec.location.line, 53);
  EXPECT_EQ(exec.location.column, 19);
  ASSERT_EQ(exec.on_cancel.size(), 1u);
  EXPECT_EQ(exec.on_cancel[0].exec.command, "cleanup");
  EXPECT_EQ(exec.on_cancel[0].run_if, RunIf::kPassed);

  const FetchTask& dir = unit.tasks[1].fetch;
  EXPECT_EQ(unit.tasks[1].kind, Task::Kind::kFetch);
  EXPECT_EQ(unit.tasks[1].run_if, RunIf::kAny);
  EXPECT_EQ(dir.pipeline, "other");
  EXPECT_EQ(dir.stage, "publish");
  EXPECT_EQ(dir.job, "pack");
  EXPECT_EQ(dir.source, "dir/");
  EXPECT_EQ(dir.destination, "d");
  EXPECT_FALSE(dir.is_file);
  const FetchTask& file = unit.tasks[2].fetch;
  EXPECT_EQ(file.pipeline, "root/other");
  EXPECT_EQ(file.source, "a.bin");
  EXPECT_TRUE(file.is_file);
  const FetchTask& own = unit.tasks[3].fetch;
  EXPECT_EQ(own.pipeline, "");
  EXPECT_TRUE(own.is_file);

  ASSERT_EQ(config.environments.size(), 1u);
  const Environment& env = config.environments[0];
  EXPECT_EQ(env.name, "prod");
  EXPECT_EQ(env.pipelines, std::vector<std::string>({"build"}));
  EXPECT_EQ(env.agents, std::vector<std::string>({"agent-1", "123"}));
  ASSERT_EQ(env.variables.size(), 2u);
  EXPECT_FALSE(env.variables[0].secure);
  EXPECT_TRUE(env.variables[1].secure);
}

// Unset keys take GoCD's defaults; materials are optional.
TEST(ParserTest, Defaults) {
  Config config = ParseOk({{"d.yaml", Yaml(R"(
pipelines:
  p:
    stages:
      - s:
          jobs:
            j:
              tasks:
                - exec:
                    command: ls
)")}});
  EXPECT_EQ(config.format_version, 1);
  const Pipeline& p = config.pipelines[0];
  EXPECT_EQ(p.group, "defaultGroup");
  EXPECT_EQ(p.label_template, "${COUNT}");
  EXPECT_EQ(p.lock_behavior, LockBehavior::kNone);
  EXPECT_TRUE(p.materials.empty());
  const Stage& s = p.stages[0];
  EXPECT_EQ(s.approval.type, Approval::Type::kSuccess);
  EXPECT_TRUE(s.fetch_materials);
  EXPECT_FALSE(s.clean_workspace);
  const Job& j = s.jobs[0];
  EXPECT_EQ(j.run_instances, 0);
  EXPECT_EQ(j.timeout_seconds, 0);
  EXPECT_EQ(j.tasks[0].run_if, RunIf::kPassed);
  EXPECT_TRUE(j.tasks[0].on_cancel.empty());
}

// GoCD's older `locking: on` means lockOnFailure; `off` means none.
TEST(ParserTest, LockingIsLockBehavior) {
  const char* base = R"(
pipelines:
  p:
    locking: %s
    stages: [{s: {jobs: {j: {tasks: [{exec: {command: ls}}]}}}}]
)";
  char buf[512];
  snprintf(buf, sizeof buf, base, "on");
  EXPECT_EQ(ParseOk({{"l.yaml", buf}}).pipelines[0].lock_behavior,
            LockBehavior::kLockOnFailure);
  snprintf(buf, sizeof buf, base, "off");
  EXPECT_EQ(ParseOk({{"l.yaml", buf}}).pipelines[0].lock_behavior,
            LockBehavior::kNone);
}

// A stage may be one job written inline (GoCD's shorthand).
TEST(ParserTest, StageAsSingleJob) {
  Config config = ParseOk({{"s.yaml", Yaml(R"(
pipelines:
  p:
    stages:
      - build:
          approval: manual
          environment_variables: {V: "1"}
          resources: [cpp]
          tasks:
            - exec: {command: make}
)")}});
  const Stage& s = config.pipelines[0].stages[0];
  EXPECT_EQ(s.approval.type, Approval::Type::kManual);
  ASSERT_EQ(s.variables.size(), 1u);
  ASSERT_EQ(s.jobs.size(), 1u);
  EXPECT_EQ(s.jobs[0].name, "build");
  EXPECT_EQ(s.jobs[0].resources, std::vector<std::string>({"cpp"}));
  EXPECT_EQ(s.jobs[0].tasks[0].exec.command, "make");
}

// Files form one config: cross-file materials, fetches and environments
// resolve, environments of one name merge, and format_version is the highest.
TEST(ParserTest, MultipleFiles) {
  Config config = ParseOk({
      {"a.yaml", Yaml(R"(
format_version: 3
pipelines:
  up:
    stages: [{build: {jobs: {b: {tasks: [{exec: {command: b}}]}}}}]
environments:
  prod:
    environment_variables: {A: "1"}
    agents: [x]
    pipelines: [up]
)")},
      {"b.yaml", Yaml(R"(
format_version: 9
pipelines:
  down:
    materials: {up: {pipeline: up, stage: build}}
    stages:
      - deploy:
          jobs:
            d:
              tasks:
                - fetch: {pipeline: up, stage: build, job: b, source: out}
environments:
  prod:
    environment_variables: {B: "2"}
    agents: [x, y]
    pipelines: [down]
)")},
  });
  EXPECT_EQ(config.format_version, 9);
  ASSERT_EQ(config.pipelines.size(), 2u);
  EXPECT_EQ(config.pipelines[0].name, "down");
  EXPECT_EQ(config.pipelines[0].location.file, "b.yaml");
  ASSERT_EQ(config.environments.size(), 1u);
  const Environment& prod = config.environments[0];
  EXPECT_EQ(prod.pipelines, std::vector<std::string>({"up", "down"}));
  EXPECT_EQ(prod.agents, std::vector<std::string>({"x", "y"}));
  ASSERT_EQ(prod.variables.size(), 2u);
  ASSERT_EQ(prod.pipeline_locations.size(), 2u);
  EXPECT_EQ(prod.pipeline_locations[1].file, "b.yaml");
  EXPECT_EQ(prod.pipeline_locations[1].line, 15);
}

// YAML anchors and aliases (in `common:` or anywhere) are resolved; nested
// task and stage lists flatten, as GoCD does.
TEST(ParserTest, AnchorsAndNestedLists) {
  Config config = ParseOk({{"anchors.yaml", Yaml(R"(
common:
  env: &env {SHARED: yes}
  setup: &setup
    - exec: {command: setup}
    - exec: {command: deps}
  stages: &stages
    - one: {jobs: {j: {tasks: [{exec: {command: "1"}}]}}}
pipelines:
  p:
    environment_variables: *env
    stages:
      - *stages
      - two:
          jobs:
            j:
              tasks:
                - *setup
                - exec: {command: test}
)")}});
  const Pipeline& p = config.pipelines[0];
  ASSERT_EQ(p.variables.size(), 1u);
  EXPECT_EQ(p.variables[0].value, "yes");
  ASSERT_EQ(p.stages.size(), 2u);
  EXPECT_EQ(p.stages[0].name, "one");
  const Job& j = p.stages[1].jobs[0];
  ASSERT_EQ(j.tasks.size(), 3u);
  EXPECT_EQ(j.tasks[0].exec.command, "setup");
  EXPECT_EQ(j.tasks[1].exec.command, "deps");
  EXPECT_EQ(j.tasks[2].exec.command, "test");
}

// YAML merge keys (`<<: *anchor`), which GoCD's YAML reader supports:
// written keys win over merged ones, the first merged map over later ones.
TEST(ParserTest, MergeKeys) {
  Config config = ParseOk({{"merge.yaml", Yaml(R"(
common:
  job: &job
    resources: [linux]
    timeout: 5
    tasks: [{exec: {command: make}}]
  more: &more {timeout: 9, run_instances: 2}
pipelines:
  p:
    stages:
      - s:
          jobs:
            a:
              <<: *job
              timeout: 7
            b:
              <<: [*more, *job]
)")}});
  const std::vector<Job>& jobs = config.pipelines[0].stages[0].jobs;
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].resources, std::vector<std::string>({"linux"}));
  EXPECT_EQ(jobs[0].timeout_seconds, 420);
  ASSERT_EQ(jobs[0].tasks.size(), 1u);
  EXPECT_EQ(jobs[0].tasks[0].exec.command, "make");
  EXPECT_EQ(jobs[1].timeout_seconds, 540);
  EXPECT_EQ(jobs[1].run_instances, 2);
  EXPECT_EQ(jobs[1].resources, std::vector<std::string>({"linux"}));
  EXPECT_EQ(jobs[1].tasks.size(), 1u);
}

// An empty file, or one with only comments, is a valid empty config.
TEST(ParserTest, EmptyFiles) {
  ParseResult result = ParseConfig({{"e.yaml", ""}, {"c.yaml", "# nothing\n"}});
  EXPECT_TRUE(result.ok()) << result.ErrorText();
  EXPECT_TRUE(result.config.pipelines.empty());
}

// ParseConfigOrError carries the error text as INVALID_ARGUMENT.
TEST(ParserTest, OrErrorStatus) {
  absl::StatusOr<Config> bad =
      ParseConfigOrError({{"x.yaml", "pipelines: []\n"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "x.yaml:1:12: expected a map for 'pipelines', got a list");
  EXPECT_TRUE(ParseConfigOrError({{"x.yaml", "pipelines: {}\n"}}).ok());
}

// The demo in examples/ (what the quickstart applies) is valid, and is what
// the quickstart expects: hello (build: compile + lint, test) and
// hello-deploy after hello/test, no environments, no resources.
TEST(ParserTest, ShippedExamples) {
  std::vector<ConfigFile> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(GANTRY_EXAMPLES_DIR)) {
    if (entry.path().extension() != ".yaml") continue;
    absl::StatusOr<std::string> content = ReadFile(entry.path().string());
    ASSERT_TRUE(content.ok()) << content.status();
    files.push_back({entry.path().filename().string(), *content});
  }
  ASSERT_FALSE(files.empty());
  Config config = ParseOk(files);
  const Pipeline* hello = config.FindPipeline("hello");
  ASSERT_NE(hello, nullptr);
  EXPECT_EQ(hello->group, "demo");
  EXPECT_TRUE(hello->materials.empty());
  ASSERT_EQ(hello->stages.size(), 2u);
  EXPECT_EQ(hello->stages[0].name, "build");
  ASSERT_EQ(hello->stages[0].jobs.size(), 2u);
  EXPECT_EQ(hello->stages[0].jobs[0].name, "compile");
  EXPECT_EQ(hello->stages[0].jobs[1].name, "lint");
  EXPECT_EQ(hello->stages[1].name, "test");
  EXPECT_EQ(hello->stages[1].jobs.size(), 1u);
  std::vector<const Pipeline*> downstream = config.Downstreams("hello", "test");
  ASSERT_EQ(downstream.size(), 1u);
  EXPECT_EQ(downstream[0]->name, "hello-deploy");
  EXPECT_TRUE(config.environments.empty());
  for (const Pipeline& p : config.pipelines) {
    for (const Stage& s : p.stages) {
      for (const Job& j : s.jobs) EXPECT_TRUE(j.resources.empty()) << j.name;
    }
  }
}

}  // namespace
}  // namespace gantry::config
