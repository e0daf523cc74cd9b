// The audit log: one append-only row per operator action and agent
// admission (docs/security.md). Record never waits on SQL: entries queue in
// memory and a writer of its own stores them in batches, in order, within
// milliseconds. The table refuses UPDATE and DELETE (migration 0005), and no
// API edits it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "controller/store/db.h"

namespace gantry {

enum class AuditOutcome { kOk, kDenied, kFailed };
const char* AuditOutcomeName(AuditOutcome outcome);  // "ok", "denied", "failed"

struct AuditEntry {
  std::string actor;   // the user; "agent:<name>" for an agent; "" = anonymous
  std::string source;  // the caller's address
  std::string action;  // dotted verb: "config.apply", "stage.approve", "agent.register"
  std::string target;  // what it acted on: "build/12/deploy", "agent deploy-01", "token 7"
  AuditOutcome outcome = AuditOutcome::kOk;
  std::string reason;  // why it was denied or failed; a comment when it held
  absl::Time at = absl::Now();
};

class AuditLog {
 public:
  explicit AuditLog(std::unique_ptr<store::Db> db);
  ~AuditLog();  // stores what is queued, then stops

  // Thread-safe and non-blocking. Past kMaxQueued waiting entries (the
  // database is away) new ones are counted and logged as dropped.
  void Record(AuditEntry entry);
  // Returns once every entry recorded before the call is stored, or the
  // store failed (tests, shutdown).
  void Flush();

  static constexpr size_t kMaxQueued = 100000;

 private:
  void Loop();

  std::unique_ptr<store::Db> db_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<AuditEntry> queue_;
  uint64_t recorded_ = 0;  // entries ever queued
  uint64_t settled_ = 0;   // entries stored or given up on
  uint64_t dropped_ = 0;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace gantry
