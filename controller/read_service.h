// Read-only operator queries (history, run details, logs, config), served
// from a small pool of threads with their own database connections so they
// never queue behind the scheduler's writes.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "controller/config_cache.h"
#include "controller/db_pool.h"
#include "controller/deployments_view.h"
#include "controller/scheduling/scheduler.h"
#include "controller/store/db.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

class ReadService {
 public:
  ReadService(std::vector<std::unique_ptr<store::Db>> connections, ConfigCache* configs);
  ~ReadService();

  void ListPipelines(Reply<v1::ListPipelinesResponse> done);
  void History(v1::PipelineHistoryRequest request, Reply<v1::PipelineHistoryResponse> done);
  void GetPipelineRun(v1::GetPipelineRunRequest request, Reply<v1::PipelineRun> done);
  // The runs that fed a run and those it fed (controller/vsm_view.h).
  void GetPipelineVsm(v1::GetPipelineRunRequest request, Reply<v1::PipelineVsm> done);
  void RerunConfigDifference(v1::StageRequest request,
                             Reply<v1::RerunConfigDifferenceResponse> done);
  void GetJobLog(v1::GetJobLogRequest request, Reply<v1::GetJobLogResponse> done);
  void ShowConfig(v1::ShowConfigRequest request, Reply<v1::ShowConfigResponse> done);
  // An environment of the current config and its deploy lock (`env show`).
  void GetEnvironment(v1::GetEnvironmentRequest request, Reply<v1::EnvironmentView> done);
  // What is deployed where (deployments_view.h), counting only the pipelines
  // `may_view` lets the caller see: `env list` and `env history`.
  void ListDeployedEnvironments(MayViewPipeline may_view,
                                Reply<v1::ListDeployedEnvironmentsResponse> done);
  void EnvironmentHistory(v1::EnvironmentHistoryRequest request, MayViewPipeline may_view,
                          Reply<v1::EnvironmentHistoryResponse> done);
  // Versions marked bad by rollbacks (read_bad_versions.cc), of pipelines
  // the caller may view.
  void ListBadVersions(v1::ListBadVersionsRequest request, MayViewPipeline may_view,
                       Reply<v1::ListBadVersionsResponse> done);

  void Stop();

 private:
  // Runs `fn` on a pool thread with a free connection.
  void WithDb(std::function<void(store::Db&)> fn);
  absl::Status CheckPipelineKnown(store::Tx& tx, const std::string& pipeline);

  ConfigCache* configs_;
  DbPool pool_;
};

}  // namespace gantry
