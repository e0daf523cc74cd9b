// Every pipeline's pause and lock, in memory beside the runs (RunModel owns
// one): the planner checks them on each trigger and approval without a
// read, changes them through Change(), and the changed rows go to the
// database with the batch that changed them (WriteBatch::pipeline_controls).
//
// What a pause and a lock mean, and when a lock is taken and released, is
// the planner's (planner_controls.cc, docs/config.md "lock_behavior").
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "controller/store/records.h"

namespace gantry {

class PipelineControls {
 public:
  // Replaces everything with the database's rows (start-up, reload).
  void Load(std::vector<store::PipelineRecord> rows);
  // The pipeline's row, or null when it has none yet (never paused, locked
  // or waited).
  const store::PipelineRecord* Find(const std::string& pipeline) const;
  const std::map<std::string, store::PipelineRecord>& all() const { return rows_; }
  // The row for a change (created when absent): written at the next commit.
  store::PipelineRecord& Change(const std::string& pipeline);

  bool dirty() const { return !changed_.empty(); }
  // The changed rows since the last call.
  std::vector<store::PipelineRecord> TakeWrites();

 private:
  std::map<std::string, store::PipelineRecord> rows_;
  std::set<std::string> changed_;
};

}  // namespace gantry
