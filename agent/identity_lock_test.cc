#include "agent/identity_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gantry::agent {
namespace {

std::string TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "identity-lock-XXXXXX").string();
  return ::mkdtemp(pattern.data());
}

// While one agent holds a work dir, a second is refused with the holder's
// pid; once the first lets go, the work dir is free again.
TEST(IdentityLockTest, OneAgentPerWorkDir) {
  const std::string dir = TempDir();
  {
    absl::StatusOr<IdentityLock> first = IdentityLock::Acquire(dir);
    ASSERT_TRUE(first.ok()) << first.status();
    absl::StatusOr<IdentityLock> second = IdentityLock::Acquire(dir);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(absl::StrContains(second.status().message(),
                                  absl::StrCat("another gantry-agent (pid ", ::getpid(), ")")))
        << second.status();
    EXPECT_TRUE(absl::StrContains(second.status().message(), dir + "/agent.json"))
        << second.status();
  }
  EXPECT_TRUE(IdentityLock::Acquire(dir).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gantry::agent
