// GoCD's own YAML config plugin examples, kept in testdata/gocd (see
// docs/config.md, "Coming from GoCD"): those within
// Gantry's features parse, the others are refused naming the key or
// reference at fault.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/config/parser.h"
#include "common/files.h"
#include "gtest/gtest.h"

namespace gantry::config {
namespace {

using Lines = std::vector<std::string>;

ParseResult ParseCorpus(const std::string& name) {
  absl::StatusOr<std::string> content =
      ReadFile(std::string(GANTRY_CONFIG_TESTDATA) + "/gocd/" + name);
  EXPECT_TRUE(content.ok()) << content.status();
  return ParseConfig({{name, content.value_or("")}});
}

Lines ErrorLines(const ParseResult& result) {
  Lines out;
  for (const ConfigError& e : result.errors) out.push_back(e.ToString());
  return out;
}

// The minimal GoCD pipeline reads as written.
TEST(CorpusTest, Simple) {
  ParseResult result = ParseCorpus("simple.gocd.yaml");
  ASSERT_TRUE(result.ok()) << result.ErrorText();
  ASSERT_EQ(result.config.pipelines.size(), 1u);
  const Pipeline& p = result.config.pipelines[0];
  EXPECT_EQ(p.name, "pipe1");
  EXPECT_EQ(p.group, "simple");
  ASSERT_EQ(p.materials.size(), 1u);
  EXPECT_EQ(p.materials[0].name, "mygit");
  EXPECT_EQ(p.materials[0].url, "https://my.example.org/mygit.git");
  EXPECT_EQ(p.materials[0].branch, "master");
  ASSERT_EQ(p.stages.size(), 1u);
  EXPECT_EQ(p.stages[0].name, "build");
  ASSERT_EQ(p.stages[0].jobs.size(), 1u);
  EXPECT_EQ(p.stages[0].jobs[0].tasks[0].exec.command, "make");
  EXPECT_EQ(p.stages[0].jobs[0].tasks[0].location.line, 14);
  EXPECT_EQ(p.stages[0].jobs[0].tasks[0].location.column, 18);
}

// The `common:` anchor holder and aliases used as a whole list, inside a
// list, and as a scalar.
TEST(CorpusTest, Aliases) {
  ParseResult result = ParseCorpus("aliases.gocd.yaml");
  ASSERT_TRUE(result.ok()) << result.ErrorText();
  const Pipeline& p = result.config.pipelines[0];
  ASSERT_EQ(p.stages.size(), 3u);
  EXPECT_EQ(p.stages[0].jobs[0].tasks[0].exec.arguments, std::vector<std::string>({"hello world"}));
  const std::vector<Task>& build = p.stages[1].jobs[0].tasks;
  ASSERT_EQ(build.size(), 2u);
  EXPECT_EQ(build[1].exec.command, "make");
  EXPECT_EQ(build[1].exec.arguments, std::vector<std::string>({"VERBOSE=true"}));
  std::vector<std::string> commands;
  for (const Task& t : p.stages[2].jobs[0].tasks) commands.push_back(t.exec.command);
  EXPECT_EQ(commands, std::vector<std::string>({"init", "make", "test_unit", "test_integration"}));
}

// Material filters: `whitelist` and its new name `includes`.
TEST(CorpusTest, FormatVersions) {
  for (const char* name : {"format-version-10.gocd.yaml", "format-version-9.gocd.yaml"}) {
    ParseResult r = ParseCorpus(name);
    EXPECT_TRUE(r.ok()) << name << ": " << r.ErrorText();
    for (const Pipeline& p : r.config.pipelines) {
      ASSERT_EQ(p.materials.size(), 1u) << name;
      EXPECT_EQ(p.materials[0].includes, (std::vector<std::string>{"externals", "tools"})) << name;
    }
  }
}

// `materials` written as a list.
TEST(CorpusTest, SimpleInvalid) {
  EXPECT_EQ(ErrorLines(ParseCorpus("simple-invalid.gocd.yaml")),
            Lines({"simple-invalid.gocd.yaml:7:7: expected a map for "
                   "'materials', got a list"}));
}

// Two materials under one name (YAML parsers would keep just one).
TEST(CorpusTest, DuplicateMaterials) {
  EXPECT_EQ(ErrorLines(ParseCorpus("duplicate-materials.gocd.yaml")),
            Lines({"duplicate-materials.gocd.yaml:2:3: pipeline 'pipe1' has "
                   "no stages",
                   "duplicate-materials.gocd.yaml:5:7: material 'upstream': "
                   "pipeline 'upstream-pipeline-1' does not exist",
                   "duplicate-materials.gocd.yaml:8:7: duplicate material "
                   "'upstream' (first at duplicate-materials.gocd.yaml:5:7)"}));
}

// "arguments:`" (no space after the colon) makes one odd key; the upstream
// pipeline is not in the file.
TEST(CorpusTest, InvalidMaterials) {
  EXPECT_EQ(ErrorLines(ParseCorpus("invalid-materials.gocd.yaml")),
            Lines({"invalid-materials.gocd.yaml:5:7: material 'upstream': pipeline "
                   "'upstream-pipeline-1' does not exist",
                   "invalid-materials.gocd.yaml:19:20: unknown key 'arguments:` - "
                   "\"-c\" - \"docker build\"' in exec task; did you mean "
                   "'arguments'? (put a space after ':')"}));
}

// The rich example uses several GoCD features Gantry lacks, depends on
// itself and fetches from its own stage; its `tabs` and `script` task are
// accepted, and so is its `timer`.
TEST(CorpusTest, Rich) {
  EXPECT_EQ(ErrorLines(ParseCorpus("rich.gocd.yaml")),
            Lines({"rich.gocd.yaml:7:5: 'tracking_tool' is not supported by Gantry",
                   "rich.gocd.yaml:18:7: material 'upstream': pipeline 'pipe2' "
                   "cannot depend on itself",
                   "rich.gocd.yaml:49:15: 'properties' is not supported by Gantry",
                   "rich.gocd.yaml:54:18: fetch: stage 'build' is this task's own "
                   "stage: fetch from an earlier stage"}));
}

// The plugin's git material fragments, each read as the `materials:` of a
// pipeline: filters (`includes`, `whitelist`) are read; GoCD's own
// encrypted password cannot be (lines count the three lines put before).
ParseResult ParseMaterialPart(const std::string& name) {
  absl::StatusOr<std::string> part =
      ReadFile(std::string(GANTRY_CONFIG_TESTDATA) + "/gocd/parts/materials/" + name);
  EXPECT_TRUE(part.ok()) << part.status();
  std::string yaml = "pipelines:\n  p:\n    materials:\n";
  for (absl::string_view line : absl::StrSplit(part.value_or(""), '\n')) {
    absl::StrAppend(&yaml, "      ", line, "\n");
  }
  absl::StrAppend(&yaml, "    stages: [{s: {tasks: [{exec: {command: ls}}]}}]\n");
  return ParseConfig({{name, yaml}});
}

TEST(CorpusTest, GitMaterialParts) {
  for (const char* name : {"minimal.git.yaml", "auto_update.git.yaml", "minimal-explicit.git.yaml",
                           "minimal-nourl.git.yaml"}) {
    ParseResult r = ParseMaterialPart(name);
    EXPECT_TRUE(r.ok()) << name << ": " << r.ErrorText();
  }
  for (const char* name : {"complete10.git.yaml", "complete9.git.yaml"}) {
    ParseResult r = ParseMaterialPart(name);
    EXPECT_EQ(ErrorLines(r),
              Lines({std::string(name) +
                     ":7:29: 'encrypted_password' is not a Gantry ciphertext: make one with "
                     "`gantry secret encrypt` (GoCD's encrypted values cannot be read)"}))
        << name;
  }
}

}  // namespace
}  // namespace gantry::config
