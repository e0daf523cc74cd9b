#include "agent/backoff.h"

#include <gtest/gtest.h>

namespace gantry::agent {
namespace {

BackoffOptions Options() {
  BackoffOptions o;
  o.initial = absl::Milliseconds(200);
  o.max = absl::Seconds(10);
  o.multiplier = 2;
  return o;
}

// With the random source at its maximum, the windows double from the initial
// delay and stop at the cap.
TEST(BackoffTest, WindowDoublesUpToTheCap) {
  Backoff backoff(Options(), [] { return 1.0; });
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(200));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(400));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(800));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(1600));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(3200));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(6400));
  EXPECT_EQ(backoff.Next(), absl::Seconds(10));
  EXPECT_EQ(backoff.Next(), absl::Seconds(10));
  EXPECT_EQ(backoff.attempts(), 8);
}

// Full jitter: the delay is the random fraction of the window, never more
// than the window, and out-of-range random values are clamped.
TEST(BackoffTest, JitterScalesWithinTheWindow) {
  double r = 0.5;
  Backoff backoff(Options(), [&] { return r; });
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(100));
  r = 0.0;
  EXPECT_EQ(backoff.Next(), absl::ZeroDuration());
  r = 7.0;  // a broken source must not exceed the window
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(800));
  r = -1.0;
  EXPECT_EQ(backoff.Next(), absl::ZeroDuration());
}

// Reset() starts over from the initial window.
TEST(BackoffTest, ResetReturnsToInitialWindow) {
  Backoff backoff(Options(), [] { return 1.0; });
  for (int i = 0; i < 10; ++i) backoff.Next();
  EXPECT_EQ(backoff.Next(), absl::Seconds(10));
  backoff.Reset();
  EXPECT_EQ(backoff.attempts(), 0);
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(200));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(400));
}

// After a welcomed session ends, the window stops at restart_max while the
// restart window lasts (a restarted controller finds its agents back within
// restart_max), then grows on from there to the full cap.
TEST(BackoffTest, AfterASessionTheCapIsRestartMaxForAWhile) {
  absl::Time now = absl::FromUnixSeconds(1000);
  BackoffOptions o = Options();
  o.restart_max = absl::Milliseconds(800);
  o.restart_window = absl::Seconds(60);
  Backoff backoff(
      o, [] { return 1.0; }, [&] { return now; });
  backoff.ResetAfterSession();
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(200));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(400));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(800));
  for (int i = 0; i < 20; ++i) {
    now += absl::Seconds(2);
    EXPECT_EQ(backoff.Next(), absl::Milliseconds(800)) << i;
  }
  now += absl::Seconds(20);  // 60 s after the session ended
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(1600));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(3200));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(6400));
  EXPECT_EQ(backoff.Next(), absl::Seconds(10));

  // Jitter still spreads the fleet over the whole capped window.
  double r = 0.25;
  Backoff jittered(
      o, [&] { return r; }, [&] { return now; });
  jittered.ResetAfterSession();
  for (int i = 0; i < 5; ++i) jittered.Next();
  EXPECT_EQ(jittered.Next(), absl::Milliseconds(200));
}

// Reset() (no welcomed session) lifts the restart cap.
TEST(BackoffTest, ResetLiftsTheRestartCap) {
  absl::Time now = absl::FromUnixSeconds(1000);
  Backoff backoff(
      Options(), [] { return 1.0; }, [&] { return now; });
  backoff.ResetAfterSession();
  for (int i = 0; i < 5; ++i) EXPECT_LE(backoff.Next(), absl::Milliseconds(800));
  backoff.Reset();
  EXPECT_EQ(backoff.attempts(), 0);
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(200));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(400));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(800));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(1600));
}

// The default random source stays within [0, window] over many draws.
TEST(BackoffTest, DefaultRandomStaysInBounds) {
  Backoff backoff(Options());
  absl::Duration window = absl::Milliseconds(200);
  for (int i = 0; i < 200; ++i) {
    absl::Duration d = backoff.Next();
    EXPECT_GE(d, absl::ZeroDuration());
    EXPECT_LE(d, window);
    window = std::min(absl::Seconds(10), window * 2);
  }
}

}  // namespace
}  // namespace gantry::agent
