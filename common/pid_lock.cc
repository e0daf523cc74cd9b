#include "common/pid_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace gantry {

absl::StatusOr<PidLock> PidLock::Acquire(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) {
      return absl::InternalError(absl::StrCat("cannot lock ", path, ": ", std::strerror(err)));
    }
    std::string pid = n > 0 ? std::string(absl::StripAsciiWhitespace(std::string(buf, n))) : "";
    return absl::FailedPreconditionError(
        pid.empty() ? "held by another process" : absl::StrCat("held by pid ", pid));
  }
  // The holder's pid, for the message above; the lock itself is the flock.
  std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd, 0) == 0) {
    ssize_t ignored = ::pwrite(fd, pid.data(), pid.size(), 0);
    (void)ignored;
  }
  return PidLock(fd);
}

PidLock::~PidLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace gantry
