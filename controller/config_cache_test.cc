#include "controller/config_cache.h"

#include <gtest/gtest.h>

#include <memory>

namespace gantry {
namespace {

std::shared_ptr<const config::Config> AConfig() { return std::make_shared<config::Config>(); }

// The revision in force and those used last stay parsed; the cache does not
// grow with every revision ever applied.
TEST(ConfigCacheTest, KeepsTheCurrentAndTheRecentlyUsedRevisionsOnly) {
  ConfigCache cache;
  const int64_t kept = static_cast<int64_t>(ConfigCache::kKeptRevisions);
  cache.SetCurrent(1, AConfig());
  for (int64_t r = 2; r <= 3 * kept; ++r) cache.Put(r, AConfig());
  EXPECT_TRUE(cache.Holds(1)) << "the revision in force, however old";
  EXPECT_TRUE(cache.Holds(3 * kept));
  EXPECT_TRUE(cache.Holds(2 * kept + 1));
  EXPECT_FALSE(cache.Holds(2 * kept)) << "older than the last " << kept;
  EXPECT_FALSE(cache.Holds(2));

  // A new revision in force: the old one is just another revision now.
  cache.SetCurrent(3 * kept + 1, AConfig());
  EXPECT_EQ(cache.current_revision(), 3 * kept + 1);
  cache.Put(3 * kept + 2, AConfig());
  EXPECT_FALSE(cache.Holds(1));
  EXPECT_TRUE(cache.Holds(3 * kept + 1));
  EXPECT_TRUE(cache.Holds(3 * kept + 2));
}

// After a standby's keys changed: nothing parsed is kept, the config in
// force still answers, and the revision in force reads as unknown until it
// is set again.
TEST(ConfigCacheTest, InvalidateDropsEveryParsedRevision) {
  ConfigCache empty;
  empty.Invalidate();
  EXPECT_EQ(empty.current_revision(), 0) << "no config yet: nothing to parse again";

  ConfigCache cache;
  auto in_force = AConfig();
  cache.Put(1, AConfig());
  cache.SetCurrent(2, in_force);
  cache.Invalidate();
  EXPECT_FALSE(cache.Holds(1));
  EXPECT_FALSE(cache.Holds(2));
  EXPECT_EQ(cache.current_revision(), -1);
  EXPECT_EQ(cache.current(), in_force);
  cache.SetCurrent(2, AConfig());
  EXPECT_EQ(cache.current_revision(), 2);
  EXPECT_TRUE(cache.Holds(2));
}

}  // namespace
}  // namespace gantry
