#include "controller/artifacts/artifact_limits.h"

#include <string>

#include "gtest/gtest.h"

namespace gantry {
namespace {

TEST(ArtifactLimitsTest, PathsWithinTheLimitsPass) {
  EXPECT_TRUE(CheckStoredPathLength("dist/app.bin").ok());
  std::string deep;
  for (int i = 0; i < 4; ++i) deep += std::string(255, 'd') + "/";
  deep += std::string(1024 - deep.size(), 'f');
  ASSERT_EQ(deep.size(), 1024u);
  EXPECT_TRUE(CheckStoredPathLength(deep).ok());
}

TEST(ArtifactLimitsTest, LongPathsAreRefusedNamingTheLimit) {
  std::string long_path = "dist/" + std::string(5995, 'x');
  absl::Status st = CheckStoredPathLength(long_path);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "artifact path 'dist/" + std::string(52, 'x') +
                              "...' is 6000 bytes long; the limit is 1024 bytes");

  st = CheckStoredPathLength("a/" + std::string(256, 'n'));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "artifact path 'a/" + std::string(55, 'n') +
                              "...' has a name of 256 bytes; the limit on one name in a path "
                              "is 255 bytes");
}

}  // namespace
}  // namespace gantry
