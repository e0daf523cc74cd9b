#include "common/config/duration.h"

#include "gtest/gtest.h"

namespace gantry::config {
namespace {

TEST(DurationTest, PlainNumbersAreInTheCallersUnit) {
  EXPECT_EQ(ParseDuration("3", absl::Seconds(1)), absl::Seconds(3));
  EXPECT_EQ(ParseDuration("0.5", absl::Seconds(1)), absl::Milliseconds(500));
  EXPECT_EQ(ParseDuration("10", absl::Minutes(1)), absl::Minutes(10));
  EXPECT_EQ(ParseDuration("0", absl::Minutes(1)), absl::ZeroDuration());
}

TEST(DurationTest, DurationStrings) {
  EXPECT_EQ(ParseDuration("3s", absl::Minutes(1)), absl::Seconds(3));
  EXPECT_EQ(ParseDuration("10m", absl::Seconds(1)), absl::Minutes(10));
  EXPECT_EQ(ParseDuration("1h30m", absl::Seconds(1)), absl::Minutes(90));
  EXPECT_EQ(ParseDuration("250ms", absl::Seconds(1)), absl::Milliseconds(250));
}

TEST(DurationTest, Refused) {
  for (const char* bad : {"", " 3", "3 ", "-1", "-1s", "inf", "1e3", "ten", "3x", ".", "1..2",
                          "99999999999999999999999999999999999999"}) {
    EXPECT_FALSE(ParseDuration(bad, absl::Seconds(1))) << bad;
  }
}

}  // namespace
}  // namespace gantry::config
