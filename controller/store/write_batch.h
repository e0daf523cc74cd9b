// Everything one batch of planner decisions writes, as row images: new rows
// to insert and the current image of rows that changed. Tx::ApplyWrites
// turns it into a handful of multi-row statements, however many runs,
// stages and jobs the batch touched.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "controller/store/records.h"

namespace gantry::store {

struct RunVariableRow {
  int64_t run_id = 0;
  int32_t position = 0;
  VariableRecord variable;
};

struct RunMaterialRow {
  int64_t run_id = 0;
  MaterialRevisionRecord material;
};

struct ConsoleChunkRow {
  int64_t job_run_id = 0;
  int64_t sequence = 0;
  int64_t start_offset = 0;
  std::string data;
};

struct WriteBatch {
  std::vector<std::pair<std::string, int64_t>> counters;  // pipeline -> last counter
  std::vector<PipelineRunRecord> new_runs;
  std::vector<PipelineRunRecord> changed_runs;
  std::vector<RunMaterialRow> materials;
  std::vector<RunVariableRow> variables;
  std::vector<StageRunRecord> new_stages;
  std::vector<StageRunRecord> changed_stages;
  std::vector<JobRunRecord> new_jobs;
  std::vector<JobRunRecord> changed_jobs;
  std::vector<ConsoleChunkRow> console;
  std::vector<StageApprovalRecord> approvals;  // new ones; never changed
  // Pipelines whose pause, lock or waiting trigger changed (not last_counter).
  std::vector<PipelineRecord> pipeline_controls;
  // Rollbacks decided in the batch, and bad-version marks set or cleared.
  std::vector<RollbackRecord> rollbacks;
  std::vector<BadVersionRecord> bad_marks;
  std::vector<BadVersionRecord> bad_clears;
  // Runs whose re-run goes on to later stages (true) or stops (false).
  std::vector<std::pair<int64_t, bool>> rerun_follows;

  bool empty() const {
    return counters.empty() && new_runs.empty() && changed_runs.empty() && new_stages.empty() &&
           changed_stages.empty() && new_jobs.empty() && changed_jobs.empty() && console.empty() &&
           approvals.empty() && pipeline_controls.empty() && rollbacks.empty() &&
           bad_marks.empty() && bad_clears.empty() && rerun_follows.empty();
  }
};

// Every unfinished run with all of its rows, as loaded at start-up, after a
// failed commit, or for one old run an operator acts on.
struct RunRows {
  PipelineRunRecord run;
  std::vector<MaterialRevisionRecord> materials;
  std::vector<VariableRecord> variables;
  std::vector<StageRunRecord> stages;  // every attempt, oldest first
  std::vector<JobRunRecord> jobs;      // every attempt, oldest first
  // The approvals of every stage attempt, oldest first.
  std::vector<StageApprovalRecord> approvals;
  // A re-run with --and-following goes on past its stage.
  bool rerun_follows = false;
};

}  // namespace gantry::store
