// GoCD YAML as GoCD users bring it: the keys GoCD's export writes, script
// tasks, elastic profiles, templates and parameters, and the messages for
// what Gantry still lacks (docs/config.md, "Coming from GoCD").
#include "common/config/material_filter.h"
#include "common/config/parser.h"
#include "gtest/gtest.h"

namespace gantry::config {
namespace {

using Lines = std::vector<std::string>;

std::string Yaml(const char* text) {
  std::string s(text);
  if (!s.empty() && s[0] == '\n') s.erase(0, 1);
  return s;
}

Lines ErrorsOf(const std::vector<ConfigFile>& files) {
  ParseResult result = ParseConfig(files);
  Lines out;
  for (const ConfigError& e : result.errors) out.push_back(e.ToString());
  return out;
}

Lines Errors(const char* yaml) { return ErrorsOf({{"c.yaml", Yaml(yaml)}}); }

Config Parse(const std::vector<ConfigFile>& files) {
  ParseResult result = ParseConfig(files);
  EXPECT_TRUE(result.ok()) << result.ErrorText();
  return result.config;
}

Config Parse(const char* yaml) { return Parse({{"c.yaml", Yaml(yaml)}}); }

// What GoCD's "export as YAML" writes is accepted; display_order changes
// nothing, the others are kept with their meaning.
TEST(GoCDCompatTest, ExportKeys) {
  Config c = Parse(R"(
format_version: 10
pipelines:
  up:
    display_order: -1
    stages: [{build: {keep_artifacts: false, tasks: [{exec: {command: ls}}]}}]
  down:
    group: g
    display_order: 4
    materials:
      u: {pipeline: up, stage: build, ignore_for_scheduling: true}
    stages:
      - test:
          keep_artifacts: true
          approval: auto
          jobs:
            j:
              elastic_profile_id: docker-large
              tabs: {report: reports/index.html, coverage: cov/index.html}
              tasks: [{exec: {command: ls}}]
)");
  const Pipeline* down = c.FindPipeline("down");
  ASSERT_NE(down, nullptr);
  EXPECT_TRUE(down->stages[0].keep_artifacts);
  EXPECT_FALSE(c.FindPipeline("up")->stages[0].keep_artifacts);
  EXPECT_EQ(down->stages[0].approval.type, Approval::Type::kSuccess);
  const Job& j = down->stages[0].jobs[0];
  EXPECT_EQ(j.elastic_profile_id, "docker-large");
  EXPECT_EQ(ElasticProfileResource(j.elastic_profile_id), "elastic-docker-large");
  ASSERT_EQ(j.tabs.size(), 2u);
  EXPECT_EQ(j.tabs[0], std::make_pair(std::string("report"), std::string("reports/index.html")));
  EXPECT_TRUE(down->materials[0].ignore_for_scheduling);
  // The upstream passing does not trigger it.
  EXPECT_TRUE(c.Downstreams("up", "build").empty());
}

// ignore_for_scheduling is accepted on a git material too (polled, never
// triggers); an empty profile id is a mistake.
TEST(GoCDCompatTest, ExportKeysMisused) {
  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    materials:
      g: {git: "https://example.org/x.git", ignore_for_scheduling: true}
    stages: [{s: {elastic_profile_id: "", tasks: [{exec: {command: ls}}]}}]
  q:
    stages: [{s: {elastic_profile_id: "docker large", tasks: [{exec: {command: ls}}]}}]
)"),
            Lines({"c.yaml:5:39: elastic_profile_id is empty",
                   "c.yaml:7:39: invalid elastic_profile_id 'docker large': use letters, digits, "
                   "'-', '_' and '.'"}));
}

// Git material credentials: `username` and `encrypted_password` (a Gantry
// ciphertext) are read; GoCD's plain `password`, a value that is not a
// ciphertext, a password without a user, and credentials both in the URL
// and as keys are refused.
TEST(GoCDCompatTest, GitMaterialCredentials) {
  Config c = Parse(R"(
pipelines:
  p:
    materials:
      a: {git: "https://example.org/a.git", username: bot, encrypted_password: "AES256GCM:0011aabb:bm9uY2U="}
    stages: [{s: {tasks: [{exec: {command: ls}}]}}]
)");
  const Material& a = c.FindPipeline("p")->materials[0];
  EXPECT_EQ(a.username, "bot");
  EXPECT_EQ(a.encrypted_password, "AES256GCM:0011aabb:bm9uY2U=");
  EXPECT_EQ(a.url, "https://example.org/a.git");

  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    materials:
      a: {git: "https://example.org/a.git", destination: a, username: bot, password: hunter2}
      b: {git: "https://example.org/b.git", destination: b, username: bot, encrypted_password: "xyz"}
      c: {git: "https://example.org/c.git", destination: c, encrypted_password: "AES256GCM:00:AA=="}
      d: {git: "https://u:p@example.org/d.git", destination: d, username: bot}
    stages: [{s: {tasks: [{exec: {command: ls}}]}}]
)"),
            Lines({"c.yaml:4:76: 'password' would keep the password in plain text: give "
                   "'encrypted_password' with the output of `gantry secret encrypt`",
                   "c.yaml:5:96: 'encrypted_password' is not a Gantry ciphertext: make one with "
                   "`gantry secret encrypt` (GoCD's encrypted values cannot be read)",
                   "c.yaml:6:7: git material 'c' has 'encrypted_password' but no 'username'",
                   "c.yaml:7:7: git material 'd': give credentials either in the URL or as "
                   "'username'/'encrypted_password', not both"}));
}

// Material filters: `ignore` and its old name `blacklist`, `includes` and
// its old name `whitelist`; one per material; Ant-style patterns.
TEST(GoCDCompatTest, MaterialFilters) {
  Config c = Parse(R"(
pipelines:
  p:
    materials:
      a: {git: "https://example.org/a.git", destination: a, ignore: ["docs/**", "*.md"]}
      b: {git: "https://example.org/b.git", destination: b, blacklist: [README]}
      c: {git: "https://example.org/c.git", destination: c, whitelist: [src]}
      d: {git: "https://example.org/d.git", destination: d, includes: ["src/**/*.cc"],
          ignore_for_scheduling: true}
    stages: [{s: {tasks: [{exec: {command: ls}}]}}]
)");
  const Pipeline& p = c.pipelines[0];
  EXPECT_EQ(p.materials[0].ignore, (std::vector<std::string>{"docs/**", "*.md"}));
  EXPECT_EQ(p.materials[1].ignore, std::vector<std::string>{"README"});
  EXPECT_EQ(p.materials[2].includes, std::vector<std::string>{"src"});
  EXPECT_TRUE(p.materials[3].ignore_for_scheduling);

  EXPECT_TRUE(PathMatchesPattern("docs/**", "docs/a/b.txt"));
  EXPECT_TRUE(PathMatchesPattern("*.md", "README.md"));
  EXPECT_FALSE(PathMatchesPattern("*.md", "docs/README.md"));  // `*` stays in one segment
  EXPECT_TRUE(PathMatchesPattern("**/*.md", "docs/README.md"));
  EXPECT_TRUE(PathMatchesPattern("**/*.md", "README.md"));
  EXPECT_TRUE(PathMatchesPattern("src", "src/x/y.cc"));  // a directory: what is below
  EXPECT_FALSE(PathMatchesPattern("src", "srcs/y.cc"));
  EXPECT_TRUE(PathMatchesPattern("src/**/*.cc", "src/y.cc"));
  EXPECT_TRUE(PathMatchesPattern("src/?.cc", "src/y.cc"));
  EXPECT_FALSE(PathMatchesPattern("src/?.cc", "src/yy.cc"));

  // ignore: triggers unless every file is ignored.
  EXPECT_FALSE(FilesTrigger(p.materials[0], {"docs/x.txt", "NOTES.md"}));
  EXPECT_TRUE(FilesTrigger(p.materials[0], {"docs/x.txt", "main.cc"}));
  // includes: triggers only if some file is included.
  EXPECT_TRUE(FilesTrigger(p.materials[2], {"docs/x.txt", "src/main.cc"}));
  EXPECT_FALSE(FilesTrigger(p.materials[2], {"docs/x.txt"}));
  // Nothing listed (a merge): triggers.
  EXPECT_TRUE(FilesTrigger(p.materials[2], {}));

  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    materials:
      a: {git: "https://example.org/a.git", ignore: [docs], whitelist: [src]}
      u: {pipeline: q, stage: s, ignore: [docs]}
    stages: [{s: {tasks: [{exec: {command: ls}}]}}]
  q:
    stages: [{s: {tasks: [{exec: {command: ls}}]}}]
)"),
            Lines({"c.yaml:4:61: give one filter per material: 'whitelist' and 'ignore' both set "
                   "one ('blacklist' is the old name of 'ignore', 'whitelist' of 'includes')",
                   "c.yaml:5:34: 'ignore' does not apply to a dependency material"}));
}

// `script` in its three spellings: the shorthand, the map with run_if and
// on_cancel, and GoCD's full plugin form; all run as `bash -c SCRIPT`.
TEST(GoCDCompatTest, ScriptTasks) {
  Config c = Parse(R"(
pipelines:
  p:
    stages:
      - s:
          tasks:
            - script: |
                ./build.sh compile
                make test
            - script:
                script: echo cleanup
                run_if: any
                on_cancel: {script: echo cancelled}
            - plugin:
                configuration: {id: script-executor, version: 1}
                options: {script: ./deploy.sh}
                run_if: failed
)");
  const std::vector<Task>& tasks = c.pipelines[0].stages[0].jobs[0].tasks;
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0].exec.command, "bash");
  EXPECT_EQ(tasks[0].exec.arguments,
            std::vector<std::string>({"-c", "./build.sh compile\nmake test\n"}));
  EXPECT_EQ(tasks[0].script, "./build.sh compile\nmake test\n");
  EXPECT_EQ(tasks[1].run_if, RunIf::kAny);
  ASSERT_EQ(tasks[1].on_cancel.size(), 1u);
  EXPECT_EQ(tasks[1].on_cancel[0].exec.arguments,
            std::vector<std::string>({"-c", "echo cancelled"}));
  EXPECT_EQ(tasks[2].script, "./deploy.sh");
  EXPECT_EQ(tasks[2].run_if, RunIf::kFailed);
}

TEST(GoCDCompatTest, ScriptTaskErrors) {
  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    stages:
      - s:
          tasks:
            - script:
            - plugin: {configuration: {id: xunit.converter}, options: {a: b}}
            - plugin: {configuration: {id: script-executor}, options: {script: ls, shtype: zsh}}
            - exec: {command: ls}
)"),
            Lines({"c.yaml:6:15: script task is empty",
                   "c.yaml:7:15: task plugin 'xunit.converter' is not supported by Gantry (only "
                   "script-executor, as 'script')",
                   "c.yaml:8:92: shtype 'zsh' is not supported by Gantry: scripts run with "
                   "bash"}));
}

// Each unsupported construct gets its own message, and not the errors that
// would follow from it.
TEST(GoCDCompatTest, MessagesForWhatIsMissing) {
  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    label_template: "${git[:8]}-${COUNT}"
    materials:
      git:
        plugin_configuration: {id: github.pr, version: 1}
        options: {url: "https://github.com/x/y"}
    stages:
      - s:
          tasks:
            - fetch:
                artifact_origin: external
                pipeline: up
                stage: s
                job: j
                artifact_id: image
  q:
    template: missing
    materials:
      p: {pipeline: p, stage: s}
  r:
    materials:
      q: {pipeline: q, stage: DockerBuild}
    stages: [{s: {tasks: [{fetch: {pipeline: q, stage: DockerBuild, job: j, source: x}}]}}]
)"),
            Lines({"c.yaml:3:21: label_template: '${git[:8]}' refers to material 'git', whose "
                   "type 'plugin' is not supported by Gantry",
                   "c.yaml:6:9: material type 'plugin' (marked by 'plugin_configuration') is "
                   "not supported by Gantry",
                   "c.yaml:12:34: artifact_origin 'external' (a fetch from an external artifact "
                   "store) is not supported by Gantry",
                   "c.yaml:16:17: 'artifact_id' is not supported by Gantry",
                   "c.yaml:18:15: template 'missing' is not defined: define it under a "
                   "top-level 'templates:' section, in any of the config files"}));
}

// An error inside an anchor is reported where each alias is used, naming
// the line it is written at; `common:` itself is not read.
TEST(GoCDCompatTest, ErrorsThroughAliases) {
  EXPECT_EQ(Errors(R"(
common:
  build: &build
    - exec: {comand: make}
pipelines:
  a:
    stages: [{s: {tasks: *build}}]
  b:
    stages: [{s: {tasks: *build}}]
)"),
            Lines({"c.yaml:6:26: unknown key 'comand' in exec task; did you mean 'command'? "
                   "(through the alias used here; written at line 3:14)",
                   "c.yaml:6:26: exec task has no 'command' (through the alias used here; "
                   "written at line 3:7)",
                   "c.yaml:8:26: unknown key 'comand' in exec task; did you mean 'command'? "
                   "(through the alias used here; written at line 3:14)",
                   "c.yaml:8:26: exec task has no 'command' (through the alias used here; "
                   "written at line 3:7)"}));
}

// A template from another file, with parameters in its values and in the
// pipeline's own; "##" is a literal '#'.
TEST(GoCDCompatTest, TemplatesAcrossFiles) {
  Config c = Parse({{"templates.yaml", Yaml(R"(
templates:
  build-and-test:
    stages:
      - build:
          jobs:
            compile:
              resources: ["#{os}"]
              tasks:
                - exec: {command: make, arguments: ["TARGET=#{target}", "##{not-a-param}"]}
      - test:
          tasks: [{script: "./test.sh #{target} ## comment"}]
)")},
                    {"pipelines.yaml", Yaml(R"(
pipelines:
  app:
    template: build-and-test
    parameters: {os: linux, target: app, repo: "https://example.org/app.git"}
    label_template: "#{target}-${COUNT}"
    materials:
      src: {git: "#{repo}"}
  lib:
    template: BUILD-AND-TEST
    parameters: {os: windows, target: lib}
)")}});
  const Pipeline* app = c.FindPipeline("app");
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->template_name, "build-and-test");
  ASSERT_EQ(app->stages.size(), 2u);
  EXPECT_EQ(app->label_template, "app-${COUNT}");
  EXPECT_EQ(app->materials[0].url, "https://example.org/app.git");
  const Job& compile = app->stages[0].jobs[0];
  EXPECT_EQ(compile.resources, std::vector<std::string>({"linux"}));
  EXPECT_EQ(compile.tasks[0].exec.arguments,
            std::vector<std::string>({"TARGET=app", "#{not-a-param}"}));
  EXPECT_EQ(app->stages[1].jobs[0].tasks[0].script, "./test.sh app # comment");
  const Pipeline* lib = c.FindPipeline("lib");
  ASSERT_NE(lib, nullptr);
  EXPECT_EQ(lib->stages[0].jobs[0].resources, std::vector<std::string>({"windows"}));
  EXPECT_EQ(lib->stages[0].jobs[0].tasks[0].exec.arguments[0], "TARGET=lib");
}

// An error inside a template names the template's line and each pipeline
// that uses it; parameter mistakes follow GoCD's rules.
TEST(GoCDCompatTest, TemplateAndParameterErrors) {
  EXPECT_EQ(
      ErrorsOf({{"t.yaml", Yaml(R"(
templates:
  t:
    stages:
      - s:
          tasks:
            - exec: {command: "#{tool}", run_if: sometimes}
)")},
                {"p.yaml", Yaml(R"(
pipelines:
  a:
    template: t
    parameters: {tool: make}
  b:
    template: t
    stages: [{s: {tasks: [{exec: {command: ls}}]}}]
  c:
    parameters: {x: 1}
    stages: [{s: {tasks: [{exec: {command: "echo #{x} # #{y} #{z"}}]}}]
  d:
    stages: [{s: {tasks: [{exec: {command: "echo # comment #{x}"}}]}}]
  e:
    template: t
)")}}),
      Lines({"p.yaml:6:5: pipeline 'b' has both 'stages' and 'template': give one of them",
             "p.yaml:10:44: '#' must start a parameter ('#{NAME}') or be doubled ('##' for a "
             "'#'), as in GoCD, in a pipeline with parameters or a template",
             "p.yaml:12:44: parameter 'x' is not defined: a pipeline that uses it, directly or "
             "through its template, must define it under 'parameters'",
             "t.yaml:6:31: parameter 'tool' is not defined: a pipeline that uses it, directly "
             "or through its template, must define it under 'parameters' (in template 't', "
             "used by pipeline 'e' at p.yaml:13:3)",
             "t.yaml:6:50: invalid run_if 'sometimes': expected one of passed, failed, any (in "
             "template 't', used by pipeline 'a' at p.yaml:2:3)",
             "t.yaml:6:50: invalid run_if 'sometimes': expected one of passed, failed, any (in "
             "template 't', used by pipeline 'e' at p.yaml:13:3)"}));
}

// A template without stages is an error of its own, once, not one per user.
TEST(GoCDCompatTest, EmptyTemplate) {
  EXPECT_EQ(Errors(R"(
templates:
  t: {stages: []}
pipelines:
  a: {template: t}
  b: {template: t}
)"),
            Lines({"c.yaml:2:3: template 't' has no stages"}));
}

// A template is read again for each pipeline using it: that counts against
// the limit on expanded nodes, so many small pipelines cannot make a
// configuration of millions of nodes.
TEST(GoCDCompatTest, TemplateExpansionIsLimited) {
  std::string yaml = R"(
templates:
  t:
    stages:
      - s:
          jobs:
            a: {tasks: [{exec: {command: ls, arguments: [a, b, c, d]}}]}
            b: {tasks: [{exec: {command: ls, arguments: [a, b, c, d]}}]}
pipelines:
)";
  for (int i = 0; i < 40; ++i) yaml += "  p" + std::to_string(i) + ": {template: t}\n";
  Limits limits;
  limits.max_expanded_nodes = 500;
  ParseResult r = ParseConfig({{"c.yaml", Yaml(yaml.c_str())}}, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.errors[0].message.find("with templates and parameters expanded; that is the limit "
                                     "on template expansion"),
            std::string::npos)
      << r.ErrorText();
  // Under the limit, every pipeline gets the stages.
  limits.max_expanded_nodes = 300'000;
  r = ParseConfig({{"c.yaml", Yaml(yaml.c_str())}}, limits);
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_EQ(r.config.pipelines.size(), 40u);
  EXPECT_EQ(r.config.pipelines[39].stages[0].jobs.size(), 2u);
}

// GoCD's timer: a Quartz spec (with seconds), checked when read; the
// controller fires it (controller/scheduling/timer_schedule.h).
TEST(GoCDCompatTest, Timers) {
  ParseResult r = ParseConfig({{"c.yaml", Yaml(R"(
pipelines:
  nightly:
    timer: {spec: "0 0 22 ? * MON-FRI", only_on_changes: true}
    stages: [{s: {tasks: [{exec: {command: ls}}]}}]
)")}});
  ASSERT_EQ(r.config.pipelines.size(), 1u);
  const Pipeline& nightly = r.config.pipelines[0];
  EXPECT_EQ(nightly.timer.spec, "0 0 22 ? * MON-FRI");
  EXPECT_TRUE(nightly.timer.only_on_changes);
  EXPECT_EQ(nightly.timer.location.line, 3);
  EXPECT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_EQ(Errors(R"(
pipelines:
  a:
    timer: {spec: "0 0 22 * * *"}
    stages: [{s: {tasks: [{exec: {command: ls}}]}}]
  b:
    timer: {only_on_changes: yes}
    stages: [{s: {tasks: [{exec: {command: ls}}]}}]
)"),
            Lines({"c.yaml:3:19: timer spec '0 0 22 * * *': give '?' in day-of-month or in "
                   "day-of-week (Quartz does not combine them), e.g. '0 0 22 ? * MON-FRI'",
                   "c.yaml:6:5: timer has no 'spec'"}));
}

}  // namespace
}  // namespace gantry::config
