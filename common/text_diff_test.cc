#include "common/text_diff.h"

#include <gtest/gtest.h>

namespace gantry {
namespace {

TEST(TextDiffTest, EqualTextsHaveNoDiff) {
  EXPECT_EQ(UnifiedDiff("a.yaml", "x\ny\n", "x\ny\n"), "");
}

// A changed middle line shows as one hunk with its context.
TEST(TextDiffTest, ChangedLineWithContext) {
  std::string before = "1\n2\n3\n4\n5\n6\n7\n";
  std::string after = "1\n2\n3\nfour\n5\n6\n7\n";
  EXPECT_EQ(UnifiedDiff("p.yaml", before, after),
            "--- a/p.yaml\n+++ b/p.yaml\n@@ -2,5 +2,5 @@\n 2\n 3\n-4\n+four\n 5\n 6\n");
}

TEST(TextDiffTest, FromEmpty) {
  EXPECT_EQ(UnifiedDiff("n", "", "a\n"), "--- a/n\n+++ b/n\n@@ -1,0 +1,1 @@\n+a\n");
}

}  // namespace
}  // namespace gantry
