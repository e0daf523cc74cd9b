// gRPC adapter for the operator API: authenticates the bearer token, hands
// the request to the scheduler (writes) or the read service (queries), and
// finishes the call from their callback. No SQL on gRPC threads.
#pragma once

#include "common/grpc_status.h"
#include "controller/artifacts/artifact_service.h"
#include "controller/auth.h"
#include "controller/executor.h"
#include "controller/read_service.h"
#include "controller/scheduling/scheduler.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::rpc {

class OperatorService final : public v1::OperatorService::CallbackService {
 public:
  OperatorService(Scheduler* scheduler, ReadService* reads, ArtifactService* artifacts,
                  const TokenRegistry* tokens)
      : scheduler_(scheduler), reads_(reads), artifacts_(artifacts), tokens_(tokens) {}

  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* ctx, const v1::WhoAmIRequest* req,
                                   v1::WhoAmIResponse* resp) override;
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
  grpc::ServerUnaryReactor* ApproveStage(grpc::CallbackServerContext* ctx,
                                         const v1::StageRequest* req,
                                         v1::PipelineRun* resp) override;
  grpc::ServerUnaryReactor* CancelStage(grpc::CallbackServerContext* ctx,
                                        const v1::StageRequest* req,
                                        v1::PipelineRun* resp) override;
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

 private:
  // Every unary call has one shape: authenticate, then hand the request to a
  // handler (scheduler, read service) with a Reply that fills `response` and
  // finishes the call. `handle(principal, reply)` does the handing over.
  template <typename Response, typename Handle>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, Response* response,
                                  Handle&& handle) {
    auto* reactor = ctx->DefaultReactor();
    if (auto who = Authenticate(ctx, reactor)) handle(*who, Finisher(reactor, response));
    return reactor;
  }
  // A Reply that copies the result into the response and finishes the call.
  template <typename T>
  static Reply<T> Finisher(grpc::ServerUnaryReactor* reactor, T* response) {
    return [reactor, response](absl::StatusOr<T> result) {
      if (!result.ok()) {
        reactor->Finish(ToGrpcStatus(result.status()));
        return;
      }
      *response = std::move(*result);
      reactor->Finish(grpc::Status::OK);
    };
  }
  // The caller, or nullopt after finishing the call with UNAUTHENTICATED.
  std::optional<Principal> Authenticate(grpc::CallbackServerContext* ctx,
                                        grpc::ServerUnaryReactor* reactor);
  // The caller, or the UNAUTHENTICATED status to finish the call with.
  absl::StatusOr<Principal> Caller(grpc::CallbackServerContext* ctx) const;

  Scheduler* scheduler_;
  ReadService* reads_;
  ArtifactService* artifacts_;
  const TokenRegistry* tokens_;
  // Parses configs before apply, one at a time: concurrent applies of large
  // configs never hold more than one parse's memory (docs/config.md, Limits).
  // The server's shutdown waits for calls in flight, so no task outlives it.
  WorkerPool config_checks_{1};
};

}  // namespace gantry::rpc
