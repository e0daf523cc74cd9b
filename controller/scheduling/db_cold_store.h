// The planner's reads and row ids, over the strand's own connection. Each
// read is a short transaction of its own; ids come from the tables'
// sequences in blocks, so creating rows in memory costs no round trip.
#pragma once

#include <deque>
#include <map>

#include "controller/config_cache.h"
#include "controller/planner/cold_store.h"
#include "controller/store/db.h"

namespace gantry {

class DbColdStore final : public ColdStore, public IdSource {
 public:
  DbColdStore(store::Db* db, ConfigCache* configs) : db_(db), configs_(configs) {}

  absl::StatusOr<std::shared_ptr<const config::Config>> Config(int64_t revision) override;
  absl::StatusOr<std::optional<store::RunRows>> LoadRun(const std::string& pipeline,
                                                        int64_t counter) override;
  absl::StatusOr<std::optional<store::RunRows>> LoadRunOfJob(int64_t job_run_id) override;
  absl::StatusOr<std::optional<std::pair<store::PipelineRunRecord, store::StageRunRecord>>>
  LatestPassedStage(const std::string& pipeline, const std::string& stage) override;
  absl::StatusOr<std::vector<store::DeploymentRecord>> Deployments(
      const std::vector<std::string>& pipelines, const std::vector<std::string>& deploy_stages,
      int64_t limit) override;

  absl::StatusOr<int64_t> Next(IdKind kind) override;
  // Tops every pool up to `count` ids at once (before a batch), so that ids
  // are rarely fetched in the middle of one.
  absl::Status Reserve(size_t count);
  // Ids handed out before a failed commit are simply never used.

 private:
  absl::Status Refill(IdKind kind, size_t count);
  store::Db* db_;
  ConfigCache* configs_;
  std::map<IdKind, std::deque<int64_t>> pools_;
};

}  // namespace gantry
