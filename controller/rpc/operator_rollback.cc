// `gantry rollback` and `gantry version list/clear`: a rollback and a clear
// need deploy permission on the environment (and operate on the run named
// with --to), are recorded in the audit log with their reason, and are
// decided on the scheduler's strand. The list is a read open to any caller,
// filtered to the pipelines they may view.
#include "absl/strings/str_cat.h"
#include "controller/rpc/operator_service.h"

namespace gantry::rpc {

grpc::ServerUnaryReactor* OperatorService::Rollback(grpc::CallbackServerContext* ctx,
                                                    const v1::RollbackRequest* req,
                                                    v1::RollbackResponse* resp) {
  std::string target = absl::StrCat("environment/", req->environment());
  if (!req->to_pipeline().empty()) {
    absl::StrAppend(&target, " to ", req->to_pipeline(), "/", req->to_counter());
  }
  auto check = [this, env = req->environment(), to = req->to_pipeline()](const Principal& who) {
    absl::Status st = authz_->CheckDeploy(who, env);
    if (st.ok() && !to.empty()) st = authz_->CheckOperate(who, to);
    return st;
  };
  return Unary(
      ctx, resp, {"environment.rollback", target, check, req->reason()},
      [&](const Principal& who, auto done) { scheduler_->Rollback(*req, who, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::ListBadVersions(grpc::CallbackServerContext* ctx,
                                                           const v1::ListBadVersionsRequest* req,
                                                           v1::ListBadVersionsResponse* resp) {
  return Unary(ctx, resp, {"", "bad-versions", Anyone()}, [&](const Principal& who, auto done) {
    auto config = authz_->current();
    reads_->ListBadVersions(
        *req,
        [config, who](const std::string& pipeline) {
          return Authorizer::MayView(*config, who, pipeline);
        },
        std::move(done));
  });
}

grpc::ServerUnaryReactor* OperatorService::ClearBadVersion(grpc::CallbackServerContext* ctx,
                                                           const v1::ClearBadVersionRequest* req,
                                                           v1::ListBadVersionsResponse* resp) {
  std::string target =
      absl::StrCat("environment/", req->environment(), " ", req->pipeline(), "/", req->counter());
  auto check = [this, env = req->environment()](const Principal& who) {
    return authz_->CheckDeploy(who, env);
  };
  return Unary(ctx, resp, {"version.clear", target, check, req->reason()},
               [&](const Principal& who, auto done) {
                 scheduler_->ClearBadVersion(*req, who, std::move(done));
               });
}

}  // namespace gantry::rpc
