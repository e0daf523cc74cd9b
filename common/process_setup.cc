#include "common/process_setup.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include "absl/synchronization/mutex.h"

namespace gantry {

void TuneMallocForStreaming() {
  // Fixed values also turn off glibc's own threshold adjustment.
  ::mallopt(M_MMAP_THRESHOLD, 8 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 16 << 20);
}

void PrepareServerProcess() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur < limit.rlim_max) {
    rlim_t before = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      spdlog::warn("cannot raise the open-file limit above {}", before);
    }
  }
}

}  // namespace gantry
