#include "controller/retention/retention_worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "common/status_macros.h"
#include "controller/deployments_view.h"
#include "controller/store/tx.h"

namespace gantry {
namespace {

// Runs stamped per transaction: stamping is cheap, but each stamped run is
// reported removed before its rows go, so few are in that state at once.
constexpr int kPickLimit = 32;
constexpr int kQueueRead = 16;

// Blob files the sweep looks at per pass: a stat each and one query per
// batch_rows of them. A store of a million files is walked in about 33
// hours of 10-minute passes.
constexpr size_t kSweepBlobs = 5000;
// Younger files are left alone. This controller's uploads hold their
// digests until their rows are committed, but a controller that just lost
// the lease may still be finishing one against shared storage.
constexpr absl::Duration kSweepMinAge = absl::Hours(1);

// Each environment's newest `keep` deploys in today's config, as run ids.
std::vector<int64_t> RecentDeploys(store::Tx& tx, const config::Config& config, int keep) {
  std::vector<int64_t> runs;
  if (keep <= 0) return runs;
  for (const config::Environment& env : config.environments) {
    DeployScope scope = DeployScopeOf(config, env, [](const std::string&) { return true; });
    for (const auto& d : tx.Deployments(scope.pipelines, scope.deploy_stages, keep)) {
      runs.push_back(d.run_id);
    }
  }
  return runs;
}

// The run's stages that say `keep_artifacts: true` (GoCD's "never clean up
// artifacts") in today's config, as GoCD reads it: their files stay.
std::vector<std::string> KeptStages(store::Tx& tx, const config::Config& config, int64_t run_id) {
  std::vector<std::string> kept;
  std::optional<store::PipelineRunRecord> run = tx.GetPipelineRun(run_id);
  const config::Pipeline* pipeline = run ? config.FindPipeline(run->pipeline) : nullptr;
  if (pipeline == nullptr) return kept;
  for (const config::Stage& stage : pipeline->stages) {
    if (stage.keep_artifacts) kept.push_back(stage.name);
  }
  return kept;
}

}  // namespace

RetentionWorker::RetentionWorker(std::unique_ptr<store::Db> db, ConfigCache* configs,
                                 BlobStore* blobs, RetentionPolicy policy)
    : db_(std::move(db)), configs_(configs), blobs_(blobs), policy_(policy) {}

RetentionWorker::~RetentionWorker() { Stop(); }

void RetentionWorker::Start() {
  if (!policy_.enabled()) {
    spdlog::info("retention off (--retain-runs 0 --retain-days 0): nothing is removed");
    return;
  }
  spdlog::info(
      "retention: keeping the newest {} runs of each pipeline, runs of the last {} days and "
      "the newest {} deploys of each environment with their upstream runs; a pass every {}",
      policy_.keep_runs, policy_.keep_days, policy_.keep_deploys,
      absl::FormatDuration(policy_.interval));
  thread_ = std::thread([this] { Loop(); });
}

void RetentionWorker::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool RetentionWorker::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void RetentionWorker::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), policy_.interval);
      if (stopping_) return;
    }
    absl::StatusOr<RetentionStats> stats = RunPass();
    if (!stats.ok()) {
      // The next pass starts over from the queue: nothing is half-done.
      spdlog::warn("retention pass: {}", stats.status().ToString());
      continue;
    }
    if (stats->runs > 0 || stats->artifacts > 0 || stats->console_chunks > 0) {
      spdlog::info(
          "retention: removed the files of {} runs ({} artifacts, {} console chunks; {} blobs, "
          "{} bytes freed)",
          stats->runs, stats->artifacts, stats->console_chunks, stats->blobs - stats->orphan_blobs,
          stats->blob_bytes - stats->orphan_bytes);
    }
    if (stats->orphan_blobs > 0) {
      spdlog::info("retention: removed {} blob files no artifact named ({} bytes freed)",
                   stats->orphan_blobs, stats->orphan_bytes);
    }
  }
}

absl::StatusOr<RetentionStats> RetentionWorker::RunPass() {
  RetentionStats stats;
  RETURN_IF_ERROR(DrainQueue(stats));
  while (!stopping()) {
    ASSIGN_OR_RETURN(std::vector<int64_t> picked, PickRuns());
    if (picked.empty()) break;
    stats.runs += static_cast<int64_t>(picked.size());
    RETURN_IF_ERROR(DrainQueue(stats));
  }
  if (!stopping()) RETURN_IF_ERROR(SweepOrphans(stats));
  return stats;
}

absl::Status RetentionWorker::SweepOrphans(RetentionStats& stats) {
  std::vector<std::string> listed =
      blobs_->ListDigests(sweep_after_, kSweepBlobs, absl::Now() - kSweepMinAge);
  sweep_after_ = listed.size() < kSweepBlobs ? "" : listed.back();
  RetentionStats swept;
  const size_t batch = static_cast<size_t>(std::max(1, policy_.batch_rows));
  for (size_t i = 0; i < listed.size() && !stopping(); i += batch) {
    std::vector<std::string> part(
        listed.begin() + static_cast<std::ptrdiff_t>(i),
        listed.begin() + static_cast<std::ptrdiff_t>(std::min(listed.size(), i + batch)));
    RETURN_IF_ERROR(RemoveBlobs(part, swept));
  }
  stats.blobs += swept.blobs;
  stats.blob_bytes += swept.blob_bytes;
  stats.orphan_blobs += swept.blobs;
  stats.orphan_bytes += swept.blob_bytes;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> RetentionWorker::PickRuns() {
  std::shared_ptr<const config::Config> config = configs_->current();
  std::vector<int64_t> picked;
  RETURN_IF_ERROR(db_->Run("RetentionPick", [&](store::Tx& tx) -> absl::Status {
    std::vector<int64_t> seeds = tx.UnfinishedRunIds();
    for (int64_t id : RecentDeploys(tx, *config, policy_.keep_deploys)) seeds.push_back(id);
    std::vector<int64_t> kept = tx.RunsAndTheirUpstreams(seeds);
    std::vector<int64_t> candidates = tx.RetentionCandidates(
        policy_.keep_runs, int64_t{policy_.keep_days} * 86400, kept, kPickLimit);
    picked = tx.MarkFilesRemoved(candidates);
    return absl::OkStatus();
  }));
  return picked;
}

absl::Status RetentionWorker::DrainQueue(RetentionStats& stats) {
  for (;;) {
    std::vector<int64_t> queue;
    RETURN_IF_ERROR(db_->Run("RetentionQueue", [&](store::Tx& tx) -> absl::Status {
      queue = tx.RetentionQueue(kQueueRead);
      return absl::OkStatus();
    }));
    if (queue.empty()) return absl::OkStatus();
    for (int64_t run_id : queue) {
      for (bool done = false; !done;) {
        if (stopping()) return absl::OkStatus();
        store::RetentionBatch batch;
        RETURN_IF_ERROR(db_->Run("RetentionDelete", [&](store::Tx& tx) -> absl::Status {
          batch = tx.DeleteRunFiles(run_id, policy_.batch_rows,
                                    KeptStages(tx, *configs_->current(), run_id));
          return absl::OkStatus();
        }));
        stats.artifacts += batch.artifacts;
        stats.console_chunks += batch.console_chunks;
        RETURN_IF_ERROR(RemoveBlobs(batch.digests, stats));
        done = batch.done;
      }
    }
  }
}

absl::Status RetentionWorker::RemoveBlobs(const std::vector<std::string>& digests,
                                          RetentionStats& stats) {
  if (digests.empty()) return absl::OkStatus();
  auto referenced =
      [this](const std::vector<std::string>& ds) -> absl::StatusOr<std::set<std::string>> {
    std::set<std::string> in_use;
    RETURN_IF_ERROR(db_->Run("ReferencedDigests", [&](store::Tx& tx) -> absl::Status {
      std::vector<std::string> rows = tx.ReferencedDigests(ds);
      in_use = std::set<std::string>(rows.begin(), rows.end());
      return absl::OkStatus();
    }));
    return in_use;
  };
  ASSIGN_OR_RETURN(BlobStore::Removed removed, blobs_->RemoveUnreferenced(digests, referenced));
  stats.blobs += removed.files;
  stats.blob_bytes += removed.bytes;
  return absl::OkStatus();
}

}  // namespace gantry
