// `pipeline vsm`: a read, so not audited; the caller needs view on the
// pipeline asked about.
#include "absl/strings/str_cat.h"
#include "controller/rpc/operator_service.h"

namespace gantry::rpc {

grpc::ServerUnaryReactor* OperatorService::GetPipelineVsm(grpc::CallbackServerContext* ctx,
                                                          const v1::GetPipelineRunRequest* req,
                                                          v1::PipelineVsm* resp) {
  return Unary(ctx, resp,
               {"", absl::StrCat(req->pipeline(), "/", req->counter()), Viewers(req->pipeline())},
               [&](const Principal&, auto done) { reads_->GetPipelineVsm(*req, std::move(done)); });
}

}  // namespace gantry::rpc
