// The leader lease: of the controllers on one database, one leads and the
// others stand by (docs/operations.md, "Two controllers on one database").
//
// The lease is one row (migration 0019) with an epoch and an expiry in the
// database's time. A standby tries to take it every poll; it succeeds once
// the lease has run out (the leader died, stalled or lost the database), or
// at once when the row names this same controller (its data dir's id: the
// previous process of this data dir, which the data dir's lock proves is
// gone). Before taking over it ends the old holder's database sessions, so
// nothing of the old leader is still in flight; from then on the old
// leader's transactions fail the epoch check (store/write_fence.h).
//
// The leader renews every timeout / 4. Seeing another epoch, or (unless
// `demote_on_expiry` is off) failing to renew for a whole timeout by its own
// monotonic clock, it calls `on_lost`: the controller stops, and a
// supervisor starts it again as a standby.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "controller/store/db.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

struct LeaseOptions {
  // DATA_DIR/controller.id: the same across restarts of one data dir.
  std::string controller_id;
  // Where clients reach this controller (host:port), told to them by a
  // standby ("not the leader (leader at ADDR)").
  std::string address;
  absl::Duration timeout = absl::Seconds(10);
  // A standby's polling period; 0 = min(500 ms, timeout / 10).
  absl::Duration poll = absl::ZeroDuration();
  // Off with the embedded PostgreSQL, which no other controller can reach:
  // an outage there only delays the renewals.
  bool demote_on_expiry = true;
};

class LeaderLease {
 public:
  struct Callbacks {
    // On the lease's thread, once: this controller now leads at `epoch`.
    std::function<void(int64_t epoch)> acquired;
    // On the lease's thread, once: leadership is gone (fenced or expired).
    std::function<void(const absl::Status&)> lost;
    // On the lease's thread, after each poll that left this controller a
    // standby: refresh what a standby serves (tokens, config).
    std::function<void()> standby_poll;
  };

  // `db` is the lease's own connection (unfenced).
  LeaderLease(std::unique_ptr<store::Db> db, LeaseOptions options);
  ~LeaderLease();

  // One attempt, synchronously (before Start): true when this controller
  // now leads.
  absl::StatusOr<bool> TryAcquire();
  void Start(Callbacks callbacks);
  // Stops the thread and, when leading, releases the lease so a standby
  // takes over at once.
  void Stop();

  bool leader() const { return leader_.load(); }
  // Leading, and loaded: the services take calls (set by main once the
  // scheduler has loaded; until then a new leader refuses like a standby).
  bool serving() const { return serving_.load(); }
  void set_serving() { serving_ = true; }
  // Before TryAcquire: the address is known once the server has bound.
  void set_address(std::string address) { options_.address = std::move(address); }
  // What GetLeader answers.
  v1::LeaderInfo Info() const;
  // UNAVAILABLE "not the leader (leader at ADDR)".
  absl::Status NotLeader() const;

  // "ID/PID": this process of the data dir `controller_id`.
  static std::string Instance(const std::string& controller_id);
  // "gantry ID/PID": the application_name of this process's sessions.
  static std::string ApplicationName(const std::string& instance);

 private:
  void Loop();
  void Renew();
  absl::Duration Poll() const;

  std::unique_ptr<store::Db> db_;
  LeaseOptions options_;
  const std::string instance_;
  Callbacks callbacks_;
  std::atomic<bool> leader_{false};
  std::atomic<bool> serving_{false};
  std::atomic<int64_t> epoch_{0};
  // Monotonic time by which the lease runs out unless renewed: a stall of
  // the whole process (SIGSTOP) counts too.
  std::chrono::steady_clock::time_point local_expiry_ ABSL_GUARDED_BY(mu_);
  std::string leader_address_ ABSL_GUARDED_BY(mu_);
  mutable absl::Mutex mu_;
  bool lost_ = false;
  absl::Notification stop_;
  std::thread thread_;
};

// DATA_DIR/controller.id, made on first start.
absl::StatusOr<std::string> LoadControllerId(const std::string& data_dir);

}  // namespace gantry
