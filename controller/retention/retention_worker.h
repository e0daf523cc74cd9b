// Removes the artifacts and console logs of runs no retention rule keeps
// (retention_policy.h), in the background: its own thread and database
// connection, nothing posted to the scheduler's strand. A pass
//
//   1. finishes runs picked earlier (the queue survives a restart);
//   2. reads what must stay (unfinished runs, each environment's newest
//      deploys, and every run those took as a material), picks up to a
//      few dozen finished runs outside the policy, and stamps them as
//      removed (`gantry artifact get` reports that and when);
//   3. deletes their rows in transactions of `batch_rows` rows, and after
//      each, the blob files no artifact row names any more;
//
// and repeats 2-3 until nothing is left to pick. Then it sweeps the next
// part of the blob store for files no row names at all (an upload cut off
// between moving its file into place and committing its row), older than
// an hour, so over many passes the whole store is walked.
#pragma once

#include <cstdint>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controller/artifacts/blob_store.h"
#include "controller/config_cache.h"
#include "controller/retention/retention_policy.h"
#include "controller/store/db.h"

namespace gantry {

struct RetentionStats {
  int64_t runs = 0;  // picked by this pass
  int64_t artifacts = 0;
  int64_t console_chunks = 0;
  int64_t blobs = 0;  // files deleted
  int64_t blob_bytes = 0;
  // Of those, found by the sweep: no row had named them.
  int64_t orphan_blobs = 0;
  int64_t orphan_bytes = 0;
};

class RetentionWorker {
 public:
  RetentionWorker(std::unique_ptr<store::Db> db, ConfigCache* configs, BlobStore* blobs,
                  RetentionPolicy policy);
  ~RetentionWorker();  // Stop()

  // Runs a pass every policy.interval from now on (none if !enabled()).
  void Start();
  // Ends the current pass after its current batch and joins.
  void Stop();

  // One pass on the caller's thread.
  absl::StatusOr<RetentionStats> RunPass();

 private:
  void Loop();
  bool stopping() const;
  // Step 2: picks and stamps runs; empty when none is left.
  absl::StatusOr<std::vector<int64_t>> PickRuns();
  // Step 3 for every queued run.
  absl::Status DrainQueue(RetentionStats& stats);
  absl::Status RemoveBlobs(const std::vector<std::string>& digests, RetentionStats& stats);
  // The sweep's next part of the store.
  absl::Status SweepOrphans(RetentionStats& stats);

  std::unique_ptr<store::Db> db_;
  ConfigCache* configs_;
  BlobStore* blobs_;
  const RetentionPolicy policy_;
  std::string sweep_after_;  // where the sweep goes on; "" from the start

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace gantry
