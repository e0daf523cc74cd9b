// A queue between the two threads of an artifact upload (one reads and
// hashes, the other sends), bounded by the bytes it holds so that
// memory stays flat whatever the file size.
#pragma once

#include <cstddef>
#include <deque>
#include <utility>

#include "absl/synchronization/mutex.h"

namespace gantry::agent {

template <typename T>
class TransferQueue {
 public:
  explicit TransferQueue(size_t limit_bytes) : limit_(limit_bytes) {}

  // Blocks while the queue holds `limit_bytes` or more. False once
  // aborted: the producer stops.
  bool Push(T item, size_t bytes) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &TransferQueue::HasRoom));
    if (aborted_) return false;
    items_.emplace_back(std::move(item), bytes);
    held_ += bytes;
    return true;
  }
  // Blocks until an item, the end or an abort. False at the end (then
  // aborted() says which).
  bool Pop(T* out) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &TransferQueue::Ready));
    if (aborted_ || items_.empty()) return false;
    *out = std::move(items_.front().first);
    held_ -= items_.front().second;
    items_.pop_front();
    return true;
  }
  // The producer has pushed everything.
  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }
  // Either side gives up; what is queued is dropped.
  void Abort() {
    absl::MutexLock lock(&mu_);
    aborted_ = true;
    items_.clear();
    held_ = 0;
  }
  bool aborted() const {
    absl::MutexLock lock(&mu_);
    return aborted_;
  }

 private:
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return aborted_ || held_ < limit_; }
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return aborted_ || closed_ || !items_.empty();
  }

  const size_t limit_;
  mutable absl::Mutex mu_;
  std::deque<std::pair<T, size_t>> items_ ABSL_GUARDED_BY(mu_);
  size_t held_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace gantry::agent
