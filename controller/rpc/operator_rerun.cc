// `gantry stage rerun`: needs operate on the pipeline, is recorded in the
// audit log (stage.rerun) and is decided on the scheduler's strand.
#include "absl/strings/str_cat.h"
#include "controller/rpc/operator_service.h"

namespace gantry::rpc {

grpc::ServerUnaryReactor* OperatorService::RerunStage(grpc::CallbackServerContext* ctx,
                                                      const v1::StageRequest* req,
                                                      v1::PipelineRun* resp) {
  std::string target = absl::StrCat(req->pipeline(), "/", req->counter(), "/", req->stage());
  return Unary(
      ctx, resp, {"stage.rerun", target, Operators(req->pipeline())},
      [&](const Principal& who, auto done) { scheduler_->RerunStage(*req, who, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::RerunConfigDifference(
    grpc::CallbackServerContext* ctx, const v1::StageRequest* req,
    v1::RerunConfigDifferenceResponse* resp) {
  std::string target = absl::StrCat(req->pipeline(), "/", req->counter(), "/", req->stage());
  return Unary(ctx, resp, {"", target, Viewers(req->pipeline())},
               [&](const Principal&, auto done) {
                 reads_->RerunConfigDifference(*req, std::move(done));
               });
}

}  // namespace gantry::rpc
