// The scheduler's memory of every unfinished run: the rows the planner
// decides on, so a state change costs no reads. It also records which rows
// changed since the last commit, and hands them to the store as one
// WriteBatch of row images.
//
// Memory runs ahead of the database between a decision and its commit; a
// commit that fails (or is in doubt) is followed by a full reload, never by
// guessing what committed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/config/model.h"
#include "controller/planner/bad_versions.h"
#include "controller/planner/pipeline_controls.h"
#include "controller/planner/run_configs.h"
#include "controller/store/write_batch.h"

namespace gantry {

struct RunEntry {
  store::PipelineRunRecord run;
  std::vector<store::MaterialRevisionRecord> materials;
  std::vector<store::VariableRecord> variables;
  std::map<int64_t, store::StageRunRecord> stages;  // every attempt, by id (oldest first)
  std::map<int64_t, store::JobRunRecord> jobs;      // every attempt, by id (oldest first)
  std::shared_ptr<const config::Config> config;     // the run's own revision
  // Revisions stage attempts were re-run under (--with-current-config).
  std::map<int64_t, std::shared_ptr<const config::Config>> stage_configs;
  // Approvals of every stage attempt, oldest first.
  std::vector<store::StageApprovalRecord> approvals;
  // A re-run with --and-following: later stages run after it.
  bool rerun_follows = false;

  // The rows, for building views.
  store::RunRows Rows() const;
  // The config `stage` runs under: the run's own unless it was re-run
  // with today's. Null if not loaded.
  const config::Config* ConfigOf(const store::StageRunRecord& stage) const;
  const config::Pipeline* PipelineOf(const store::StageRunRecord& stage) const;
  // The revision number of ConfigOf(stage).
  int64_t RevisionOf(const store::StageRunRecord& stage) const {
    return stage.config_revision != 0 ? stage.config_revision : run.config_revision;
  }
};

class RunModel {
 public:
  // Replaces everything (start-up, or after a failed commit).
  void Reset(std::map<std::string, int64_t> counters);
  void Load(store::RunRows rows, RunConfigs configs);

  RunEntry* FindRun(int64_t run_id);
  RunEntry* FindRun(const std::string& pipeline, int64_t counter);
  RunEntry* RunOfStage(int64_t stage_id);
  RunEntry* RunOfJob(int64_t job_id);
  store::StageRunRecord* FindStage(int64_t stage_id);
  store::JobRunRecord* FindJob(int64_t job_id);
  const std::map<int64_t, RunEntry>& runs() const { return runs_; }

  // Stage runs of pipeline/stage that are queued or building, oldest first.
  std::vector<int64_t> ActiveStages(const std::string& pipeline, const std::string& stage) const;

  int64_t NextCounter(const std::string& pipeline);

  // Creation: the records carry ids reserved beforehand.
  RunEntry& AddRun(RunEntry entry);
  store::StageRunRecord& AddStage(store::StageRunRecord stage);
  store::JobRunRecord& AddJob(store::JobRunRecord job);

  // Access for a change: the row is written at the next commit.
  store::PipelineRunRecord& ChangeRun(int64_t run_id);
  store::StageRunRecord& ChangeStage(int64_t stage_id);
  store::JobRunRecord& ChangeJob(int64_t job_id);
  // Stage state changes go through here so ActiveStages stays exact.
  void SetStageState(int64_t stage_id, StageState state, int64_t finished_at);
  void AddConsole(store::ConsoleChunkRow chunk) { console_.push_back(std::move(chunk)); }
  // Records an approval of a stage's gate (its run is in memory; its stage
  // run, when it names one, too).
  void AddApproval(store::StageApprovalRecord approval);
  // Pause and lock of every pipeline. Reset empties them too (memory may
  // be ahead of the database); LoadControls loads them. Their changes
  // commit with the runs'.
  PipelineControls& controls() { return controls_; }
  void LoadControls(std::vector<store::PipelineRecord> rows) { controls_.Load(std::move(rows)); }
  // Versions marked bad by rollbacks (the same life as the controls).
  BadVersions& bad_versions() { return bad_versions_; }
  const BadVersions& bad_versions() const { return bad_versions_; }
  // A rollback decided now (its stage run is in memory): written at commit.
  void AddRollback(store::RollbackRecord rollback) { rollbacks_.push_back(std::move(rollback)); }
  // Whether the run's re-run goes on to later stages (written at commit).
  void SetRerunFollows(int64_t run_id, bool follows);

  bool dirty() const;
  // The writes since the last call, as row images.
  store::WriteBatch TakeWrites();
  // Forgets runs nothing can change any more without an operator acting on
  // them (they are loaded again then); keeps memory bounded by the work in
  // flight, not by history.
  void EvictFinished();

 private:
  void IndexStage(const store::StageRunRecord& stage);

  std::map<int64_t, RunEntry> runs_;
  std::unordered_map<int64_t, int64_t> run_of_stage_, run_of_job_;
  std::map<std::pair<std::string, std::string>, std::set<int64_t>> active_stages_;
  std::map<std::string, int64_t> counters_;

  std::set<int64_t> new_runs_, changed_runs_, new_stages_, changed_stages_, new_jobs_,
      changed_jobs_;
  std::set<std::string> changed_counters_;
  std::vector<store::ConsoleChunkRow> console_;
  std::vector<store::StageApprovalRecord> approvals_;  // new since the last commit
  PipelineControls controls_;
  BadVersions bad_versions_;
  std::vector<store::RollbackRecord> rollbacks_;  // new since the last commit
  std::vector<std::pair<int64_t, bool>> rerun_follows_;
};

}  // namespace gantry
