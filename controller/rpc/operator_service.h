// gRPC adapter for the operator API: authenticates the bearer token, checks
// what the caller may do (controller/authz.h), hands the request to the
// scheduler (writes), the read service (queries) or the identity service
// (tokens, audit), finishes the call from their callback, and records each
// action in the audit log. No SQL on gRPC threads.
#pragma once

#include "common/grpc_status.h"
#include "controller/artifacts/artifact_service.h"
#include "controller/audit/audit_log.h"
#include "controller/auth.h"
#include "controller/authz.h"
#include "controller/executor.h"
#include "controller/identity_service.h"
#include "controller/leader/leader_lease.h"
#include "controller/read_service.h"
#include "controller/scheduling/scheduler.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry {
class MaterialPoller;     // controller/materials/material_poller.h
class AgentCertificates;  // controller/tls/agent_certificates.h
class ConfigRepoPoller;   // controller/config_repo/config_repo_poller.h
}

namespace gantry::rpc {

class OperatorService final : public v1::OperatorService::CallbackService {
 public:
  struct Deps {
    Scheduler* scheduler;
    ReadService* reads;
    ArtifactService* artifacts;
    IdentityService* identity;
    const TokenRegistry* tokens;
    const Authorizer* authz;
    AuditLog* audit;
    MaterialPoller* materials = nullptr;  // git materials; null: notify is refused
    // Revoked when an agent is disabled or deleted; null without TLS.
    AgentCertificates* agent_certs = nullptr;
    // Config repositories; null: `config repo status` is refused.
    ConfigRepoPoller* config_repos = nullptr;
    // The leader lease; null: this controller always leads (tests). A
    // standby answers reads and refuses the rest (docs/operations.md).
    const LeaderLease* lease = nullptr;
  };
  explicit OperatorService(Deps deps)
      : scheduler_(deps.scheduler),
        reads_(deps.reads),
        artifacts_(deps.artifacts),
        identity_(deps.identity),
        tokens_(deps.tokens),
        authz_(deps.authz),
        audit_(deps.audit),
        materials_(deps.materials),
        agent_certs_(deps.agent_certs),
        config_repos_(deps.config_repos),
        lease_(deps.lease) {}

  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* ctx, const v1::WhoAmIRequest* req,
                                   v1::WhoAmIResponse* resp) override;
  grpc::ServerUnaryReactor* CreateToken(grpc::CallbackServerContext* ctx,
                                        const v1::CreateTokenRequest* req,
                                        v1::CreateTokenResponse* resp) override;
  grpc::ServerUnaryReactor* ListTokens(grpc::CallbackServerContext* ctx,
                                       const v1::ListTokensRequest* req,
                                       v1::ListTokensResponse* resp) override;
  grpc::ServerUnaryReactor* RevokeToken(grpc::CallbackServerContext* ctx,
                                        const v1::RevokeTokenRequest* req,
                                        v1::Token* resp) override;
  grpc::ServerUnaryReactor* ListAudit(grpc::CallbackServerContext* ctx,
                                      const v1::ListAuditRequest* req,
                                      v1::ListAuditResponse* resp) override;
  grpc::ServerUnaryReactor* ApplyConfig(grpc::CallbackServerContext* ctx,
                                        const v1::ApplyConfigRequest* req,
                                        v1::ApplyConfigResponse* resp) override;
  grpc::ServerUnaryReactor* ShowConfig(grpc::CallbackServerContext* ctx,
                                       const v1::ShowConfigRequest* req,
                                       v1::ShowConfigResponse* resp) override;
  grpc::ServerUnaryReactor* ListPipelines(grpc::CallbackServerContext* ctx,
                                          const v1::ListPipelinesRequest* req,
                                          v1::ListPipelinesResponse* resp) override;
  grpc::ServerUnaryReactor* TriggerPipeline(grpc::CallbackServerContext* ctx,
                                            const v1::TriggerPipelineRequest* req,
                                            v1::PipelineRun* resp) override;
  grpc::ServerUnaryReactor* PipelineHistory(grpc::CallbackServerContext* ctx,
                                            const v1::PipelineHistoryRequest* req,
                                            v1::PipelineHistoryResponse* resp) override;
  grpc::ServerUnaryReactor* GetPipelineRun(grpc::CallbackServerContext* ctx,
                                           const v1::GetPipelineRunRequest* req,
                                           v1::PipelineRun* resp) override;
  // `pipeline vsm` (operator_vsm.cc).
  grpc::ServerUnaryReactor* GetPipelineVsm(grpc::CallbackServerContext* ctx,
                                           const v1::GetPipelineRunRequest* req,
                                           v1::PipelineVsm* resp) override;
  grpc::ServerUnaryReactor* GetEnvironment(grpc::CallbackServerContext* ctx,
                                           const v1::GetEnvironmentRequest* req,
                                           v1::EnvironmentView* resp) override;
  // Pause and locks (operator_controls.cc).
  grpc::ServerUnaryReactor* PausePipeline(grpc::CallbackServerContext* ctx,
                                          const v1::PausePipelineRequest* req,
                                          v1::PipelineControls* resp) override;
  grpc::ServerUnaryReactor* UnpausePipeline(grpc::CallbackServerContext* ctx,
                                            const v1::PipelineRequest* req,
                                            v1::PipelineControls* resp) override;
  grpc::ServerUnaryReactor* UnlockPipeline(grpc::CallbackServerContext* ctx,
                                           const v1::PipelineRequest* req,
                                           v1::PipelineControls* resp) override;
  grpc::ServerUnaryReactor* ApproveStage(grpc::CallbackServerContext* ctx,
                                         const v1::StageRequest* req,
                                         v1::PipelineRun* resp) override;
  grpc::ServerUnaryReactor* CancelStage(grpc::CallbackServerContext* ctx,
                                        const v1::StageRequest* req,
                                        v1::PipelineRun* resp) override;
  grpc::ServerUnaryReactor* RerunConfigDifference(grpc::CallbackServerContext* ctx,
                                                  const v1::StageRequest* req,
                                                  v1::RerunConfigDifferenceResponse* resp) override;
  grpc::ServerUnaryReactor* RerunStage(grpc::CallbackServerContext* ctx,
                                       const v1::StageRequest* req,
                                       v1::PipelineRun* resp) override;  // operator_rerun.cc
  // operator_materials.cc
  grpc::ServerUnaryReactor* NotifyMaterial(grpc::CallbackServerContext* ctx,
                                           const v1::NotifyMaterialRequest* req,
                                           v1::NotifyMaterialResponse* resp) override;
  // operator_rollback.cc
  grpc::ServerUnaryReactor* Rollback(grpc::CallbackServerContext* ctx,
                                     const v1::RollbackRequest* req,
                                     v1::RollbackResponse* resp) override;
  grpc::ServerUnaryReactor* ListBadVersions(grpc::CallbackServerContext* ctx,
                                            const v1::ListBadVersionsRequest* req,
                                            v1::ListBadVersionsResponse* resp) override;
  grpc::ServerUnaryReactor* ClearBadVersion(grpc::CallbackServerContext* ctx,
                                            const v1::ClearBadVersionRequest* req,
                                            v1::ListBadVersionsResponse* resp) override;
  grpc::ServerUnaryReactor* EncryptSecret(grpc::CallbackServerContext* ctx,
                                          const v1::EncryptSecretRequest* req,
                                          v1::EncryptSecretResponse* resp) override;  // operator_secrets.cc
  grpc::ServerUnaryReactor* RotateCipherKey(grpc::CallbackServerContext* ctx,
                                            const v1::RotateCipherKeyRequest* req,
                                            v1::RotateCipherKeyResponse* resp) override;
  grpc::ServerUnaryReactor* GetJobLog(grpc::CallbackServerContext* ctx,
                                      const v1::GetJobLogRequest* req,
                                      v1::GetJobLogResponse* resp) override;
  grpc::ServerUnaryReactor* ListArtifacts(grpc::CallbackServerContext* ctx,
                                          const v1::ArtifactRequest* req,
                                          v1::ListArtifactsResponse* resp) override;
  grpc::ServerWriteReactor<v1::ArtifactStreamChunk>* GetArtifact(
      grpc::CallbackServerContext* ctx, const v1::ArtifactRequest* req) override;
  grpc::ServerUnaryReactor* ListAgents(grpc::CallbackServerContext* ctx,
                                       const v1::ListAgentsRequest* req,
                                       v1::ListAgentsResponse* resp) override;
  grpc::ServerUnaryReactor* UpdateAgent(grpc::CallbackServerContext* ctx,
                                        const v1::UpdateAgentRequest* req,
                                        v1::Agent* resp) override;
  // Agent admission (operator_agents.cc).
  grpc::ServerUnaryReactor* SetAgent(grpc::CallbackServerContext* ctx,
                                     const v1::SetAgentRequest* req, v1::Agent* resp) override;
  grpc::ServerUnaryReactor* DeleteAgent(grpc::CallbackServerContext* ctx,
                                        const v1::DeleteAgentRequest* req,
                                        v1::Agent* resp) override;
  grpc::ServerUnaryReactor* CreateAgentKey(grpc::CallbackServerContext* ctx,
                                           const v1::CreateAgentKeyRequest* req,
                                           v1::CreateAgentKeyResponse* resp) override;
  grpc::ServerUnaryReactor* ListAgentKeys(grpc::CallbackServerContext* ctx,
                                          const v1::ListAgentKeysRequest* req,
                                          v1::ListAgentKeysResponse* resp) override;
  grpc::ServerUnaryReactor* RevokeAgentKey(grpc::CallbackServerContext* ctx,
                                           const v1::RevokeAgentKeyRequest* req,
                                           v1::AgentKey* resp) override;
  // What is deployed where (operator_deployments.cc).
  grpc::ServerUnaryReactor* ListDeployedEnvironments(
      grpc::CallbackServerContext* ctx, const v1::ListDeployedEnvironmentsRequest* req,
      v1::ListDeployedEnvironmentsResponse* resp) override;
  grpc::ServerUnaryReactor* EnvironmentHistory(grpc::CallbackServerContext* ctx,
                                               const v1::EnvironmentHistoryRequest* req,
                                               v1::EnvironmentHistoryResponse* resp) override;
  // operator_config_repos.cc
  grpc::ServerUnaryReactor* ConfigRepoStatus(grpc::CallbackServerContext* ctx,
                                             const v1::ConfigRepoStatusRequest* req,
                                             v1::ConfigRepoStatusResponse* resp) override;
  // operator_leader.cc: no token needed.
  grpc::ServerUnaryReactor* GetLeader(grpc::CallbackServerContext* ctx,
                                      const v1::GetLeaderRequest* req,
                                      v1::LeaderInfo* resp) override;

 private:
  // What a call does, for the permission check and the audit log.
  struct Action {
    // The audit log's verb ("stage.approve"); "" for a read, which is
    // logged only when refused.
    std::string verb;
    std::string target;
    // OK, or PERMISSION_DENIED with a one-line reason.
    std::function<absl::Status(const Principal&)> check;
    // What the caller said about it (an approval's comment): the audit row's
    // reason when the action holds.
    std::string note = "";
    // A read only the leader can answer (from the scheduler's memory).
    bool leader_only = false;
  };

  // Every unary call has one shape: authenticate, check, then hand the
  // request to a handler (scheduler, read service...) with a Reply that
  // fills `response`, finishes the call and records the outcome.
  // `handle(principal, reply)` does the handing over.
  template <typename Response, typename Handle>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, Response* response,
                                  Action action, Handle&& handle) {
    auto* reactor = ctx->DefaultReactor();
    auto who = Admit(ctx, action);
    if (!who.ok()) {
      reactor->Finish(ToGrpcStatus(who.status()));
      return reactor;
    }
    handle(*who, Finisher(reactor, response, Recorder(*who, std::move(action))));
    return reactor;
  }
  // Records a call's outcome in the audit log (a no-op for a read).
  using Record = std::function<void(const absl::Status&)>;
  Record Recorder(const Principal& who, Action action);
  // A Reply that copies the result into the response, records the outcome
  // and finishes the call.
  template <typename T>
  static Reply<T> Finisher(grpc::ServerUnaryReactor* reactor, T* response, Record record) {
    return [reactor, response, record = std::move(record)](absl::StatusOr<T> result) {
      record(result.status());
      if (!result.ok()) {
        reactor->Finish(ToGrpcStatus(result.status()));
        return;
      }
      *response = std::move(*result);
      reactor->Finish(grpc::Status::OK);
    };
  }
  // The caller, admitted for `action`; or UNAUTHENTICATED / PERMISSION_DENIED
  // (recorded in the audit log) to finish the call with.
  absl::StatusOr<Principal> Admit(grpc::CallbackServerContext* ctx, const Action& action);
  // The caller, or the UNAUTHENTICATED status to finish the call with.
  absl::StatusOr<Principal> Caller(grpc::CallbackServerContext* ctx) const;
  void Audit(const Principal* who, const std::string& source, const Action& action,
             const absl::Status& outcome);

  // Checks for Action::check.
  std::function<absl::Status(const Principal&)> Anyone() const;
  std::function<absl::Status(const Principal&)> Admins(std::string what) const;
  std::function<absl::Status(const Principal&)> Viewers(std::string pipeline) const;
  std::function<absl::Status(const Principal&)> Operators(std::string pipeline) const;
  // Operators, narrowed by the pipeline's `triggerers`.
  std::function<absl::Status(const Principal&)> Triggerers(std::string pipeline) const;

  Scheduler* scheduler_;
  ReadService* reads_;
  ArtifactService* artifacts_;
  IdentityService* identity_;
  const TokenRegistry* tokens_;
  const Authorizer* authz_;
  AuditLog* audit_;
  MaterialPoller* materials_;
  AgentCertificates* agent_certs_;
  ConfigRepoPoller* config_repos_;
  const LeaderLease* lease_;
  // `done` of an agent approve/enable/disable: disabling revokes the agent's
  // certificates, enabling reinstates them (operator_agents.cc).
  Reply<v1::Agent> RevokingOnDisable(const std::string& action, Reply<v1::Agent> done) const;
  // Parses configs before apply, one at a time: concurrent applies of large
  // configs never hold more than one parse's memory (docs/config.md, Limits).
  // The server's shutdown waits for calls in flight, so no task outlives it.
  WorkerPool config_checks_{1};
};

}  // namespace gantry::rpc
