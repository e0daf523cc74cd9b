// GoCD's Quartz timer specs: what they accept, what they refuse, and the
// next time each fires.
#include "common/config/cron.h"

#include "gtest/gtest.h"

namespace gantry::config {
namespace {

absl::Time At(int y, int mo, int d, int h, int mi, int s) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

std::string NextText(const char* spec, absl::Time after) {
  absl::StatusOr<CronSpec> c = CronSpec::Parse(spec);
  if (!c.ok()) return std::string(c.status().message());
  std::optional<absl::Time> t = c->Next(after, absl::UTCTimeZone());
  return t ? absl::FormatTime("%Y-%m-%d %a %H:%M:%S", *t, absl::UTCTimeZone()) : "never";
}

// 2026-12-04 is a Friday.
TEST(CronSpecTest, NextFire) {
  absl::Time fri_2130 = At(2026, 12, 4, 21, 30, 0);
  EXPECT_EQ(NextText("0 0 22 ? * MON-FRI", fri_2130), "2026-12-04 Fri 22:00:00");
  EXPECT_EQ(NextText("0 0 22 ? * MON-FRI", At(2026, 12, 4, 22, 0, 0)), "2026-12-07 Mon 22:00:00");
  EXPECT_EQ(NextText("0 15 10 * * ? *", fri_2130), "2026-12-05 Sat 10:15:00");
  EXPECT_EQ(NextText("*/15 * * * * ?", fri_2130), "2026-12-04 Fri 21:30:15");
  EXPECT_EQ(NextText("5/20 * * * * ?", At(2026, 12, 4, 21, 30, 45)), "2026-12-04 Fri 21:31:05");
  EXPECT_EQ(NextText("0 0 0 29 FEB ? *", fri_2130), "2028-02-29 Tue 00:00:00");
  EXPECT_EQ(NextText("0 0 12 ? JUL,DEC WED,SUN", fri_2130), "2026-12-06 Sun 12:00:00");
  EXPECT_EQ(NextText("0 0 12 1 1 ? 2020", fri_2130), "never");
  EXPECT_EQ(NextText("0 30 9-17/4 ? * 2-6 2027", fri_2130), "2027-01-01 Fri 09:30:00");
}

TEST(CronSpecTest, Refused) {
  EXPECT_EQ(NextText("0 0 22 * *", absl::UnixEpoch()),
            "timer spec '0 0 22 * *' has 5 fields; a Quartz cron expression has 6 or 7: seconds "
            "minutes hours day-of-month month day-of-week [year], e.g. '0 0 22 ? * MON-FRI'");
  EXPECT_EQ(NextText("0 0 22 * * MON", absl::UnixEpoch()),
            "timer spec '0 0 22 * * MON': give '?' in day-of-month or in day-of-week (Quartz "
            "does not combine them), e.g. '0 0 22 ? * MON-FRI'");
  EXPECT_EQ(NextText("0 0 22 L * ?", absl::UnixEpoch()),
            "timer spec: day-of-month field 'L': Quartz's 'L' is not supported by Gantry");
  EXPECT_EQ(NextText("0 0 22 ? * 6#3", absl::UnixEpoch()),
            "timer spec: day-of-week field '6#3': Quartz's '#' is not supported by Gantry");
  EXPECT_EQ(NextText("0 61 22 ? * MON", absl::UnixEpoch()),
            "timer spec: minutes field '61': 61 is out of range 0-59");
  EXPECT_EQ(NextText("0 0 22 ? * FRI-MON", absl::UnixEpoch()),
            "timer spec: day-of-week field 'FRI-MON': the range ends before it starts");
  EXPECT_EQ(NextText("0 0 ? ? * MON", absl::UnixEpoch()),
            "timer spec: hours field '?': '?' is only for day-of-month or day-of-week");
}

}  // namespace
}  // namespace gantry::config
