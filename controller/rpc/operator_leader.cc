// GetLeader: which controller leads, answered without a token so a client
// given several addresses can find the leader first (docs/cli.md).
#include "controller/rpc/operator_service.h"

namespace gantry::rpc {

grpc::ServerUnaryReactor* OperatorService::GetLeader(grpc::CallbackServerContext* ctx,
                                                     const v1::GetLeaderRequest*,
                                                     v1::LeaderInfo* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (lease_ != nullptr) {
    *resp = lease_->Info();
  } else {
    resp->set_leader(true);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace gantry::rpc
