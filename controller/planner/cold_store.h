// What the planner reads from the database rather than from memory: old
// config revisions, finished runs an operator acts on again, and the newest
// passed upstream for a manual trigger. Each call is its own short read; the
// planner never reads inside the transaction that commits its decisions.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/model.h"
#include "controller/store/write_batch.h"

namespace gantry {

class ColdStore {
 public:
  virtual ~ColdStore() = default;
  virtual absl::StatusOr<std::shared_ptr<const config::Config>> Config(int64_t revision) = 0;
  // counter 0: the newest run.
  virtual absl::StatusOr<std::optional<store::RunRows>> LoadRun(const std::string& pipeline,
                                                                int64_t counter) = 0;
  virtual absl::StatusOr<std::optional<store::RunRows>> LoadRunOfJob(int64_t job_run_id) = 0;
  // The newest run of pipeline whose stage passed, and that stage run.
  virtual absl::StatusOr<std::optional<std::pair<store::PipelineRunRecord, store::StageRunRecord>>>
  LatestPassedStage(const std::string& pipeline, const std::string& stage) = 0;
  // Deploys of these pipelines (each with its deploy stage, "" = the run
  // passing), newest first, at most `limit` (store::Tx::Deployments).
  virtual absl::StatusOr<std::vector<store::DeploymentRecord>> Deployments(
      const std::vector<std::string>& pipelines, const std::vector<std::string>& deploy_stages,
      int64_t limit) = 0;
};

// Row ids, reserved from the database's sequences in blocks so that rows
// are created in memory and inserted in one statement at commit.
enum class IdKind { kRun, kStage, kJob };
class IdSource {
 public:
  virtual ~IdSource() = default;
  virtual absl::StatusOr<int64_t> Next(IdKind kind) = 0;
};

}  // namespace gantry
