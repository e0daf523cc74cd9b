// Invalid configurations: each kind of mistake is reported with its exact
// message at file:line:col, and all mistakes are reported, not the first.
#include "common/config/parser.h"
#include "common/files.h"
#include "gtest/gtest.h"

namespace gantry::config {
namespace {

using Lines = std::vector<std::string>;

// Drops the newline that follows R"( so line 1 is the first written line.
std::string Yaml(const char* text) {
  std::string s(text);
  if (!s.empty() && s[0] == '\n') s.erase(0, 1);
  return s;
}

Lines ErrorsOf(const std::vector<ConfigFile>& files) {
  ParseResult result = ParseConfig(files);
  Lines out;
  for (const ConfigError& e : result.errors) out.push_back(e.ToString());
  EXPECT_EQ(result.ok(), out.empty());
  return out;
}

Lines Errors(const char* yaml) { return ErrorsOf({{"c.yaml", Yaml(yaml)}}); }

// A job body that is valid, to keep examples short.
#define JOBS "{jobs: {j: {tasks: [{exec: {command: ls}}]}}}"

// The YAML parser's own message and position, 1-based.
TEST(ParserErrorsTest, YamlSyntax) {
  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    group: a
   bad: b
)"),
            Lines({"c.yaml:4:4: YAML syntax error: end of map not found"}));
  EXPECT_EQ(Errors("a: *nope\n"),
            Lines({"c.yaml:1:4: YAML syntax error: the referenced anchor is "
                   "not defined"}));
}

// A misspelt key is named, with the closest known key when one is close.
TEST(ParserErrorsTest, UnknownKeys) {
  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    stages:
      - s:
          jobs:
            j:
              tasks:
                - exec:
                    comand: make
)"),
            Lines({"c.yaml:8:19: exec task has no 'command'",
                   "c.yaml:9:21: unknown key 'comand' in exec task; did you "
                   "mean 'command'?"}));
  EXPECT_EQ(Errors(R"(
pipeline:
  p: {}
)"),
            Lines({"c.yaml:1:1: unknown key 'pipeline' in the top level; did "
                   "you mean 'pipelines'?"}));
  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    colour: blue
    stages: [{s: )" JOBS R"(}]
)"),
            Lines({"c.yaml:3:5: unknown key 'colour' in pipeline 'p'"}));
}

// GoCD keys Gantry lacks are named as not supported, at the key.
TEST(ParserErrorsTest, NotSupported) {
  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    mingle: {base_url: "https://mingle.example.org"}
    materials:
      old: {svn: "http://svn.example.org/x"}
      new: {type: hg, url: "http://hg.example.org/x"}
      filtered: {git: "https://example.org/x.git", invert_filter: true}
    stages:
      - s:
          jobs:
            j:
              properties: {perf: {source: a.xml, xpath: x}}
              tasks:
                - rake: {target: build}
                - exec: {command: ls}
)"),
            Lines({"c.yaml:3:5: 'mingle' is not supported by Gantry",
                   "c.yaml:5:13: 'svn' is not supported by Gantry",
                   "c.yaml:6:19: material type 'hg' is not supported by Gantry",
                   "c.yaml:7:52: 'invert_filter' is not supported by Gantry",
                   "c.yaml:12:15: 'properties' is not supported by Gantry",
                   "c.yaml:14:19: 'rake' is not supported by Gantry"}));
}

// Wrong shapes say what was expected and what was found.
TEST(ParserErrorsTest, WrongTypes) {
  EXPECT_EQ(
      Errors(R"(
pipelines:
  p:
    materials:
      - src: {git: "https://example.org/x.git"}
    stages:
      - s:
          jobs:
            j:
              timeout: ten
              run_instances: 0
              resources: {linux: true}
              tasks:
                - exec: {command: ls, arguments: -j2}
  q:
    stages:
      s: )" JOBS R"(
  r:
    stages:
      - [s]
)"),
      Lines({"c.yaml:4:7: expected a map for 'materials', got a list",
             "c.yaml:9:24: expected minutes or a duration such as 90s, 5m or "
             "1h30m for 'timeout', got 'ten'",
             "c.yaml:10:30: expected a positive integer (at most 1000) "
             "or 'all' for 'run_instances', got '0'",
             "c.yaml:11:26: expected a list for 'resources', got a map",
             "c.yaml:13:50: expected a list for 'arguments', got '-j2'",
             "c.yaml:16:7: expected a list for 'stages', got a map",
             "c.yaml:19:10: expected a map for 'stages' entry, got 's'"}));
}

// A stage or task whose keys are not indented under its name is one map
// with several keys; the message names them.
TEST(ParserErrorsTest, OneKeyEntries) {
  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    stages:
      - s:
        jobs: {j: {tasks: [{exec: {command: ls}}]}}
      - t:
          jobs:
            j:
              tasks:
                - exec:
                  command: ls
)"),
            Lines({"c.yaml:4:9: expected one key (the stage name) in 'stages' "
                   "entry, got 's' and 'jobs'",
                   "c.yaml:10:19: expected one key (the task type: exec, fetch "
                   "or script) in 'tasks' entry, got 'exec' and 'command'"}));
}

// Duplicate map keys (which YAML parsers silently merge) are reported.
TEST(ParserErrorsTest, DuplicateKeys) {
  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    group: a
    group: b
    materials:
      up: {git: "https://example.org/a.git"}
      up: {git: "https://example.org/b.git"}
    stages:
      - s:
          jobs:
            j: {tasks: [{exec: {command: ls}}]}
            J: {tasks: [{exec: {command: ls}}]}
      - s: )" JOBS R"(
)"),
            Lines({"c.yaml:4:5: duplicate key 'group' (first at c.yaml:3:5)",
                   "c.yaml:7:7: duplicate material 'up' (first at c.yaml:6:7)",
                   "c.yaml:12:13: duplicate job 'J': same as 'j' at "
                   "c.yaml:11:13 (names ignore case)",
                   "c.yaml:13:9: duplicate stage 's' in pipeline 'p' (first "
                   "at c.yaml:9:9)"}));
}

// A pipeline name is global across files: the later one is reported.
TEST(ParserErrorsTest, DuplicatePipelineAcrossFiles) {
  std::string p = "pipelines:\n  build:\n    stages: [{s: " JOBS "}]\n";
  EXPECT_EQ(ErrorsOf({{"a.yaml", p}, {"b.yaml", "\n" + p}}),
            Lines({"b.yaml:3:3: duplicate pipeline 'build' (first at "
                   "a.yaml:2:3)"}));
}

// Names follow GoCD's rule.
TEST(ParserErrorsTest, InvalidNames) {
  EXPECT_EQ(Errors(R"(
pipelines:
  my pipe:
    group: demo group
    stages:
      - .hidden: {jobs: {"j/1": {tasks: [{exec: {command: ls}}]}}}
)"),
            Lines({"c.yaml:2:3: invalid pipeline name 'my pipe': use letters, "
                   "digits, '-', '_' and '.', not starting with '-' or '.', "
                   "at most 255 characters",
                   "c.yaml:3:12: invalid group name 'demo group': use letters, "
                   "digits, '-', '_' and '.', not starting with '-' or '.', "
                   "at most 255 characters",
                   "c.yaml:5:9: invalid stage name '.hidden': use letters, "
                   "digits, '-', '_' and '.', not starting with '-' or '.', "
                   "at most 255 characters",
                   "c.yaml:5:26: invalid job name 'j/1': use letters, "
                   "digits, '-', '_' and '.', not starting with '-' or '.', "
                   "at most 255 characters"}));
}

// Required parts that are missing are named.
TEST(ParserErrorsTest, MissingParts) {
  EXPECT_EQ(Errors(R"(
pipelines:
  nothing: {group: g}
  p:
    materials:
      up: {pipeline: nothing}
      src: {branch: main}
    stages:
      - empty:
      - s:
          jobs:
            idle: {}
            j:
              tasks:
                - exec: {arguments: [x]}
                - fetch: {stage: s}
)"),
            Lines({"c.yaml:2:3: pipeline 'nothing' has no stages",
                   "c.yaml:5:7: dependency material 'up' has no 'stage'",
                   "c.yaml:6:7: material 'src' has no type: give 'git: URL', "
                   "or 'pipeline' and 'stage'",
                   "c.yaml:8:9: stage 'empty' has no jobs",
                   "c.yaml:11:13: job 'idle' has no tasks",
                   "c.yaml:14:19: exec task has no 'command'",
                   "c.yaml:15:19: fetch task has no 'job'",
                   "c.yaml:15:19: fetch task has no 'source' (a directory, or "
                   "a file with 'is_file: true') or 'file'"}));
}

// Dependency materials name an existing pipeline and stage, other than
// their own, and at most one per upstream pipeline (as GoCD).
TEST(ParserErrorsTest, DependencyTargets) {
  EXPECT_EQ(Errors(R"(
pipelines:
  up:
    stages: [{build: )" JOBS R"(}]
  down:
    materials:
      a: {pipeline: upp, stage: build}
      b: {pipeline: up, stage: biuld}
      c: {pipeline: down, stage: s}
      d: {pipeline: up, stage: build}
    stages: [{s: )" JOBS R"(}]
)"),
            Lines({"c.yaml:6:7: material 'a': pipeline 'upp' does not exist; "
                   "did you mean 'up'?",
                   "c.yaml:7:7: material 'b': pipeline 'up' has no stage "
                   "'biuld'; did you mean 'build'?",
                   "c.yaml:8:7: material 'c': pipeline 'down' cannot depend "
                   "on itself",
                   "c.yaml:9:7: pipeline 'up' is already a material of this "
                   "pipeline (as 'b' at c.yaml:7:7)"}));
}

// A cycle is reported once, listing it in trigger order.
TEST(ParserErrorsTest, DependencyCycle) {
  EXPECT_EQ(Errors(R"(
pipelines:
  c:
    materials: {b: {pipeline: b, stage: s}}
    stages: [{s: )" JOBS R"(}]
  a:
    materials: {c: {pipeline: c, stage: s}}
    stages: [{s: )" JOBS R"(}]
  b:
    materials: {a: {pipeline: a, stage: s}}
    stages: [{s: )" JOBS R"(}]
)"),
            Lines({"c.yaml:6:17: dependency cycle: a -> b -> c -> a (each "
                   "pipeline triggers the next)"}));
}

// Fetch sources: this pipeline's earlier stages, or upstream pipelines
// reached through dependency materials, on stages that ran before the
// trigger; the job must exist.
TEST(ParserErrorsTest, Fetch) {
  EXPECT_EQ(Errors(R"(
pipelines:
  root:
    stages: [{make: )" JOBS R"(}, {later: )" JOBS R"(}]
  mid:
    materials: {root: {pipeline: root, stage: make}}
    stages: [{build: )" JOBS R"(}]
  p:
    materials: {mid: {pipeline: mid, stage: build}}
    stages:
      - first: )" JOBS R"(
      - second:
          jobs:
            j:
              tasks:
                - fetch: {stage: second, job: j, source: x}
                - fetch: {stage: third, job: j, source: x}
                - fetch: {pipeline: p, stage: first, job: nope, source: x}
                - fetch: {pipeline: root, stage: make, job: j, source: x}
                - fetch: {pipeline: mid/root, stage: make, job: j, source: x}
                - fetch: {pipeline: root/mid, stage: later, job: j, source: x}
                - fetch: {pipeline: root/mid, stage: make, job: j, source: x}
      - third: )" JOBS R"(
)"),
            Lines({"c.yaml:15:19: fetch: stage 'second' is this task's own "
                   "stage: fetch from an earlier stage",
                   "c.yaml:16:19: fetch: stage 'third' runs after stage "
                   "'second': fetch from an earlier stage",
                   "c.yaml:17:19: fetch: stage 'first' of pipeline 'p' has no "
                   "job 'nope'",
                   "c.yaml:18:19: fetch: pipeline 'root' is not an upstream "
                   "of 'p' (no pipeline material on it)",
                   "c.yaml:19:19: fetch: pipeline 'root' is not an upstream "
                   "of 'p' (no pipeline material on it) in path 'mid/root'",
                   "c.yaml:20:19: fetch: stage 'later' of pipeline 'root' may "
                   "not have run yet: the dependency is on its stage 'make'; "
                   "fetch from that stage or an earlier one"}));
}

// Fixed spellings list the allowed values.
TEST(ParserErrorsTest, BadChoices) {
  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    lock_behavior: locked
    stages:
      - s:
          approval: automatic
          jobs:
            j:
              tasks:
                - exec: {command: ls, run_if: always}
      - t:
          approval: {type: manul}
          jobs: {j: {on_agent_lost: retry, tasks: [{exec: {command: ls}}]}}
)"),
            Lines({"c.yaml:3:20: invalid lock_behavior 'locked': expected one "
                   "of none, lockOnFailure, unlockWhenFinished",
                   "c.yaml:6:21: invalid approval 'automatic': expected one of "
                   "success, manual, auto",
                   "c.yaml:10:47: invalid run_if 'always': expected one of "
                   "passed, failed, any",
                   "c.yaml:12:28: invalid approval type 'manul': expected one "
                   "of success, manual, auto",
                   "c.yaml:13:37: invalid on_agent_lost 'retry': expected one "
                   "of fail, reschedule"}));
}

// Environments name existing pipelines, each pipeline in one environment.
TEST(ParserErrorsTest, Environments) {
  EXPECT_EQ(Errors(R"(
pipelines:
  build:
    stages: [{s: )" JOBS R"(}]
environments:
  staging:
    pipelines: [build, biuld]
  prod:
    pipelines:
      - build
)"),
            Lines({"c.yaml:6:24: environment 'staging': pipeline 'biuld' does "
                   "not exist; did you mean 'build'?",
                   "c.yaml:9:9: pipeline 'build' is already in environment "
                   "'staging' (at c.yaml:6:17)"}));
}

// format_version is an integer from 1 to 10.
TEST(ParserErrorsTest, FormatVersion) {
  EXPECT_EQ(
      Errors("format_version: 11\n"),
      Lines({"c.yaml:1:17: format_version must be from 1 to 10, got 11"}));
  EXPECT_EQ(Errors("format_version: ten\n"),
            Lines({"c.yaml:1:17: expected an integer for 'format_version', "
                   "got 'ten'"}));
}

// Variable names are shell-safe identifiers; values are scalars.
TEST(ParserErrorsTest, Variables) {
  EXPECT_EQ(
      Errors(R"(
pipelines:
  p:
    environment_variables:
      1ST: x
      OK: {nested: map}
      GANTRY_JOB_NAME: mine
      TWICE: a
    secure_variables:
      TWICE: b
    stages: [{s: )" JOBS R"(}]
)"),
      Lines({"c.yaml:4:7: invalid variable name '1ST': use letters, "
             "digits and '_', not starting with a digit",
             "c.yaml:5:11: expected a string for variable 'OK', got a map",
             "c.yaml:6:7: variable 'GANTRY_JOB_NAME': names starting "
             "with GANTRY_ are reserved for Gantry's own",
             "c.yaml:9:7: duplicate variable 'TWICE' (first at "
             "c.yaml:7:7)"}));
}

// Paths written in tasks, materials and artifacts stay inside the work dir;
// several git materials need distinct destinations; labels reference
// materials that exist.
TEST(ParserErrorsTest, PathsMaterialsAndLabels) {
  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    label_template: "${COUNT}-${repo}"
    materials:
      a: {git: "https://example.org/a.git"}
      b: {git: "https://example.org/b.git", destination: ../b}
    stages:
      - s:
          jobs:
            j:
              artifacts: [{build: {source: /etc/passwd}}]
              tasks: [{exec: {command: ls, working_directory: ../..}}]
)"),
            Lines({"c.yaml:3:21: label_template: unknown reference '${repo}': "
                   "use ${COUNT} or a material name, as ${name} or "
                   "${name[:N]}",
                   "c.yaml:5:7: git material 'a' needs a 'destination': with "
                   "several git materials each is checked out into its own "
                   "directory",
                   "c.yaml:6:7: git material 'b' needs a 'destination': with "
                   "several git materials each is checked out into its own "
                   "directory",
                   "c.yaml:6:58: 'destination' must be a relative path inside "
                   "the working directory, got '../b'",
                   "c.yaml:11:44: 'source' must be a relative path inside the "
                   "working directory, got '/etc/passwd'",
                   "c.yaml:12:63: 'working_directory' must be a relative path "
                   "inside the working directory, got '../..'"}));
}

// on_cancel is one level deep.
TEST(ParserErrorsTest, NestedOnCancel) {
  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    stages:
      - s:
          jobs:
            j:
              tasks:
                - exec:
                    command: run
                    on_cancel:
                      exec:
                        command: stop
                        on_cancel: {exec: {command: kill}}
)"),
            Lines({"c.yaml:13:25: an on_cancel task cannot have its own "
                   "'on_cancel'"}));
}

// Task and artifact types, merge keys, documents, and environments split
// over files.
TEST(ParserErrorsTest, TypesDocumentsAndMergedEnvironments) {
  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    stages:
      - s:
          jobs:
            j:
              artifacts:
                - external: {id: x, store_id: s3}
                - logs: {source: log}
              tasks:
                - exce: {command: ls}
                - fetch: {stage: x, job: y, file: f, is_file: false}
              <<: 5
---
pipelines: {}
)"),
            Lines({"c.yaml:8:19: 'external' is not supported by Gantry",
                   "c.yaml:9:19: invalid artifact type 'logs': expected one of "
                   "build, test",
                   "c.yaml:11:19: unknown task type 'exce': expected exec, "
                   "fetch or script; did you mean 'exec'?",
                   "c.yaml:12:19: fetch: pipeline 'p' has no stage 'x'",
                   "c.yaml:12:54: 'is_file' goes with 'source', not 'file'",
                   "c.yaml:13:19: expected a map or a list of maps for merge "
                   "key '<<', got '5'",
                   "c.yaml:15:1: a config file holds one YAML document; this "
                   "is a second one"}));
  EXPECT_EQ(
      ErrorsOf({{"a.yaml",
                 "environments:\n  prod: {environment_variables: {A: x}}\n"},
                {"b.yaml",
                 "environments:\n  prod: {environment_variables: {A: y}}\n"}}),
      Lines({"b.yaml:2:3: environment 'prod': variable 'A' is also set "
             "where this environment is defined at a.yaml:2:3"}));
}

// Errors from all files come sorted by file, line and column, and one bad
// part does not hide the others.
TEST(ParserErrorsTest, AllErrorsSorted) {
  ParseResult result = ParseConfig({
      {"b.yaml", "pipelines:\n  q:\n    stages: [{s: {jobs: {j: {}}}}]\n"},
      {"a.yaml", "format_version: 0\npipelines:\n  p: {stagse: []}\n"},
  });
  EXPECT_EQ(result.ErrorText(),
            "a.yaml:1:17: format_version must be from 1 to 10, got 0\n"
            "a.yaml:3:3: pipeline 'p' has no stages\n"
            "a.yaml:3:7: unknown key 'stagse' in pipeline 'p'; did you mean "
            "'stages'?\n"
            "b.yaml:3:26: job 'j' has no tasks");
}

// Bad input is an error message, never a crash: one-character deletions and
// replacements all over the demo file parse to results whose errors all
// point into the file. (Every 7th position, to keep the test fast.)
TEST(ParserErrorsTest, MutatedInputsAreReportedNotCrashed) {
  absl::StatusOr<std::string> demo =
      ReadFile(std::string(GANTRY_EXAMPLES_DIR) + "/pipelines.gocd.yaml");
  ASSERT_TRUE(demo.ok()) << demo.status();
  int lines = 1;
  for (char c : *demo) lines += c == '\n';
  int refused = 0;
  for (size_t i = 0; i < demo->size(); i += 7) {
    for (char replacement : {'\0', ':', '-', '['}) {
      std::string text = *demo;
      if (replacement == '\0') {
        text.erase(i, 1);
      } else {
        text[i] = replacement;
      }
      ParseResult result = ParseConfig({{"m.yaml", text}});
      refused += !result.ok();
      for (const ConfigError& e : result.errors) {
        ASSERT_EQ(e.location.file, "m.yaml") << e.message;
        ASSERT_GE(e.location.line, 1) << e.message;
        ASSERT_LE(e.location.line, lines + 1) << e.message;
        ASSERT_GE(e.location.column, 1) << e.message;
        ASSERT_FALSE(e.message.empty());
      }
    }
  }
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace gantry::config
