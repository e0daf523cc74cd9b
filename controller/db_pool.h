// A few threads, each task run with a free database connection of its own:
// work that must not run on gRPC threads and must not queue behind the
// scheduler's single writer (reads, artifact bookkeeping and file I/O).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "controller/executor.h"
#include "controller/store/db.h"

namespace gantry {

class DbPool {
 public:
  // One thread per connection.
  explicit DbPool(std::vector<std::unique_ptr<store::Db>> connections);
  ~DbPool();

  // Runs `fn` on a pool thread with a connection no other task holds.
  void WithDb(std::function<void(store::Db&)> fn);
  // Runs `fn` on a pool thread (file I/O that needs no connection).
  void Post(std::function<void()> fn);
  // Runs queued tasks, then stops; later tasks are dropped.
  void Stop();

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<store::Db>> free_;
  WorkerPool pool_;
};

}  // namespace gantry
