#include "agent/console.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gantry::agent {
namespace {

std::string FeedAll(SecretMasker& m, const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += m.Feed(p);
  return out + m.Flush();
}

// Every occurrence of a secret is replaced; short values are left alone.
TEST(SecretMaskerTest, MasksEveryOccurrence) {
  SecretMasker m({"hunter2", "ab"});
  EXPECT_EQ(FeedAll(m, {"pw=hunter2 again hunter2\nab ok\n"}),
            "pw=******** again ********\nab ok\n");
}

// A secret split across writes, even one byte at a time, is still masked.
TEST(SecretMaskerTest, MasksAcrossFeedBoundaries) {
  SecretMasker m({"s3cr3t-value"});
  std::string text = "token: s3cr3t-value end\n";
  std::string out;
  for (char c : text) out += m.Feed(std::string(1, c));
  out += m.Flush();
  EXPECT_EQ(out, "token: ******** end\n");
}

// Only a possible secret prefix is held back; the rest is emitted at once,
// and a prefix that turns out not to be the secret is emitted unchanged.
TEST(SecretMaskerTest, HoldsOnlyAPossiblePrefix) {
  SecretMasker m({"password1"});
  EXPECT_EQ(m.Feed("abc pass"), "abc ");
  EXPECT_EQ(m.Feed("port"), "passport");
  EXPECT_EQ(m.Feed("pass"), "");
  EXPECT_EQ(m.Flush(), "pass");
}

// When one secret contains another, the longer one is masked whole.
TEST(SecretMaskerTest, PrefersTheLongestSecret) {
  SecretMasker m({"abc", "abcdef"});
  EXPECT_EQ(FeedAll(m, {"x abcd", "ef y abc z\n"}),
            "x ******** y ******** z\n");
}

// Without secrets, bytes pass straight through, nothing is held.
TEST(SecretMaskerTest, NoSecretsPassThrough) {
  SecretMasker m({});
  EXPECT_EQ(m.Feed("a\0b"), std::string("a\0b"));
  EXPECT_EQ(m.Flush(), "");
}

using Clock = ConsoleBatcher::Clock;

// Bytes are emitted in chunks of at most max_bytes, immediately when full.
TEST(ConsoleBatcherTest, SplitsAtMaxBytes) {
  std::vector<std::string> chunks;
  ConsoleBatcher b(4, std::chrono::milliseconds(100),
                   [&](std::string c) { chunks.push_back(c); });
  auto t0 = Clock::now();
  b.Append("abcdefghij", t0);
  EXPECT_EQ(chunks, (std::vector<std::string>{"abcd", "efgh"}));
  b.Flush();
  EXPECT_EQ(chunks.back(), "ij");
}

// Partial chunks wait until max_delay after their first byte, not longer.
TEST(ConsoleBatcherTest, FlushesAfterMaxDelay) {
  std::vector<std::string> chunks;
  ConsoleBatcher b(1024, std::chrono::milliseconds(100),
                   [&](std::string c) { chunks.push_back(c); });
  auto t0 = Clock::now();
  EXPECT_FALSE(b.deadline().has_value());
  b.Append("one\n", t0);
  b.Append("two\n", t0 + std::chrono::milliseconds(60));
  ASSERT_TRUE(b.deadline().has_value());
  EXPECT_EQ(*b.deadline(), t0 + std::chrono::milliseconds(100));
  b.FlushIfDue(t0 + std::chrono::milliseconds(99));
  EXPECT_TRUE(chunks.empty());
  b.FlushIfDue(t0 + std::chrono::milliseconds(100));
  EXPECT_EQ(chunks, (std::vector<std::string>{"one\ntwo\n"}));
  EXPECT_FALSE(b.deadline().has_value());
}

}  // namespace
}  // namespace gantry::agent
