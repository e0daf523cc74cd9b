// The operator API's agent admission calls (docs/security.md, "Agent
// admission"): assignments, deletion and scoped register keys. Admins only;
// each is one audit row.
#include "absl/strings/str_cat.h"
#include "controller/rpc/operator_service.h"
#include "controller/tls/agent_certificates.h"

namespace gantry::rpc {

Reply<v1::Agent> OperatorService::RevokingOnDisable(const std::string& action,
                                                    Reply<v1::Agent> done) const {
  if (agent_certs_ == nullptr) return done;
  return [certs = agent_certs_, action, done = std::move(done)](absl::StatusOr<v1::Agent> a) {
    if (a.ok() && action == "disable") certs->Revoke(a->id(), "agent disabled");
    if (a.ok() && action == "enable") certs->Reinstate(a->id());
    done(std::move(a));
  };
}

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
  return Unary(
      ctx, resp, {"agent.delete", absl::StrCat("agent:", req->agent()), Admins("delete agents")},
      [&](const Principal& who, auto done) {
        // A deleted agent's certificate is revoked for good.
        scheduler_->DeleteAgent(
            *req, who, [certs = agent_certs_, done = std::move(done)](absl::StatusOr<v1::Agent> a) {
              if (a.ok() && certs != nullptr) certs->Revoke(a->id(), "agent deleted");
              done(std::move(a));
            });
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
      ctx, resp, {"", "agent-keys", Admins("list register keys"), "", true},
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
