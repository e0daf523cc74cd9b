// The operator API as the bench uses it: apply a config, trigger runs
// (blocking or with a callback), read a run.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gantry/v1/agent.pb.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::bench {

class Operator {
 public:
  Operator(const std::string& address, std::string token);

  absl::StatusOr<v1::ApplyConfigResponse> ApplyConfig(const std::string& yaml);
  // Trigger with one variable BENCH_ID=`bench_id` (how agents tell runs apart).
  absl::StatusOr<v1::PipelineRun> Trigger(const std::string& pipeline, int64_t bench_id);
  // The same, without blocking: `done` runs on a gRPC thread.
  void TriggerAsync(const std::string& pipeline, int64_t bench_id,
                    std::function<void(absl::StatusOr<v1::PipelineRun>)> done);
  absl::StatusOr<v1::PipelineRun> GetRun(const std::string& pipeline, int64_t counter);

 private:
  v1::TriggerPipelineRequest TriggerRequest(const std::string& pipeline, int64_t bench_id);
  void Authorize(grpc::ClientContext* ctx);

  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::OperatorService::Stub> stub_;
};

// The BENCH_ID variable of an assignment (-1 if absent).
int64_t BenchIdOf(const v1::Assign& assign);

}  // namespace gantry::bench
