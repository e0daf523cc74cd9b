// Pause, unpause and unlock: each needs operate on the pipeline (GoCD asks
// the same), is recorded in the audit log (pipeline.pause,
// pipeline.unpause, pipeline.unlock; the reason is on the pipeline) and is
// decided on the scheduler's strand.
#include "controller/rpc/operator_service.h"

namespace gantry::rpc {

grpc::ServerUnaryReactor* OperatorService::PausePipeline(grpc::CallbackServerContext* ctx,
                                                         const v1::PausePipelineRequest* req,
                                                         v1::PipelineControls* resp) {
  return Unary(
      ctx, resp, {"pipeline.pause", req->pipeline(), Operators(req->pipeline()), req->reason()},
      [&](const Principal& who, auto done) { scheduler_->Pause(*req, who, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::UnpausePipeline(grpc::CallbackServerContext* ctx,
                                                           const v1::PipelineRequest* req,
                                                           v1::PipelineControls* resp) {
  return Unary(
      ctx, resp, {"pipeline.unpause", req->pipeline(), Operators(req->pipeline())},
      [&](const Principal& who, auto done) { scheduler_->Unpause(*req, who, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::UnlockPipeline(grpc::CallbackServerContext* ctx,
                                                          const v1::PipelineRequest* req,
                                                          v1::PipelineControls* resp) {
  return Unary(
      ctx, resp, {"pipeline.unlock", req->pipeline(), Operators(req->pipeline())},
      [&](const Principal& who, auto done) { scheduler_->Unlock(*req, who, std::move(done)); });
}

}  // namespace gantry::rpc
