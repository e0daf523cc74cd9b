#include "controller/db_pool.h"

namespace gantry {

DbPool::DbPool(std::vector<std::unique_ptr<store::Db>> connections)
    : free_(std::move(connections)), pool_(static_cast<int>(free_.size())) {}

DbPool::~DbPool() { Stop(); }

void DbPool::Stop() { pool_.Shutdown(); }

void DbPool::Post(std::function<void()> fn) { pool_.Post(std::move(fn)); }

void DbPool::WithDb(std::function<void(store::Db&)> fn) {
  pool_.Post([this, fn = std::move(fn)] {
    std::unique_ptr<store::Db> db;
    {
      // As many threads as connections: one is always free here.
      std::lock_guard<std::mutex> lock(mu_);
      db = std::move(free_.back());
      free_.pop_back();
    }
    fn(*db);
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(db));
  });
}

}  // namespace gantry
