// The operator API's agent admission calls (docs/security.md, "Agent
// admission"): assignments, deletion and scoped register keys. Admins only;
// each is one audit row.
#include "absl/strings/str_cat.h"
#include "controller/rpc/operator_service.h"

namespace gantry::rpc {

grpc::ServerUnaryReactor* OperatorService::SetAgent(grpc::CallbackServerContext* ctx,
                                                    const v1::SetAgentRequest* req,
                                                    v1::Agent* resp) {
  return Unary(ctx, resp,
               {"agent.set", absl::StrCat("agent:", req->agent()), Admins("assign agents")},
               [&](const Principal&, auto done) { scheduler_->SetAgent(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::DeleteAgent(grpc::CallbackServerContext* ctx,
                                                       const v1::DeleteAgentRequest* req,
                                                       v1::Agent* resp) {
  return Unary(ctx, resp,
               {"agent.delete", absl::StrCat("agent:", req->agent()), Admins("delete agents")},
               [&](const Principal& who, auto done) {
                 scheduler_->DeleteAgent(*req, who, std::move(done));
               });
}

grpc::ServerUnaryReactor* OperatorService::CreateAgentKey(grpc::CallbackServerContext* ctx,
                                                          const v1::CreateAgentKeyRequest* req,
                                                          v1::CreateAgentKeyResponse* resp) {
  return Unary(
      ctx, resp,
      {"agent-key.create", absl::StrCat("agent-key:", req->name()), Admins("create register keys")},
      [&](const Principal& who, auto done) {
        scheduler_->CreateAgentKey(*req, who, std::move(done));
      });
}

grpc::ServerUnaryReactor* OperatorService::ListAgentKeys(grpc::CallbackServerContext* ctx,
                                                         const v1::ListAgentKeysRequest* req,
                                                         v1::ListAgentKeysResponse* resp) {
  return Unary(
      ctx, resp, {"", "agent-keys", Admins("list register keys")},
      [&](const Principal&, auto done) { scheduler_->ListAgentKeys(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::RevokeAgentKey(grpc::CallbackServerContext* ctx,
                                                          const v1::RevokeAgentKeyRequest* req,
                                                          v1::AgentKey* resp) {
  return Unary(
      ctx, resp,
      {"agent-key.revoke", absl::StrCat("agent-key:", req->key()), Admins("revoke register keys")},
      [&](const Principal& who, auto done) {
        scheduler_->RevokeAgentKey(*req, who, std::move(done));
      });
}

}  // namespace gantry::rpc
