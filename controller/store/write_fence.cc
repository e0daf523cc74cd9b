#include "controller/store/write_fence.h"

#include <atomic>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace gantry::store {
namespace {

std::atomic<WriteRole> role_{WriteRole::kOff};
std::atomic<int64_t> epoch_{0};
std::atomic<bool> fenced_{false};
std::mutex handler_mu;
std::function<void(const absl::Status&)> handler;

}  // namespace

WriteRole WriteFence::role() { return role_.load(); }
int64_t WriteFence::epoch() { return epoch_.load(); }

void WriteFence::SetStandby() { role_ = WriteRole::kStandby; }

void WriteFence::SetLeader(int64_t epoch) {
  epoch_ = epoch;
  role_ = WriteRole::kLeader;
}

void WriteFence::SetFencedHandler(std::function<void(const absl::Status&)> h) {
  std::lock_guard<std::mutex> lock(handler_mu);
  handler = std::move(h);
}

absl::Status WriteFence::FencedStatus(int64_t found_epoch) {
  return absl::FailedPreconditionError(
      found_epoch == 0
          ? absl::StrCat("fenced: the leader lease (epoch ", epoch_.load(), ") is gone")
          : absl::StrCat("fenced: another controller took the leader lease (epoch ", found_epoch,
                         ", this controller's was ", epoch_.load(), ")"));
}

absl::Status WriteFence::Fenced(int64_t found_epoch) {
  absl::Status st = FencedStatus(found_epoch);
  if (!fenced_.exchange(true)) {
    std::function<void(const absl::Status&)> h;
    {
      std::lock_guard<std::mutex> lock(handler_mu);
      h = handler;
    }
    if (h) h(st);
  }
  return st;
}

}  // namespace gantry::store
