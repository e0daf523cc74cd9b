// What is deployed where: `env list` and `env history`. Reads, open to any
// caller, each counting only the pipelines the caller may view, so a deploy
// of a pipeline they cannot see is neither shown nor taken for "deployed now".
#include "controller/rpc/operator_service.h"

namespace gantry::rpc {
namespace {

MayViewPipeline ViewerOf(std::shared_ptr<const config::Config> config, Principal who) {
  return [config = std::move(config), who = std::move(who)](const std::string& pipeline) {
    return Authorizer::MayView(*config, who, pipeline);
  };
}

}  // namespace

grpc::ServerUnaryReactor* OperatorService::ListDeployedEnvironments(
    grpc::CallbackServerContext* ctx, const v1::ListDeployedEnvironmentsRequest*,
    v1::ListDeployedEnvironmentsResponse* resp) {
  return Unary(ctx, resp, {"", "environments", Anyone()}, [&](const Principal& who, auto done) {
    reads_->ListDeployedEnvironments(ViewerOf(authz_->current(), who), std::move(done));
  });
}

grpc::ServerUnaryReactor* OperatorService::EnvironmentHistory(
    grpc::CallbackServerContext* ctx, const v1::EnvironmentHistoryRequest* req,
    v1::EnvironmentHistoryResponse* resp) {
  return Unary(ctx, resp, {"", absl::StrCat("environment/", req->name()), Anyone()},
               [&](const Principal& who, auto done) {
                 reads_->EnvironmentHistory(*req, ViewerOf(authz_->current(), who),
                                            std::move(done));
               });
}

}  // namespace gantry::rpc
