// Executors for work that must not run on gRPC threads (SQL, files).
// A Strand runs tasks one at a time, in order, on its own thread: the
// scheduler's single writer. A WorkerPool runs independent tasks on a
// bounded number of threads.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gantry {

class WorkerPool {
 public:
  // `threads` workers; each calls `init(index)` first (e.g. to open its own
  // database connection).
  explicit WorkerPool(int threads, std::function<void(int)> init = nullptr);
  ~WorkerPool();  // drains queued tasks, then joins

  void Post(std::function<void()> task);
  // Runs queued tasks, then stops; later Posts are dropped.
  void Shutdown();
  // True when called from one of this pool's threads.
  bool InPool() const;
  // Tasks posted and not yet started (a metric).
  size_t queued() const;

 private:
  void Loop(int index);

  std::function<void(int)> init_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// A one-thread pool: tasks run in the order posted.
class Strand : public WorkerPool {
 public:
  Strand() : WorkerPool(1) {}
};

}  // namespace gantry
