// Looking up local users (for running children as another user and for
// checking what that user may access).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gantry {

struct UserInfo {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;  // primary group
  std::string home;
  std::vector<gid_t> groups;  // all groups, including the primary one
};

// NotFound if there is no such user.
absl::StatusOr<UserInfo> LookupUser(const std::string& name);
absl::StatusOr<UserInfo> LookupUserById(uid_t uid);

// True if the effective user id is 0.
bool RunningAsRoot();

}  // namespace gantry
