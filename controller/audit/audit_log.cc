#include "controller/audit/audit_log.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "controller/store/tx.h"

namespace gantry {

const char* AuditOutcomeName(AuditOutcome outcome) {
  switch (outcome) {
    case AuditOutcome::kOk:
      return "ok";
    case AuditOutcome::kDenied:
      return "denied";
    case AuditOutcome::kFailed:
      return "failed";
  }
  return "failed";
}

AuditLog::AuditLog(std::unique_ptr<store::Db> db) : db_(std::move(db)) {
  writer_ = std::thread([this] { Loop(); });
}

AuditLog::~AuditLog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  writer_.join();
}

void AuditLog::Record(AuditEntry entry) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      if (dropped_++ % 1000 == 0) {
        spdlog::error("audit log: {} entries dropped, the database is not keeping up", dropped_);
      }
      return;
    }
    queue_.push_back(std::move(entry));
    ++recorded_;
  }
  cv_.notify_all();
}

void AuditLog::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t target = recorded_;
  cv_.wait(lock, [&] { return settled_ >= target || stopping_; });
}

void AuditLog::Loop() {
  constexpr size_t kBatch = 500;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything is stored
    std::vector<store::AuditRecord> batch;
    while (!queue_.empty() && batch.size() < kBatch) {
      AuditEntry& e = queue_.front();
      batch.push_back({e.actor, e.source, e.action, e.target, AuditOutcomeName(e.outcome),
                       e.reason, absl::ToUnixMillis(e.at)});
      queue_.pop_front();
    }
    lock.unlock();
    absl::Status st = db_->Run("AppendAudit", [&](store::Tx& tx) {
      tx.AppendAudit(batch);
      return absl::OkStatus();
    });
    if (!st.ok()) spdlog::error("audit log: {} entries not stored: {}", batch.size(), st.ToString());
    lock.lock();
    settled_ += batch.size();
    cv_.notify_all();
  }
}

}  // namespace gantry
