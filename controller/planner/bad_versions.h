// Versions marked bad by rollbacks, in memory beside the runs (RunModel owns
// one), so that an upstream trigger is checked without a read. A mark names
// the run that had deployed the version into an environment; the version is
// what that run took from upstream. Marks and clears made by a batch go to
// the database with it (WriteBatch::bad_marks, bad_clears).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controller/store/records.h"
#include "controller/store/write_batch.h"

namespace gantry {

class BadVersions {
 public:
  // Replaces everything with the marks that hold (start-up, reload).
  void Load(std::vector<store::BadVersionRecord> open) { open_ = std::move(open); }

  // The mark in `environment` whose run took upstream/counter, or null.
  const store::BadVersionRecord* FindByUpstream(const std::string& environment,
                                                const std::string& upstream_pipeline,
                                                int64_t upstream_counter) const;
  // The mark in `environment` on the run itself, or null.
  const store::BadVersionRecord* FindByRun(const std::string& environment, int64_t run_id) const;
  const std::vector<store::BadVersionRecord>& open() const { return open_; }

  // Marks (written at the next commit); false when the run is marked already.
  bool Mark(store::BadVersionRecord mark);
  // Clears the marks in `environment` on run pipeline/counter or on runs that
  // took pipeline/counter from upstream; returns them as cleared.
  std::vector<store::BadVersionRecord> Clear(const std::string& environment,
                                             const std::string& pipeline, int64_t counter,
                                             const std::string& by, const std::string& reason,
                                             int64_t now_ms);

  bool dirty() const { return !marks_.empty() || !clears_.empty(); }
  void TakeWrites(store::WriteBatch* batch);

 private:
  std::vector<store::BadVersionRecord> open_;
  std::vector<store::BadVersionRecord> marks_, clears_;  // since the last commit
};

}  // namespace gantry
