#include "common/process/user.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace gantry {
namespace {

absl::StatusOr<UserInfo> FromPasswd(const struct passwd& pw) {
  UserInfo info;
  info.name = pw.pw_name;
  info.uid = pw.pw_uid;
  info.gid = pw.pw_gid;
  info.home = pw.pw_dir ? pw.pw_dir : "";
  int n = 32;
  std::vector<gid_t> groups(n);
  // getgrouplist reports the needed size in `n` when the buffer is short.
  while (getgrouplist(info.name.c_str(), info.gid, groups.data(), &n) < 0) {
    if (n <= static_cast<int>(groups.size())) n = groups.size() * 2;
    groups.resize(n);
  }
  groups.resize(n);
  info.groups = std::move(groups);
  return info;
}

template <typename Lookup>
absl::StatusOr<UserInfo> LookupWith(Lookup lookup, const std::string& what) {
  std::vector<char> buf(16384);
  struct passwd pw;
  struct passwd* result = nullptr;
  int rc;
  while ((rc = lookup(&pw, buf.data(), buf.size(), &result)) == ERANGE) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("looking up user ", what, ": ", std::strerror(rc)));
  }
  if (result == nullptr) {
    return absl::NotFoundError(absl::StrCat("no such user: ", what));
  }
  return FromPasswd(pw);
}

}  // namespace

absl::StatusOr<UserInfo> LookupUser(const std::string& name) {
  return LookupWith(
      [&](struct passwd* pw, char* buf, size_t len, struct passwd** result) {
        return getpwnam_r(name.c_str(), pw, buf, len, result);
      },
      name);
}

absl::StatusOr<UserInfo> LookupUserById(uid_t uid) {
  return LookupWith(
      [&](struct passwd* pw, char* buf, size_t len, struct passwd** result) {
        return getpwuid_r(uid, pw, buf, len, result);
      },
      absl::StrCat("uid ", uid));
}

bool RunningAsRoot() { return geteuid() == 0; }

}  // namespace gantry
