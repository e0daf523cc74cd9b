// The shared artifact path rule: what it normalises and what it refuses.
#include "common/artifact_path.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace gantry {
namespace {

using ::testing::HasSubstr;

// Redundant separators and "." parts are dropped; the result is stable.
TEST(CleanArtifactPathTest, Normalises) {
  EXPECT_EQ(*CleanArtifactPath("a/b.txt"), "a/b.txt");
  EXPECT_EQ(*CleanArtifactPath("./a//./b/"), "a/b");
  EXPECT_EQ(*CleanArtifactPath("app.jar"), "app.jar");
  EXPECT_EQ(*CleanArtifactPath("dir with space/x*y\\z"),
            "dir with space/x*y\\z");
  EXPECT_EQ(*CleanArtifactPath("...hidden/..x/x.."), "...hidden/..x/x..");
  for (const char* p : {"./a//./b/", "a/b", "x/./y"}) {
    std::string once = *CleanArtifactPath(p);
    EXPECT_EQ(*CleanArtifactPath(once), once);
  }
}

// Absolute paths, ".." parts, NUL bytes and empty paths are refused.
TEST(CleanArtifactPathTest, RefusesEscapes) {
  for (std::string bad : {"/etc/passwd", "//x", "..", "../x", "a/../../x",
                          "a/..", "", ".", "./", "//"}) {
    auto r = CleanArtifactPath(bad);
    ASSERT_FALSE(r.ok()) << "'" << bad << "' -> " << *r;
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << bad;
  }
  EXPECT_THAT(CleanArtifactPath("../x").status().message(),
              HasSubstr("'../x' contains '..'"));
  EXPECT_THAT(CleanArtifactPath("/x").status().message(),
              HasSubstr("'/x' is absolute"));
  std::string nul("a\0b", 3);
  EXPECT_THAT(CleanArtifactPath(nul).status().message(), HasSubstr("NUL byte"));
}

// A directory may be the root; otherwise the same rule applies.
TEST(CleanArtifactDirTest, RootAllowed) {
  EXPECT_EQ(*CleanArtifactDir(""), "");
  EXPECT_EQ(*CleanArtifactDir("."), "");
  EXPECT_EQ(*CleanArtifactDir("./pkg/"), "pkg");
  EXPECT_FALSE(CleanArtifactDir("/").ok());
  EXPECT_FALSE(CleanArtifactDir("pkg/../..").ok());
  EXPECT_EQ(JoinArtifactPath("", "a.txt"), "a.txt");
  EXPECT_EQ(JoinArtifactPath("pkg", "a.txt"), "pkg/a.txt");
  EXPECT_EQ(JoinArtifactPath("pkg", ""), "pkg");
}

}  // namespace
}  // namespace gantry
