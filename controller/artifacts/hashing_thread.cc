#include "controller/artifacts/hashing_thread.h"

namespace gantry {

HashingThread::HashingThread() : thread_([this] { Run(); }) {}

HashingThread::~HashingThread() {
  if (thread_.joinable()) Finish();
}

void HashingThread::Push(std::shared_ptr<const std::string> chunk) {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &HashingThread::HasRoom));
  held_ += chunk->size();
  queue_.push_back(std::move(chunk));
}

std::string HashingThread::Finish() {
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }
  thread_.join();
  return hasher_.FinishHex();
}

void HashingThread::Run() {
  while (true) {
    std::shared_ptr<const std::string> chunk;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &HashingThread::HasWork));
      if (queue_.empty()) return;  // closed and drained
      chunk = std::move(queue_.front());
      queue_.pop_front();
    }
    hasher_.Update(*chunk);
    absl::MutexLock lock(&mu_);
    held_ -= chunk->size();
  }
}

}  // namespace gantry
