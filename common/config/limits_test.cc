// Hostile inputs: each limit stops its input at file:line:col with a message
// naming the limit, before anything grows. The two bombs are issue 14's: a
// 643-byte file that stood for 10^10 tasks, and a list splice of 2^30.
#include "common/config/limits.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config/parser.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gantry::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> ErrorsOf(const std::vector<ConfigFile>& files,
                                  const Limits& limits = Limits()) {
  ParseResult result = ParseConfig(files, limits);
  std::vector<std::string> out;
  for (const ConfigError& e : result.errors) out.push_back(e.ToString());
  return out;
}

std::vector<std::string> Errors(const std::string& yaml, const Limits& limits = Limits()) {
  return ErrorsOf({{"c.yaml", yaml}}, limits);
}

std::vector<std::string> HostileFileErrors(const std::string& name) {
  std::string path = absl::StrCat(GANTRY_CONFIG_TESTDATA, "/hostile/", name);
  absl::StatusOr<std::string> content = ReadFile(path);
  EXPECT_TRUE(content.ok()) << content.status();
  return ErrorsOf({{name, content.value_or("")}});
}

// 10 levels of 10 aliases: *a9 stands for 10^9 copies of a task.
TEST(LimitsTest, AliasBombIsRefusedAtTheAliasThatPassesTheLimit) {
  // a0 is 5 nodes, a4 51,111: the fifth alias in a5 passes 300,000.
  EXPECT_THAT(HostileFileErrors("alias-bomb.gocd.yaml"),
              ElementsAre("alias-bomb.gocd.yaml:9:30: alias '*a4' (51111 nodes, 120000 bytes of "
                          "text) takes the config past 300000 nodes with aliases expanded; that is "
                          "the limit on alias expansion"));
}

TEST(LimitsTest, ListSpliceBombIsRefused) {
  // Nested lists of tasks are spliced: *t30 stands for 2^30 tasks.
  std::vector<std::string> errors = HostileFileErrors("splice-bomb.gocd.yaml");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("limit on alias expansion"));
}

TEST(LimitsTest, ExpandedText) {
  std::string big(60 << 10, 'x');
  std::vector<std::string> aliases(200, "*big");
  std::string yaml =
      absl::StrCat("common:\n  - &big ", big, "\n  - [", absl::StrJoin(aliases, ", "), "]\n");
  std::vector<std::string> errors = Errors(yaml);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("takes the config past 8 MiB of text with aliases expanded; "
                                   "that is the limit on alias expansion"));
  EXPECT_THAT(errors[0], HasSubstr("c.yaml:3:"));
}

TEST(LimitsTest, AliasCount) {
  Limits limits;
  limits.max_aliases = 3;
  EXPECT_THAT(Errors("common:\n  - &a x\n  - [*a, *a, *a, *a]\n", limits),
              ElementsAre("c.yaml:3:18: more than 3 aliases; that is the limit on alias uses"));
}

TEST(LimitsTest, AliasInsideWhatItNamesIsACycle) {
  EXPECT_THAT(Errors("common: &a [1, *a]\n"),
              ElementsAre("c.yaml:1:16: alias '*a' is used inside the node it names (a cycle)"));
  EXPECT_THAT(Errors("common: &m {k: *m}\n"),
              ElementsAre("c.yaml:1:16: alias '*m' is used inside the node it names (a cycle)"));
}

TEST(LimitsTest, NestingDepth) {
  std::string deep = std::string(10000, '[') + std::string(10000, ']') + "\n";
  EXPECT_THAT(Errors("common: " + deep),
              ElementsAre("c.yaml:1:72: nested more than 64 levels deep; that is the limit on "
                          "nesting"));
  // Through an alias: 40 levels used 30 levels down.
  std::string forty = std::string(40, '[') + std::string(40, ']');
  std::string yaml = absl::StrCat("common:\n  - &f ", forty, "\n  - ", std::string(30, '['), "*f",
                                  std::string(30, ']'), "\n");
  EXPECT_THAT(Errors(yaml),
              ElementsAre("c.yaml:3:35: nested more than 64 levels deep; that is the limit on "
                          "nesting"));
}

TEST(LimitsTest, Nodes) {
  std::vector<std::string> items(300001, "1");
  std::vector<std::string> errors =
      Errors(absl::StrCat("common: [", absl::StrJoin(items, ","), "]\n"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("more than 300000 YAML nodes; that is the limit on nodes"));
}

TEST(LimitsTest, ScalarLength) {
  std::string yaml = absl::StrCat("common:\n  x: ", std::string(70000, 'y'), "\n");
  EXPECT_THAT(Errors(yaml), ElementsAre("c.yaml:2:6: a scalar of 70000 bytes; the limit on one "
                                        "scalar is 64 KiB"));
}

TEST(LimitsTest, TotalBytesCountAllFiles) {
  std::string half = absl::StrCat("# ", std::string(5 << 20, 'x'), "\n");
  EXPECT_THAT(ErrorsOf({{"a.yaml", half}, {"b.yaml", half}}),
              ElementsAre(absl::StrCat("b.yaml:1:1: the config files come to ", 2 * half.size(),
                                       " bytes with this one; the limit on a configuration "
                                       "(all files together) is 8 MiB")));
}

// yaml-cpp reads a flow collection that may be a key to its end before it
// reports anything, holding every token: such a collection is cut at 128 KiB.
// Reading far ahead through comments, or a long flow list where a value
// stands, is not limited.
TEST(LimitsTest, ReadAhead) {
  std::vector<std::string> items(100000, "x");
  std::string list = absl::StrCat("[", absl::StrJoin(items, ","), "]");
  EXPECT_THAT(Errors(list + "\n"),
              ElementsAre("c.yaml:1:1: a flow collection ('[…') longer than 128 KiB where a key "
                          "may stand (at the start of a line, after '- ' or inside another flow "
                          "collection); that is the limit on read-ahead: write it in block style"));
  std::vector<std::string> errors = Errors(absl::StrCat("common:\n  - a\n  - [", list, "]\n"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("c.yaml:3:5: a flow collection ('[…') longer than 128 KiB"));

  EXPECT_THAT(Errors(absl::StrCat("common: ", list, "\n")), ElementsAre());
  std::string comments;
  for (int i = 0; i < 5000; ++i) comments += "# a comment [with brackets] {and braces}\n";
  EXPECT_THAT(Errors(absl::StrCat("common: 1\n", comments, "pipelines:\n")), ElementsAre());
}

TEST(LimitsTest, NameLength) {
  std::string name(300, 'n');
  std::string yaml = absl::StrCat("pipelines:\n  ", name,
                                  ":\n    stages: [{s: {jobs: {j: {tasks: [{exec: {command: "
                                  "x}}]}}}}]\n");
  EXPECT_THAT(Errors(yaml),
              ElementsAre(absl::StrCat("c.yaml:2:3: pipeline name '", std::string(40, 'n'),
                                       "...' is 300 characters long; the limit on "
                                       "names is 255")));
  // Past YAML's own limit on a key, the parser's "illegal map value" is
  // explained.
  std::string huge(10000, 'n');
  std::vector<std::string> errors = Errors(absl::StrCat("pipelines:\n  ", huge, ":\n    x: 1\n"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("a key longer than 1024 characters"));
  EXPECT_THAT(errors[0], HasSubstr("names have at most 255 characters"));
}

TEST(LimitsTest, InvalidUtf8IsReportedWithItsPosition) {
  EXPECT_THAT(Errors("common:\n  x: ab\xff\n"),
              ElementsAre("c.yaml:2:8: invalid UTF-8: byte 0xff; config files must be UTF-8"));
}

TEST(LimitsTest, ErrorsPastTheCapAreCounted) {
  std::string yaml = "pipelines:\n";
  for (int i = 0; i < 1500; ++i) absl::StrAppend(&yaml, "  -bad", i, ": {}\n");
  ParseResult result = ParseConfig({{"c.yaml", yaml}});
  // Each pipeline has two mistakes: its name and no stages.
  ASSERT_EQ(result.errors.size(), 1000u);
  EXPECT_EQ(result.more_errors, 2000u);
  EXPECT_EQ(result.errors.front().location.line, 2);
  EXPECT_EQ(result.errors.back().location.line, 501);
  EXPECT_THAT(result.ErrorText(), ::testing::EndsWith("\nand 2000 more errors"));
}

TEST(LimitsTest, MessagesAreOneBoundedLine) {
  // An unknown key quoted in full would make a 64 KiB message.
  std::string key = absl::StrCat("\"a\\nb", std::string(5000, 'k'), "\"");
  std::vector<std::string> errors = Errors(absl::StrCat(key, ": 1\n"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_LE(errors[0].size(), 1100u);
  EXPECT_EQ(errors[0].find('\n'), std::string::npos);
}

}  // namespace
}  // namespace gantry::config
