// Who may write, under the leader lease (controller/leader/leader_lease.h).
// Process-wide, like the lease: a controller is either the leader, with the
// epoch it took, or a standby. Every transaction a Db runs (unless the Db is
// marked unfenced: the read pool, the lease's own connection) is checked:
//
//   off      nothing is checked (tools and tests without a lease)
//   standby  the transaction is READ ONLY: a write fails in PostgreSQL
//   leader   the transaction first locks the lease row FOR SHARE and compares
//            its epoch with the one taken; another epoch fails the
//            transaction before anything is written
//
// The row lock makes the check hold until the commit: a takeover (an UPDATE
// of that row) waits for the leader's transactions in flight, and the
// standby ends the old leader's sessions before it takes over, so a leader
// that resumes after a stall (SIGSTOP, a partition) cannot commit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"

namespace gantry::store {

enum class WriteRole { kOff, kStandby, kLeader };

class WriteFence {
 public:
  static WriteRole role();
  static int64_t epoch();
  static void SetStandby();
  static void SetLeader(int64_t epoch);
  // Called once, on the thread whose transaction found another epoch: the
  // controller then stops (it is no longer the leader).
  static void SetFencedHandler(std::function<void(const absl::Status&)> handler);
  // The FAILED_PRECONDITION a fenced transaction returns, naming the epoch
  // found (0: the lease row is gone).
  static absl::Status FencedStatus(int64_t found_epoch);
  // FencedStatus, and the handler called (once per process).
  static absl::Status Fenced(int64_t found_epoch);
};

}  // namespace gantry::store
