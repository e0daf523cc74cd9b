// SHA-256 of a big upload on a thread of its own, so that hashing (the
// largest cost of an upload, ~0.6 s per GiB on one core) overlaps with
// writing and checksumming the same bytes on the pool thread. Chunks are
// shared, not copied; at most kQueueBytes wait, beyond which Push blocks and
// the upload slows to the hashing speed.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/crypto.h"

namespace gantry {

class HashingThread {
 public:
  HashingThread();
  // Joins the thread (what is queued is hashed first).
  ~HashingThread();

  HashingThread(const HashingThread&) = delete;
  HashingThread& operator=(const HashingThread&) = delete;

  void Push(std::shared_ptr<const std::string> chunk);
  // Waits for every chunk pushed, then the hex digest. Once only.
  std::string Finish();

 private:
  static constexpr size_t kQueueBytes = 4 << 20;

  void Run();
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_ < kQueueBytes; }
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ || !queue_.empty(); }

  absl::Mutex mu_;
  std::deque<std::shared_ptr<const std::string>> queue_ ABSL_GUARDED_BY(mu_);
  size_t held_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  Sha256Hasher hasher_;  // the thread's alone until it is joined
  std::thread thread_;
};

}  // namespace gantry
