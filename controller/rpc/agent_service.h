// gRPC adapter for the agent protocol: Register (unary), the artifact
// streams (artifact_streams.h) and Session (one
// bidirectional stream per agent). A session reactor keeps one read and one
// write in flight, queues outgoing messages, and forwards everything it reads
// to the scheduler's strand.
#pragma once

#include <memory>

#include "controller/artifacts/artifact_service.h"
#include "controller/leader/leader_lease.h"
#include "controller/scheduling/scheduler.h"
#include "controller/tls/agent_certificates.h"
#include "gantry/v1/agent.grpc.pb.h"

namespace gantry::rpc {

class AgentService final : public v1::AgentService::CallbackService {
 public:
  // `certs`: null when the controller serves plaintext (--insecure); then
  // an agent is known by its token alone.
  // `lease`: null when there is no lease to hold (tests); otherwise a
  // standby refuses every call with UNAVAILABLE "not the leader (leader at
  // ADDR)", so agents go to the leader.
  AgentService(Scheduler* scheduler, ArtifactService* artifacts,
               AgentCertificates* certs = nullptr, const LeaderLease* lease = nullptr);

  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* ctx,
                                     const v1::RegisterRequest* req,
                                     v1::RegisterResponse* resp) override;
  grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* Session(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerReadReactor<v1::UploadArtifactRequest>* UploadArtifact(
      grpc::CallbackServerContext* ctx, v1::UploadArtifactResponse* resp) override;
  grpc::ServerWriteReactor<v1::ArtifactStreamChunk>* DownloadArtifact(
      grpc::CallbackServerContext* ctx, const v1::DownloadArtifactRequest* req) override;

  // The open sessions by agent id, so a revocation ends them.
  struct LiveSessions;

 private:
  Scheduler* scheduler_;
  ArtifactService* artifacts_;
  AgentCertificates* certs_;
  const LeaderLease* lease_;
  std::shared_ptr<LiveSessions> live_;
};

}  // namespace gantry::rpc
